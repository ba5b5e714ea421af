"""Workflows pages: the list, and the live editor (steps as a layered graph, shared over WS /ws/workflows/{id}) with run history."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.caller import request_user
from apps.accounts.selectors import user_has_tool
from apps.core.errors import NotFound

from .selectors import run_list, workflow_can_edit, workflow_get, workflow_list


def _require(request: HttpRequest) -> None:
    # Pages answer Django's own 403/404 pages (the API's error envelope is for /api/ only).
    if not user_has_tool(request.user, "workflows"):
        raise PermissionDenied("Your roles do not include workflows.")


@login_required
def home_page(request: HttpRequest) -> HttpResponse:
    """The workflows the caller may see, and a form for a new one."""
    _require(request)
    return render(request, "workflows/home.html", {"workflows": workflow_list(user=request_user(request))[:200]})


@login_required
def editor_page(request: HttpRequest, workflow_id: str) -> HttpResponse:
    """One workflow: the live editor for editors (read only otherwise), its runs, run and resume."""
    _require(request)
    try:
        workflow = workflow_get(user=request_user(request), workflow_id=workflow_id)
    except NotFound:
        raise Http404("Workflow not found.") from None
    runs = run_list(user=request_user(request), workflow=workflow)[:20]
    return render(request, "workflows/editor.html", {
        "workflow": workflow, "runs": runs, "can_edit": workflow_can_edit(user=request_user(request), workflow=workflow)})
