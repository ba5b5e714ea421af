"""Agent keys (`nxa_`, header `X-Agent-Key`): they authenticate an agent's own heartbeats, as its owner."""
from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import authentication
from rest_framework.request import Request

from apps.core.errors import Unauthorized

from ..models import AgentApiKey
from ..selectors import AGENT_KEY_PREFIX, agent_key_hash


class AgentKeyAuthentication(authentication.BaseAuthentication):
    """`X-Agent-Key: nxa_...`: the request acts as the agent's owner, limited to that agent (request.auth is the key)."""

    def authenticate(self, request: Request) -> tuple[Any, AgentApiKey] | None:
        raw = request.META.get("HTTP_X_AGENT_KEY", "").strip()
        if not raw:
            return None
        key = None
        if raw.startswith(AGENT_KEY_PREFIX):
            key = AgentApiKey.objects.filter(digest=agent_key_hash(raw), revoked_at__isnull=True).select_related("agent", "agent__owner").first()
        if key is None or not key.agent.owner.is_active:
            raise Unauthorized("The agent key is not valid.")
        AgentApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        return key.agent.owner, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
