"""Django's sync-only middleware, run on the event loop for async views.

Under ASGI, Django runs each hook of a `MiddlewareMixin` middleware (process_request,
process_view, process_response) through `sync_to_async`: with sessions, CSRF, auth, messages,
common, security and clickjacking that is about twelve thread hand-offs per request to an async
view (the gateway, SSE streams, health), a fifth of a gateway call's CPU. Their hooks only read
and write headers, cookies and lazy objects, so these subclasses call them directly on the loop.
The one hook that can touch the database, saving a session that changed (or a message that
overflowed into it), still goes to a thread, and only when it has something to save.

`MIDDLEWARE` keeps naming Django's classes (the deploy checks look for those names):
`core.asgi.PooledThreadASGIHandler` builds its async chain with `ON_LOOP`'s subclasses in their
place. Sync views are not affected: their whole chain runs in one thread hop, as Django's classes.
"""
from __future__ import annotations

from typing import Any

from asgiref.sync import markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest, HttpResponseBase
from django.middleware import clickjacking, common, csrf, security

__all__ = [
    "ON_LOOP",
    "AuthenticationMiddleware",
    "CommonMiddleware",
    "CsrfViewMiddleware",
    "MessageMiddleware",
    "SecurityMiddleware",
    "SessionMiddleware",
    "XFrameOptionsMiddleware",
]


class OnLoop:
    """Mixin for a `MiddlewareMixin` class whose hooks may run on the event loop."""

    get_response: Any

    def response_needs_thread(self, request: HttpRequest) -> bool:
        """True when process_response may do blocking I/O for this request."""
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = process_request(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request):
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
            else:
                response = process_response(request, response)
        return response


class SecurityMiddleware(OnLoop, security.SecurityMiddleware):
    """Django's SecurityMiddleware (headers and the HTTPS redirect)."""


class SessionMiddleware(OnLoop, sessions.SessionMiddleware):
    """Django's SessionMiddleware; a session that changed is saved in a thread."""

    def response_needs_thread(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(OnLoop, common.CommonMiddleware):
    """Django's CommonMiddleware (APPEND_SLASH, disallowed user agents)."""


class CsrfViewMiddleware(OnLoop, csrf.CsrfViewMiddleware):
    """Django's CsrfViewMiddleware; its view check runs on the loop for async views as well."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if self.async_mode:
            # Django wraps a sync process_view in sync_to_async; a coroutine function it calls as is.
            check = super().process_view

            async def process_view(request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any) -> Any:
                return check(request, callback, callback_args, callback_kwargs)

            markcoroutinefunction(process_view)
            self.process_view = process_view  # type: ignore[method-assign, assignment]


class AuthenticationMiddleware(OnLoop, auth.AuthenticationMiddleware):
    """Django's AuthenticationMiddleware (`request.user` stays lazy; async code uses `request.auser()`)."""


class MessageMiddleware(OnLoop, messages.MessageMiddleware):
    """Django's MessageMiddleware; messages that were read or added are stored in a thread (they may reach the session)."""

    def response_needs_thread(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class XFrameOptionsMiddleware(OnLoop, clickjacking.XFrameOptionsMiddleware):
    """Django's XFrameOptionsMiddleware."""


# Django's dotted path -> the subclass the async chain uses in its place.
ON_LOOP = {
    "django.middleware.security.SecurityMiddleware": "apps.core.loop_middleware.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware": "apps.core.loop_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware": "apps.core.loop_middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware": "apps.core.loop_middleware.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "apps.core.loop_middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware": "apps.core.loop_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "apps.core.loop_middleware.XFrameOptionsMiddleware",
}
