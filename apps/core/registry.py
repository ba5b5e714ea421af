"""The app registry: each Nexus app declares on its AppConfig what it adds to the platform.

An app subclasses `NexusAppConfig` and sets any of: `api_urls` (a URL module mounted under /api/v1/),
`page_urls` (a URL module mounted at the root), `navigation`, `tools`, `scopes`, `queues`,
`beat`, `platform_tools` (dotted paths of the platform tools a model or a client can call, see
`apps.tools.registry`) and `ledger_links` (the pages credit ledger references of the app's origin name).
The URL root, the dashboard navigation, the roles' tools and API-key scopes, and Celery's queues and beat
schedule are read from here, so adding an app is one folder and one line in INSTALLED_APPS. The lists follow INSTALLED_APPS; `position` orders entries the UI shows.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import AppConfig, apps
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse

__all__ = [
    "LedgerResolver", "NavEntry", "NexusAppConfig", "Scope", "Tool", "api_url_modules", "beat_schedule", "ledger_ids", "ledger_link",
    "ledger_links_for", "ledger_route", "navigation_entries",
    "page_url_modules", "platform_tool_paths", "platform_tools", "queue_names", "scope_names", "tool_names", "tool_scopes",
]


# A batch of refs of one ledger origin (the part after "<origin>:") -> the page each names; a ref left out
# (or mapped to None) names nothing a page shows.
LedgerResolver = Callable[[Sequence[str]], Mapping[str, str | None]]


@dataclass(frozen=True)
class NavEntry:
    """A dashboard navigation link: shown when `tool` is None or the user's roles grant it.

    `section` "account" puts the link in the account menu (settings, billing) instead of the tool bar.
    """

    label: str
    url_name: str
    tool: str | None = None
    position: int = 1000
    section: str = "main"


@dataclass(frozen=True)
class Tool:
    """A tool a role can grant; `scope` is the API-key scope that covers its routes.

    `reserved` marks a tool named ahead of the app that will provide it: a real declaration replaces it.
    """

    name: str
    scope: str
    position: int = 1000
    reserved: bool = False


@dataclass(frozen=True)
class Scope:
    """A scope an API key can carry ("*" covers every one)."""

    name: str
    position: int = 1000
    reserved: bool = False


class NexusAppConfig(AppConfig):
    """Base AppConfig of Nexus apps: class attributes declare what the app contributes."""

    api_urls: str | None = None  # e.g. "apps.chat.api.urls", included under /api/v1/
    page_urls: str | None = None  # e.g. "apps.chat.urls", included at the root
    urls_last: bool = False  # the dashboard's root pages go after every other app's
    navigation: tuple[NavEntry, ...] = ()
    tools: tuple[Tool, ...] = ()
    scopes: tuple[Scope, ...] = ()
    queues: tuple[str, ...] = ()  # Celery queue names (tasks say `queue=...`)
    beat: dict[str, dict[str, Any]] = {}  # Celery beat entries by name
    # Platform tools (subclasses of apps.tools.registry.PlatformTool) as dotted paths: read by name, so an
    # app below `tools` in the layers (chat) finds them without importing upwards.
    platform_tools: tuple[str, ...] = ()
    # Credit ledger references ("<origin>:<ref>", written through the metering seam) the app can show: origin ->
    # a `LedgerResolver`, which takes a page's refs of that origin at once (one query for the lot, not one per
    # row) and gives the page of what each names: `ledger_route(...)` when the ref's leading id is in the URL,
    # else the dotted path of the app's own (read by name, so apps.py imports no models). Billing reads them
    # here, so it links a charge to a conversation or an execution without importing the app above it.
    ledger_links: dict[str, str | LedgerResolver] = {}

    # Apps import this class into their apps.py; Django takes the one AppConfig there marked default,
    # so the base is not one and every subclass is (unless it says otherwise).
    default = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "default" not in cls.__dict__:
            cls.default = True


def _nexus_apps() -> Iterator[NexusAppConfig]:
    for config in apps.get_app_configs():  # INSTALLED_APPS order
        if isinstance(config, NexusAppConfig):
            yield config


def _ordered(items: list[Any]) -> list[Any]:
    # A stable sort: equal positions keep INSTALLED_APPS order.
    return sorted(items, key=lambda item: item.position)


def _merge(kind: str, declared: list[tuple[str, Any]]) -> list[Any]:
    """One entry per name; a real declaration replaces a reserved one, two real ones are an error."""
    by_name: dict[str, tuple[str, Any]] = {}
    for app_label, item in declared:
        seen = by_name.get(item.name)
        if seen is None or (seen[1].reserved and not item.reserved):
            by_name[item.name] = (app_label, item)
        elif not item.reserved:
            raise ImproperlyConfigured(f"The {kind} {item.name!r} is declared by both {seen[0]!r} and {app_label!r}.")
    return _ordered([item for _, item in by_name.values()])


def _url_modules(attribute: str) -> list[str]:
    configs = sorted(_nexus_apps(), key=lambda config: config.urls_last)  # stable: INSTALLED_APPS order otherwise
    return [module for config in configs if (module := getattr(config, attribute))]


def api_url_modules() -> list[str]:
    """URL modules to include under /api/v1/, in INSTALLED_APPS order."""
    return _url_modules("api_urls")


def page_url_modules() -> list[str]:
    """URL modules of server-rendered pages to include at the root; the dashboard's come last."""
    return _url_modules("page_urls")


@cache
def navigation_entries() -> tuple[NavEntry, ...]:
    """Every app's navigation entries, by position."""
    return tuple(_ordered([entry for config in _nexus_apps() for entry in config.navigation]))


@cache
def _tools() -> tuple[Tool, ...]:
    return tuple(_merge("tool", [(config.label, tool) for config in _nexus_apps() for tool in config.tools]))


@cache
def _scopes() -> tuple[Scope, ...]:
    return tuple(_merge("scope", [(config.label, scope) for config in _nexus_apps() for scope in config.scopes]))


def tool_names() -> tuple[str, ...]:
    """The tools a role can grant, in the order the admin shows them."""
    return tuple(tool.name for tool in _tools())


def tool_scopes() -> dict[str, str]:
    """The API-key scope that covers each tool's routes."""
    return {tool.name: tool.scope for tool in _tools()}


def scope_names() -> tuple[str, ...]:
    """The scopes an API key can carry, in the order the key form shows them."""
    return tuple(scope.name for scope in _scopes())


@cache
def queue_names() -> tuple[str, ...]:
    """Every declared Celery queue, once each, in INSTALLED_APPS order."""
    return tuple(dict.fromkeys(name for config in _nexus_apps() for name in config.queues))


@cache
def platform_tool_paths() -> tuple[str, ...]:
    """Every app's platform tool classes as dotted paths, in INSTALLED_APPS order."""
    return tuple(dict.fromkeys(path for config in _nexus_apps() for path in config.platform_tools))


@cache
def platform_tools() -> dict[str, Any]:
    """The platform tools by name: one instance of each declared class (duplicate names raise)."""
    from django.utils.module_loading import import_string

    found: dict[str, Any] = {}
    for path in platform_tool_paths():
        tool = import_string(path)()
        if tool.name in found:
            raise ImproperlyConfigured(f"The platform tool {tool.name!r} is declared twice (again by {path!r}).")
        found[tool.name] = tool
    return found


@cache
def _ledger_resolvers() -> dict[str, LedgerResolver]:
    from django.utils.module_loading import import_string

    paths: dict[str, str | LedgerResolver] = {}
    owners: dict[str, str] = {}
    for config in _nexus_apps():  # every declaration checked before any is imported
        for origin, path in config.ledger_links.items():
            if origin in paths:
                raise ImproperlyConfigured(f"The ledger origin {origin!r} is declared by both {owners[origin]!r} and {config.label!r}.")
            paths[origin], owners[origin] = path, config.label
    return {origin: import_string(path) if isinstance(path, str) else path for origin, path in paths.items()}


def ledger_ids(refs: Iterable[str], *, ends: str = ":") -> dict[str, uuid.UUID]:
    """Each ref whose leading part (up to the first character of `ends`) is a UUID, with that UUID; the rest left out."""
    split = re.compile(f"[{re.escape(ends)}]")
    found: dict[str, uuid.UUID] = {}
    for ref in refs:
        try:
            found[ref] = uuid.UUID(split.split(ref, maxsplit=1)[0])
        except ValueError:
            continue
    return found


def ledger_route(name: str, kwarg: str) -> LedgerResolver:
    """A resolver linking each ref that starts with an id (`<uuid>[:...]`) to the route `name`, the id as `kwarg`; no query."""

    def resolve(refs: Sequence[str]) -> dict[str, str | None]:
        return {ref: reverse(name, kwargs={kwarg: object_id}) for ref, object_id in ledger_ids(refs).items()}

    return resolve


def ledger_links_for(references: Iterable[str]) -> dict[str, str | None]:
    """The page each credit ledger reference ("<origin>:<ref>") names, or None: one resolver call per origin for the lot."""
    resolvers = _ledger_resolvers()
    links: dict[str, str | None] = {}
    refs_by_origin: dict[str, dict[str, None]] = {}  # an ordered set per origin
    for reference in references:
        links[reference] = None
        origin, _, ref = reference.partition(":")
        if ref and origin in resolvers:
            refs_by_origin.setdefault(origin, {})[ref] = None
    for origin, refs in refs_by_origin.items():
        urls = resolvers[origin](list(refs))
        for ref in refs:
            links[f"{origin}:{ref}"] = urls.get(ref)
    return links


def ledger_link(reference: str) -> str | None:
    """The page one credit ledger reference ("<origin>:<ref>") names, or None; for many, `ledger_links_for`."""
    return ledger_links_for([reference])[reference]


def beat_schedule() -> dict[str, dict[str, Any]]:
    """Every app's Celery beat entries by name."""
    schedule: dict[str, dict[str, Any]] = {}
    for config in _nexus_apps():
        for name, entry in config.beat.items():
            if name in schedule:
                raise ImproperlyConfigured(f"The beat entry {name!r} is declared twice (again by {config.label!r}).")
            schedule[name] = entry
    return schedule


def clear_cache() -> None:
    """Forget what was read from the apps (INSTALLED_APPS changed, e.g. in a test)."""
    for cached in (navigation_entries, _tools, _scopes, queue_names, platform_tool_paths, platform_tools, _ledger_resolvers):
        cached.cache_clear()


@receiver(setting_changed)
def _installed_apps_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "INSTALLED_APPS":
        clear_cache()
