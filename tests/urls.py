"""Test-only routes on top of the real ones: views that raise, stream or limit on demand."""
from __future__ import annotations

import os

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import include, path
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import errors
from apps.core.ratelimit import ratelimit_hit
from apps.core.sse import sse_run_response
from config.urls import handler404, handler500  # noqa: F401  (Django reads the error handlers from the test URLconf)
from config.urls import urlpatterns as real_urlpatterns

ERRORS = {
    "validation": errors.ValidationError("Bad field.", details={"name": ["This field is required."]}),
    "unauthorized": errors.Unauthorized(),
    "forbidden": errors.Forbidden(),
    "not-found": errors.NotFound(),
    "conflict": errors.Conflict("Already exists."),
    "credits": errors.InsufficientCredits(),
    "unavailable": errors.ModelUnavailable("Provider down."),
}


class RaiseApi(APIView):
    """Raises the error named in the URL."""

    permission_classes = [AllowAny]

    def get(self, request: Request, kind: str) -> Response:
        if kind == "crash":
            raise RuntimeError("boom: an unhandled bug")
        raise ERRORS[kind]


class EchoApi(APIView):
    """GET-only view that also parses a POSTed body (for 405 and 413)."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=10)
        count = serializers.IntegerField(min_value=0)

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def put(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)

    http_method_names = ["get", "put", "options"]


class ItemSerializer(serializers.Serializer):
    n = serializers.IntegerField()


class ItemsApi(ListAPIView):
    """A paginated list of 450 numbered items."""

    permission_classes = [AllowAny]
    serializer_class = ItemSerializer

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return [{"n": i} for i in range(450)]


class LimitedApi(APIView):
    """Three requests a minute per client-chosen key."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        ratelimit_hit(request, group="test-limited", key=request.query_params.get("who", "anon"), rate="3/m")
        return Response({"ok": True})


async def stream_view(request: HttpRequest, key: str) -> StreamingHttpResponse:
    """SSE of a core.streams stream, replaying from Last-Event-ID."""
    return sse_run_response(request, key, named=True)


# What `endless_stream_view`'s iterators did: "started", then "stopped" once the client has gone.
ENDLESS_STREAM_EVENTS: list[str] = []


def endless_stream_view(request: HttpRequest) -> StreamingHttpResponse:
    """A sync view whose streamed body never ends by itself (the way a run's SSE waits for events)."""
    import asyncio

    async def ticks():  # type: ignore[no-untyped-def]
        ENDLESS_STREAM_EVENTS.append("started")
        try:
            while True:
                yield b"data: tick\n\n"
                await asyncio.sleep(0.05)
        finally:
            ENDLESS_STREAM_EVENTS.append("stopped")

    return StreamingHttpResponse(ticks(), content_type="text/event-stream")


# What `waiting_async_view` did: "started", then "finished", or "cancelled" when it was stopped.
ASYNC_VIEW_EVENTS: list[str] = []


async def waiting_async_view(request: HttpRequest) -> JsonResponse:
    """An async view that waits `?ms=` milliseconds before it answers."""
    import asyncio

    ASYNC_VIEW_EVENTS.append("started")
    try:
        await asyncio.sleep(int(request.GET.get("ms", "0")) / 1000)
    except asyncio.CancelledError:
        ASYNC_VIEW_EVENTS.append("cancelled")
        raise
    ASYNC_VIEW_EVENTS.append("finished")
    return JsonResponse({"ok": True})


class GatedViews:
    """Sync views that wait at a gate, counting how many run at once."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.gate = threading.Event()
        self.running = 0
        self.most = 0

    def view(self, request: HttpRequest) -> JsonResponse:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.gate.wait(30)
        finally:
            with self.lock:
                self.running -= 1
        return JsonResponse({"ok": True})


GATED = GatedViews()

test_routes = [
    path("raise/<str:kind>", RaiseApi.as_view()),
    path("echo", EchoApi.as_view()),
    path("items", ItemsApi.as_view()),
    path("limited", LimitedApi.as_view()),
    path("stream/<str:key>", stream_view),
    path("endless", endless_stream_view),
    path("waiting", waiting_async_view),
    path("gated", lambda request: GATED.view(request)),
    path("pid", lambda request: JsonResponse({"pid": os.getpid()})),
]

urlpatterns = [path("api/v1/_test/", include(test_routes)), *real_urlpatterns]
