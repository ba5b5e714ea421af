"""Error pages: the JSON envelope under /api/, a friendly page elsewhere."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .middleware import envelope_response, is_api_request


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Unknown routes."""
    if is_api_request(request):
        return envelope_response(status=404, message=f"No route matches {request.path}.", request=request)
    return render(request, "404.html", status=404)


def handler500(request: HttpRequest) -> HttpResponse:
    """Unhandled errors that escaped everything else."""
    if is_api_request(request):
        return envelope_response(status=500, message="Internal server error.", request=request)
    return render(request, "500.html", status=500)
