"""The one guard for calls to user-supplied URLs (agent endpoints and cards, workflow HTTP steps, fetch_url).

A URL is checked twice: when it is saved (`outbound_url_check`, a 400 naming the field) and when it is
called. At call time the HTTP clients of this module (`outbound_async_client`, `outbound_client`)
resolve the host once, refuse the connection when any resolved address is not public, and connect
to the address they checked (the pinned address; TLS still verifies the host name). Redirects are
checked the same way, because every hop opens its connection through the same guard.

Refused: schemes other than http(s), user info in the URL, IP addresses spelled in decimal, octal
or hex (`2130706433`, `0177.0.0.1`, `0x7f.1`), and any address that is not globally routable:
loopback, private, link-local, CGNAT, multicast, reserved, unspecified, and IPv6 forms that embed
an IPv4 address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) when the embedded one is not
public. `ALLOWED_PRIVATE_NETWORKS` (CIDRs) names ranges that are allowed anyway.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpcore
import httpx
from django.conf import settings

from .errors import PayloadTooLarge, ValidationError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
# Special-purpose ranges that some Python versions count as global (IANA special-purpose registry).
_ALSO_BLOCKED = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "240.0.0.0/4", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10",
))
# Host labels that look numeric: a browser or libc would read them as an IP address.
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class OutboundUrlRefused(ValidationError):
    """A user-supplied URL points somewhere Nexus does not call (400 naming the field)."""

    default_message = "This URL is not allowed."


def _refuse(reason: str, field: str) -> OutboundUrlRefused:
    return OutboundUrlRefused(f"{field}: {reason}", details={field: [reason]})


def allowed_private_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The ranges of ALLOWED_PRIVATE_NETWORKS (comma-separated CIDRs, empty by default)."""
    raw: Any = getattr(settings, "ALLOWED_PRIVATE_NETWORKS", ())
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if str(item).strip()]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    packed = ip.packed
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(packed[-4:])
    if packed[:12] == bytes(12) and int(ip) > 1:  # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks)
        return ipaddress.IPv4Address(packed[-4:])
    return None


def address_is_public(ip: IpAddress) -> bool:
    """True when `ip` is globally routable unicast (and any IPv4 address it embeds is too)."""
    if ip.is_multicast or ip.is_unspecified or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_private:
        return False
    if not ip.is_global or any(ip.version == net.version and ip in net for net in _ALSO_BLOCKED):
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not address_is_public(embedded):
            return False
        if ip in _SIX_TO_FOUR or any(ip in net for net in _NAT64):
            # Translated addresses reach an IPv4 network we cannot see the rules of: never call them.
            return embedded is not None and address_is_public(embedded)
    return True


def address_allowed(ip: IpAddress) -> bool:
    """A public address, or one inside ALLOWED_PRIVATE_NETWORKS."""
    if address_is_public(ip):
        return True
    candidates: list[IpAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    return any(c.version == net.version and c in net for c in candidates for net in allowed_private_networks())


def _literal_ip(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0] if ":" in host else host)
    except ValueError:
        return None


def _host_of(url: str, field: str) -> tuple[str, int, str]:
    """(host, port, scheme) of a URL that passes the syntax rules, else OutboundUrlRefused."""
    if not isinstance(url, str) or not url.strip():
        raise _refuse("Enter a URL.", field)
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url) or "\\" in url:
        raise _refuse("The URL contains whitespace, control characters or backslashes.", field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refuse(f"Not a valid URL ({exc}).", field) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse("Only http and https URLs are allowed.", field)
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise _refuse("URLs with user information (user@host) are not allowed.", field)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _refuse("The URL has no host.", field)
    literal = _literal_ip(host)
    if literal is None:
        labels = host.split(".")
        if all(_NUMERIC_LABEL.match(label) for label in labels if label) or _NUMERIC_LABEL.match(labels[-1]):
            # 2130706433, 0177.0.0.1, 0x7f.1, 127.1: numeric spellings that resolvers turn into addresses.
            raise _refuse("IP addresses must be written in plain dotted (or IPv6) form.", field)
        try:
            host.encode("idna")
        except UnicodeError:
            raise _refuse("The host name is not valid.", field) from None
    return host, port or (443 if scheme == "https" else 80), scheme


def _check_addresses(host: str, addresses: Iterable[str], field: str) -> str:
    checked: list[str] = []
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        if not address_allowed(ip):
            raise _refuse(f"{host} resolves to a non-public address ({ip}).", field)
        checked.append(str(ip))
    if not checked:
        raise _refuse(f"{host} does not resolve.", field)
    return checked[0]


def _resolve_sync(host: str, port: int, field: str) -> str:
    literal = _literal_ip(host)
    if literal is not None:
        return _check_addresses(host, [str(literal)], field)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise _refuse(f"{host} does not resolve.", field) from None
    return _check_addresses(host, [str(info[4][0]) for info in infos], field)


async def _resolve_async(host: str, port: int, field: str) -> str:
    literal = _literal_ip(host)
    if literal is not None:
        return _check_addresses(host, [str(literal)], field)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise _refuse(f"{host} does not resolve.", field) from None
    return _check_addresses(host, [str(info[4][0]) for info in infos], field)


def outbound_url_check(url: str, *, field: str = "url") -> str:
    """Check a URL before it is saved: syntax rules and the addresses its host resolves to now; returns the URL."""
    host, port, _ = _host_of(url, field)
    _resolve_sync(host, port, field)
    return url


# ------------------------------------------------------------------------------
# Clients that connect only to the addresses they checked
# ------------------------------------------------------------------------------
class _GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks, and connects to the checked address (never resolving a second time)."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, field: str) -> None:
        self._inner = inner
        self._field = field

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        pinned = await _resolve_async(host, port, self._field)
        return await self._inner.connect_tcp(pinned, port, timeout=timeout, local_address=local_address, socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise _refuse("Unix sockets are not allowed.", self._field)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedSyncBackend(httpcore.NetworkBackend):
    """The sync twin of _GuardedAsyncBackend."""

    def __init__(self, inner: httpcore.NetworkBackend, field: str) -> None:
        self._inner = inner
        self._field = field

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        pinned = _resolve_sync(host, port, self._field)
        return self._inner.connect_tcp(pinned, port, timeout=timeout, local_address=local_address, socket_options=socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise _refuse("Unix sockets are not allowed.", self._field)


def _check_request_url(field: str) -> Any:
    def hook(request: httpx.Request) -> None:
        _host_of(str(request.url), field)
    return hook


def _check_request_url_async(field: str) -> Any:
    async def hook(request: httpx.Request) -> None:
        _host_of(str(request.url), field)
    return hook


def outbound_async_client(*, field: str = "url", **kwargs: Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient whose every request and redirect hop passes the guard (no proxies from the environment)."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    pool = transport._pool  # httpx has no public hook for the connection backend; the pool is its own, created above
    pool._network_backend = _GuardedAsyncBackend(pool._network_backend, field)
    return httpx.AsyncClient(transport=transport, trust_env=False, event_hooks={"request": [_check_request_url_async(field)]}, **kwargs)


def outbound_client(*, field: str = "url", **kwargs: Any) -> httpx.Client:
    """The sync twin of outbound_async_client."""
    transport = httpx.HTTPTransport(retries=0)
    pool = transport._pool  # see outbound_async_client
    pool._network_backend = _GuardedSyncBackend(pool._network_backend, field)
    return httpx.Client(transport=transport, trust_env=False, event_hooks={"request": [_check_request_url(field)]}, **kwargs)


class OutboundResponseTooLarge(PayloadTooLarge):
    """A user-supplied URL answered more than the caller's cap."""

    default_message = "The response is larger than allowed."


@dataclass(frozen=True)
class OutboundResponse:
    """What a guarded call got back: status, headers, and at most `max_bytes` of body."""

    status: int
    headers: dict[str, str]
    content: bytes
    url: str
    truncated: bool = False  # the body went on past `max_bytes` (only with `truncate=True`)

    @property
    def content_type(self) -> str:
        """The media type without parameters (`application/json`)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        """The body decoded with its declared charset (UTF-8 otherwise; bad bytes replaced)."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building a TLS context loads the CA bundle (milliseconds of CPU): once per process, not per call.
    return ssl.create_default_context(cafile=certifi.where())


async def outbound_fetch(method: str, url: str, *, field: str = "url", headers: dict[str, str] | None = None,
                         body: Any = None, timeout: float = 30.0, max_bytes: int = 1_048_576,
                         max_redirects: int = 3, truncate: bool = False) -> OutboundResponse:
    """One guarded request to a user-supplied URL; the body is read up to `max_bytes` (more: OutboundResponseTooLarge).

    `body` is sent as JSON unless it is a string (sent as is). Redirects are followed (each hop guarded).
    With `truncate=True` a longer body is not an error: its first `max_bytes` come back, marked `truncated`.
    """
    content: bytes | None = None
    sent = dict(headers or {})
    if isinstance(body, str):
        content = body.encode()
    elif body is not None:
        content = json.dumps(body).encode()
        sent.setdefault("content-type", "application/json")
    async with outbound_async_client(field=field, timeout=timeout, follow_redirects=True, max_redirects=max_redirects,
                                     verify=_tls_context()) as client:
        async with client.stream(method, url, headers=sent, content=content) as response:
            declared = response.headers.get("content-length")
            if not truncate and declared and declared.isdigit() and int(declared) > max_bytes:
                raise OutboundResponseTooLarge(f"{field}: the response is {declared} bytes; at most {max_bytes} are read.")
            received = bytearray()
            truncated = False
            async for chunk in response.aiter_bytes():
                received.extend(chunk)
                if len(received) > max_bytes:
                    if not truncate:
                        raise OutboundResponseTooLarge(f"{field}: the response is larger than {max_bytes} bytes.")
                    del received[max_bytes:]
                    truncated = True
                    break
            return OutboundResponse(status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()},
                                    content=bytes(received), url=str(response.url), truncated=truncated)
