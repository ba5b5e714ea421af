"""The outbound-URL guard: a corpus of hostile URLs, DNS that changes between check and call, redirects."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from apps.core.outbound import OutboundUrlRefused, outbound_async_client, outbound_client, outbound_url_check

HOSTILE = [
    # Schemes other than http(s)
    "file:///etc/passwd", "ftp://example.com/", "gopher://example.com:70/_x", "dict://example.com:11211/", "javascript:alert(1)",
    "data:text/plain,hi", "ldap://example.com/", "jar:http://example.com!/", "//example.com/", "example.com/path", "",
    # Loopback, any spelling
    "http://127.0.0.1/", "http://127.0.0.2:8080/", "http://127.255.255.254/", "http://localhost/", "http://localhost./",
    "http://LOCALHOST:80/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://0.0.0.0/", "http://0/", "http://[::]/",
    # Decimal, octal, hex and short spellings of 127.0.0.1
    "http://2130706433/", "http://017700000001/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://0x7f000001/",
    "http://127.1/", "http://127.0.1/", "http://0x7f.1/", "http://00177.0.0.01/", "http://0177.1/",
    # Private ranges
    "http://10.0.0.1/", "http://10.255.255.255/", "http://172.16.0.1/", "http://172.31.255.254/", "http://192.168.0.1/",
    "http://192.168.1.1:8443/admin", "http://[fc00::1]/", "http://[fd12:3456:789a::1]/",
    # Link-local, cloud metadata
    "http://169.254.169.254/latest/meta-data/", "http://169.254.0.1/", "http://[fe80::1]/", "http://[fe80::1%25eth0]/",
    # CGNAT, multicast, reserved, broadcast, documentation, benchmarking
    "http://100.64.0.1/", "http://100.127.255.254/", "http://224.0.0.1/", "http://239.255.255.250/", "http://[ff02::1]/",
    "http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.2.1/", "http://198.51.100.7/", "http://203.0.113.9/",
    "http://198.18.0.1/", "http://192.0.0.8/",
    # IPv6 forms embedding IPv4
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:10.0.0.1]/", "http://[::ffff:169.254.169.254]/",
    "http://[::127.0.0.1]/", "http://[64:ff9b::127.0.0.1]/", "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::1]/",
    # User info tricks
    "http://user:pass@example.com/", "http://example.com@127.0.0.1/", "http://127.0.0.1#@example.com/",
    "http://example.com:80@10.0.0.1/", "http://@127.0.0.1/",
    # Malformed
    "http://exa mple.com/", "http://example.com\\@127.0.0.1/", "http://[::1/", "http://example.com:99999/", "http:///path",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused_at_save(url: str, settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(OutboundUrlRefused) as caught:
        outbound_url_check(url, field="endpoint")
    assert list(caught.value.details or {}) == ["endpoint"]


def test_the_corpus_is_large_enough() -> None:
    assert len(set(HOSTILE)) >= 60


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused_at_call_time(url: str, settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = []
    with outbound_client(field="endpoint", timeout=2) as client, pytest.raises((OutboundUrlRefused, httpx.UnsupportedProtocol, httpx.InvalidURL)):
        client.get(url)


def test_public_literal_addresses_pass_the_check(settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = []
    for url in ("http://93.184.216.34/", "https://8.8.8.8:8443/a?b=c", "http://[2606:4700:4700::1111]/"):
        assert outbound_url_check(url) == url


def test_allowed_private_networks_opens_only_the_named_range(settings: Any) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = ["10.1.0.0/16"]
    assert outbound_url_check("http://10.1.2.3/", field="endpoint")
    with pytest.raises(OutboundUrlRefused):
        outbound_url_check("http://10.2.0.1/", field="endpoint")
    with pytest.raises(OutboundUrlRefused):
        outbound_url_check("http://127.0.0.1/", field="endpoint")


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []
    redirect_to = ""

    def do_GET(self) -> None:  # noqa: N802  (the stdlib's name)
        type(self).hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.end_headers()
            return
        body = b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, type[_Recorder]]]:
    handler = type("Recorder", (_Recorder,), {"hits": [], "redirect_to": ""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def test_dns_that_changes_between_check_and_call_is_refused(loopback_server: Any, settings: Any, monkeypatch: Any) -> None:
    """Rebinding: the name is public when saved, loopback when called; the call never reaches the loopback server."""
    settings.ALLOWED_PRIVATE_NETWORKS = []
    address, handler = loopback_server
    port = int(address.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            ip = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    url = f"http://rebind.example:{port}/secret"
    assert outbound_url_check(url, field="endpoint") == url  # public at save time
    with outbound_client(field="endpoint", timeout=2) as client, pytest.raises(OutboundUrlRefused):
        client.get(url)

    async def call() -> None:
        async with outbound_async_client(field="endpoint", timeout=2) as client:
            await client.get(url)

    import asyncio

    with pytest.raises(OutboundUrlRefused):
        asyncio.run(call())
    assert handler.hits == []


def test_the_call_connects_to_the_address_that_was_checked(loopback_server: Any, settings: Any, monkeypatch: Any) -> None:
    """Resolved once: the connection goes to the checked address even when the name would resolve elsewhere a moment later."""
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    address, handler = loopback_server
    port = int(address.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    calls: list[str] = []

    def resolver(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "pinned.example":
            calls.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with outbound_client(field="endpoint", timeout=2) as client:
        assert client.get(f"http://pinned.example:{port}/hello").text == "ok"
    assert calls == ["pinned.example"]  # one resolution per connection, the one that was checked
    assert handler.hits == ["/hello"]


@pytest.mark.parametrize("target", ["http://127.0.0.2:{port}/x", "http://10.0.0.1/x", "file:///etc/passwd", "http://[::1]:{port}/x",
                                    "http://2130706433:{port}/x", "http://user@127.0.0.1:{port}/x"])
def test_redirects_to_refused_addresses_are_refused(loopback_server: Any, settings: Any, target: str) -> None:
    settings.ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    address, handler = loopback_server
    handler.redirect_to = target.format(port=address.rsplit(":", 1)[1])
    with outbound_client(field="card_url", timeout=2, follow_redirects=True) as client, \
            pytest.raises((OutboundUrlRefused, httpx.UnsupportedProtocol)):
        client.get(f"http://{address}/redirect")
    assert handler.hits == ["/redirect"]
