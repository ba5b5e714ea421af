"""Forge pages (new build, build list, live progress and result) and the deployed apps at /apps/<slug>/.

Deployed apps are generated code: they are served with a sandboxing Content-Security-Policy
(`FORGE_APPS_CSP`, `sandbox` without `allow-same-origin`), so the page runs in an opaque origin
and can neither read the platform's cookies nor call its API with the visitor's session.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_safe

from apps.accounts.caller import request_user
from apps.accounts.selectors import user_has_tool
from apps.core.errors import NotFound

from .models import BuildStatus
from .selectors import build_get, build_list, build_statistics, deployment_by_slug, template_list
from .sites import site_file
from .spec import STACKS, STYLINGS


def _require(request: HttpRequest) -> None:
    # Pages answer Django's own 403/404 pages (the API's error envelope is for /api/ only).
    if not user_has_tool(request.user, "forge"):
        raise PermissionDenied("Your roles do not include forge.")


@login_required
def home_page(request: HttpRequest) -> HttpResponse:
    """New build (prompt, config, templates) and the caller's builds with status and search."""
    _require(request)
    search = request.GET.get("search", "").strip()
    wanted = request.GET.get("status", "")
    builds = build_list(user=request_user(request), search=search or None,
                        status=wanted if wanted in BuildStatus.values else None)[:100]
    stats = build_statistics() if user_has_tool(request.user, "admin") else None
    return render(request, "forge/home.html", {
        "builds": builds, "templates": template_list(), "stacks": STACKS, "stylings": STYLINGS, "search": search,
        "status": wanted, "statuses": BuildStatus.values, "stats": stats,
    })


@login_required
def build_page(request: HttpRequest, build_id: str) -> HttpResponse:
    """Live progress (phases, percent, log lines over the WebSocket), then the result: files, screenshots, deploy, download."""
    _require(request)
    try:
        build = build_get(user=request_user(request), build_id=build_id)
    except NotFound as exc:
        raise Http404("Build not found.") from exc
    return render(request, "forge/build.html", {"build": build, "phases": ["analyzing", "generating_spec", "building",
                                                                           "optimizing", "deploying"]})


@require_safe
def app_file(request: HttpRequest, slug: str, path: str = "") -> HttpResponse:
    """A deployed app's file, from storage, under the sandboxing CSP."""
    deployment = deployment_by_slug(slug=slug)
    if deployment is None:
        raise Http404("No such app.")
    if path and not path.endswith("/") and f"{path}/index.html" in deployment.files:
        return HttpResponseRedirect(f"/apps/{slug}/{path}/")  # a folder: its index, with relative links that work
    found = site_file(deployment=deployment, path=path)
    if found is None:
        raise Http404("No such file.")
    data, content_type = found
    response = HttpResponse(data, content_type=content_type)
    response["Content-Security-Policy"] = settings.FORGE_APPS_CSP
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-cache"
    return response
