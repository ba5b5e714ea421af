"""Agents pages (marketplace, agent page, register/edit, the live task console) and the public A2A agent cards.

The pages read and write through the JSON API; the task console follows the task's SSE stream.
"""
from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts.caller import request_user
from apps.accounts.selectors import user_has_tool
from apps.core.errors import Forbidden

from .gateway import platform_card_json
from .selectors import agent_can_write, agent_get, agent_get_for_write, task_get


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


@require_GET
def agent_card_v1(request: HttpRequest) -> JsonResponse:
    """/.well-known/agent-card.json: Nexus as an A2A agent (v1.0 card); public, like every agent card."""
    return JsonResponse(platform_card_json(base_url=_base_url(request), version="1.0"))


@require_GET
def agent_card_v03(request: HttpRequest) -> JsonResponse:
    """/.well-known/agent.json: the same card in the v0.3 shape."""
    return JsonResponse(platform_card_json(base_url=_base_url(request), version="0.3"))


def _require(request: HttpRequest) -> None:
    if not user_has_tool(request.user, "agents"):
        raise Forbidden("Your roles do not include agents.")


@login_required
def marketplace_page(request: HttpRequest) -> HttpResponse:
    """Search and filter agents (trust badges), and the caller's recent tasks."""
    _require(request)
    return render(request, "agents/marketplace.html")


@login_required
def agent_page(request: HttpRequest, agent_id: str) -> HttpResponse:
    """One agent: skills, heartbeat status, trust components and history chart, a form to send it a task."""
    _require(request)
    user = request_user(request)
    agent = agent_get(user=user, agent_id=agent_id)
    return render(request, "agents/agent.html", {"agent": agent, "can_write": agent_can_write(user=user, agent=agent)})


@login_required
def edit_page(request: HttpRequest, agent_id: str | None = None) -> HttpResponse:
    """Register an agent (or import its card), or edit one the caller may change."""
    _require(request)
    agent = agent_get_for_write(user=request_user(request), agent_id=agent_id) if agent_id else None
    skills = [{"id": s.skill_id, "name": s.name, "description": s.description, "tags": s.tags, "input_schema": s.input_schema,
               "output_schema": s.output_schema} for s in agent.skills.all()] if agent else []
    return render(request, "agents/edit.html", {"agent": agent, "skills_json": json.dumps(skills, indent=2)})


@login_required
def task_page(request: HttpRequest, task_id: str) -> HttpResponse:
    """The task console: conversation, artifacts and events live from the task's stream; reply, cancel, rate."""
    _require(request)
    user = request_user(request)
    task = task_get(user=user, task_id=task_id)
    return render(request, "agents/task.html", {"task": task, "is_requester": task.requester_id == user.pk})
