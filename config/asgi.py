"""ASGI entry point: Django for HTTP, Channels for WebSockets (each app adds its `routing.py`)."""
import os
from importlib import import_module

import django
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
# Django must be set up before anything imports models (consumers, auth middleware).
# Static files are served by daphne itself, so one process is a whole install; a CDN or proxy
# in front can cache /static/.
django.setup(set_prefix=False)

from apps.core.asgi import PooledThreadASGIHandler, daphne_without_form_parsing, flush_on_server_stop, gc_settle  # noqa: E402

django_asgi_app = ASGIStaticFilesHandler(PooledThreadASGIHandler())

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.billing.metering import settlements_flush  # noqa: E402
from apps.core.consumers import TokenAuthMiddleware  # noqa: E402
from apps.core.db import db_async_pool_close  # noqa: E402
from apps.core.websocket_origin import allowed_hosts_origin_validator  # noqa: E402
from apps.llm.client import usage_flush  # noqa: E402
from apps.llm.providers import preload_adapters  # noqa: E402

websocket_urlpatterns = import_module(settings.WEBSOCKET_URLCONF).websocket_urlpatterns

preload_adapters()  # vendor SDK imports now, not inside the event loop on a first chat

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Session cookie (AuthMiddlewareStack) or ?token= (TokenAuthMiddleware), as API.md says. A browser's
        # Origin must be an allowed host; a client without Origin (SDK, CLI) is let through to token auth.
        "websocket": allowed_hosts_origin_validator(AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))),
    }
)
# Usage records and settlements of the calls cut when daphne is stopped are written before it exits;
# then the loop's own database connections are closed.
flush_on_server_stop(usage_flush, settlements_flush, db_async_pool_close)
daphne_without_form_parsing()
gc_settle()  # last: everything loaded above is frozen out of the collector's work
