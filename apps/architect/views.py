"""Dashboard pages of Assistant Architect: tools and past runs, the builder, the run form, the live run page.

The pages read and write through the JSON API; the run page follows the execution's SSE stream.
"""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.caller import request_user
from apps.accounts.selectors import user_has_tool
from apps.core.errors import Forbidden

from .selectors import execution_get, execution_list, tool_get, tool_get_for_write, tool_list


def _require(request: HttpRequest) -> None:
    if not user_has_tool(request.user, "assistant-architect"):
        raise Forbidden("Your roles do not include assistant-architect.")


@login_required
def tools_page(request: HttpRequest) -> HttpResponse:
    """The tools the caller can use or edit, and their past executions."""
    _require(request)
    return render(request, "architect/tools.html", {
        "tools": tool_list(user=request_user(request))[:200],
        "executions": execution_list(user=request_user(request)).select_related(None)[:50],
    })


@login_required
def builder_page(request: HttpRequest, tool_id: str | None = None) -> HttpResponse:
    """Build a new tool or edit one: fields, prompts, `{{...}}` suggestions, inline errors."""
    _require(request)
    tool = tool_get_for_write(user=request_user(request), tool_id=tool_id) if tool_id else None
    return render(request, "architect/builder.html", {"tool": tool})


@login_required
def run_form_page(request: HttpRequest, tool_id: str) -> HttpResponse:
    """A form generated from the tool's input fields."""
    _require(request)
    return render(request, "architect/run_form.html", {"tool": tool_get(user=request_user(request), tool_id=tool_id)})


@login_required
def run_page(request: HttpRequest, execution_id: str) -> HttpResponse:
    """Each prompt's live progress and output, from the execution's event stream."""
    _require(request)
    execution = execution_get(user=request_user(request), execution_id=execution_id)
    prompts = [{"id": p["id"], "name": p["name"], "position": p["position"], "model": p["model_name"]}
               for p in execution.snapshot.get("prompts", [])]
    return render(request, "architect/run.html", {"execution": execution, "prompts": prompts})
