"""Shared-artifact pages: the public page `/s/<token>`, its sandboxed raw content, and the owner's list of links.

Shared HTML is user (or model) content: it is never put into a Nexus page. The page frames
`/s/<token>/raw` in an `<iframe sandbox>` and that response carries `SHARING_CSP` (`sandbox` without
`allow-same-origin`), so the content runs in an opaque origin even when opened directly: it can
neither read the platform's cookies nor call its API with the visitor's session.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST, require_safe

from apps.accounts.caller import request_user
from apps.core.errors import NotFound, RateLimited
from apps.core.ratelimit import ratelimit_hit

from . import services
from .models import Artifact, ArtifactContentType
from .selectors import artifact_by_token, artifact_get, artifact_list, artifact_token

# The page itself runs only Nexus's own static scripts; the shared content never runs in it.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
RAW_TYPES: dict[str, str] = {ArtifactContentType.HTML.value: "text/html; charset=utf-8",
                             ArtifactContentType.JSON.value: "application/json; charset=utf-8"}


class _TooManyReads(Exception):
    """A client read too many shared links too fast (answered 429 with Retry-After)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _shared(request: HttpRequest, token: str) -> Artifact:
    try:
        ratelimit_hit(request, group="sharing-public", key=request.META.get("REMOTE_ADDR") or "unknown",
                      rate=settings.SHARING_PUBLIC_RATE, record=False)
    except RateLimited as exc:
        raise _TooManyReads(exc.retry_after) from exc
    try:
        return artifact_by_token(token=token)
    except NotFound as exc:
        raise Http404("No such shared link (it may have been revoked or have expired).") from exc


def _too_many(exc: _TooManyReads) -> HttpResponse:
    response = HttpResponse("Too many requests; try again shortly.", status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(exc.retry_after)
    return response


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"  # revoking must take effect at once, caches included
    response["Referrer-Policy"] = "no-referrer"  # the token is in the URL: never send it on
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@require_safe
def shared_page(request: HttpRequest, token: str) -> HttpResponse:
    """The shared artifact for people: text and JSON as text, Markdown rendered, HTML in a sandboxed frame."""
    try:
        artifact = _shared(request, token)
    except _TooManyReads as exc:
        return _too_many(exc)
    response = render(request, "sharing/shared.html", {"artifact": artifact, "token": token, "html": artifact.content_type == ArtifactContentType.HTML,
                                                       "markdown": artifact.content_type == ArtifactContentType.MARKDOWN})
    response["Content-Security-Policy"] = PAGE_CSP
    return _private(response)


@require_safe
@xframe_options_sameorigin  # framed by /s/<token> only (the CSP's frame-ancestors says the same)
def shared_raw(request: HttpRequest, token: str) -> HttpResponse:
    """The artifact's bytes under the sandboxing CSP (HTML as HTML, everything else as text)."""
    try:
        artifact = _shared(request, token)
    except _TooManyReads as exc:
        return _too_many(exc)
    response = HttpResponse(artifact.content, content_type=RAW_TYPES.get(artifact.content_type, "text/plain; charset=utf-8"))
    response["Content-Security-Policy"] = settings.SHARING_CSP
    response["X-Content-Type-Options"] = "nosniff"
    return _private(response)


@login_required
def list_page(request: HttpRequest) -> HttpResponse:
    """The caller's shared links: copy, open, revoke."""
    user = request_user(request)
    links = [{"artifact": artifact, "url": services.artifact_url(artifact_token(artifact=artifact))}
             for artifact in artifact_list(user=user)[:200]]
    return render(request, "sharing/list.html", {"links": links})


@login_required
@require_POST
def revoke(request: HttpRequest, artifact_id: str) -> HttpResponse:
    """Revoke one of the caller's links (a form post from the list page), then back to the list."""
    try:
        artifact = artifact_get(user=request_user(request), artifact_id=artifact_id)
    except NotFound as exc:
        raise Http404("No such shared link.") from exc
    services.artifact_revoke(artifact=artifact)
    return HttpResponseRedirect("/shared/")
