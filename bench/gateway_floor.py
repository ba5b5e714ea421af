"""The floor under any gateway on this stack: daphne serving one `openai` SDK call per request and nothing else.

`bench gateway` serves these beside Nexus and LiteLLM (`floor` in its results). `asgi_app` is a bare
ASGI app; `django_app` is a Django project with no middleware and one async view, on Django's own
ASGI handler. Both forward the request body to the fake provider through one shared
`openai.AsyncOpenAI` client on the SDK's aiohttp transport (`client.post(..., cast_to=object)`, as Nexus's adapter calls it) and
return its JSON: no auth, no limits, no credits, no usage record. Their CPU per call and requests/s
bound what a gateway built on daphne and the SDK can reach on this machine.

The apps read FLOOR_URL and FLOOR_KEY (the fake's base URL and key) from the environment.
"""
from __future__ import annotations

import json
import os
from typing import Any

import openai

_clients: list[openai.AsyncOpenAI] = []


def _client() -> openai.AsyncOpenAI:
    """One client per process (built on first use: the event loop must exist), as Nexus keeps one per connection."""
    if not _clients:
        # The HTTP transport Nexus's adapter gives the SDK (aiohttp), so the floor stays the floor.
        _clients.append(openai.AsyncOpenAI(base_url=os.environ["FLOOR_URL"], api_key=os.environ["FLOOR_KEY"], max_retries=0,
                                           http_client=openai.DefaultAioHttpClient()))
    return _clients[0]


async def _forward(body: bytes) -> bytes:
    params = json.loads(body)
    params["model"] = "fake-model"
    answer: Any = await _client().post("/chat/completions", body=params, cast_to=object)
    return json.dumps(answer).encode()


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: read the body, make the SDK call, answer its JSON."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    out = await _forward(body)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": out})


def _django_app() -> Any:
    """Django's ASGI handler over one async view, with no middleware and no installed apps."""
    import django
    from django.conf import settings
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(await _forward(request.body), content_type="application/json")

    globals()["urlpatterns"] = [path("", view)]  # this module is the URLconf
    settings.configure(DEBUG=False, SECRET_KEY="bench-floor-" + "x" * 40, ALLOWED_HOSTS=["127.0.0.1"], ROOT_URLCONF=__name__,
                       MIDDLEWARE=[], INSTALLED_APPS=[], USE_TZ=True)
    django.setup(set_prefix=False)
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


def __getattr__(name: str) -> Any:
    # Built on first access (daphne's import of `bench.gateway_floor:django_app`), so serving
    # `asgi_app` never configures Django.
    if name == "django_app":
        app = _django_app()
        globals()["django_app"] = app
        return app
    raise AttributeError(name)
