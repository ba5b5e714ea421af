"""Agents reads, always scoped to what the caller may see.

An agent is visible to its owner, to the members of the workspace it is shared with, and, when
public, to every user. Agent API keys are their agent's writers' alone. A task is its requester's
(and, read-only, the agent owner's: they see the work sent to their agent). Trust is as visible as
its agent.
"""
from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Coalesce

from apps.accounts.selectors import can_write, user_workspace_ids
from apps.core.errors import Forbidden
from apps.core.runs import cancel_key
from apps.core.selectors import get_or_404
from apps.core.streams import stream_key

from .models import Agent, AgentApiKey, Task, TrustEvent, Visibility

if TYPE_CHECKING:
    from apps.accounts.models import User

AGENT_KEY_PREFIX = "nxa_"
WORD = re.compile(r"[a-z0-9]+")
MAX_QUERY_WORDS = 8


def _authenticated(user: Any) -> bool:
    return user is not None and bool(getattr(user, "is_authenticated", False))


def agent_list(*, user: User, mine: bool = False) -> QuerySet[Agent]:
    """Agents the caller may see: their own, their workspaces', and public ones."""
    if not _authenticated(user):
        return Agent.objects.none()
    rule = Q(owner_id=user.pk)
    if not mine:
        rule |= Q(workspace_id__in=user_workspace_ids(user)) | Q(visibility=Visibility.PUBLIC)
    # The search columns are large and only read by the database: leaving them out keeps the rows that
    # discovery sorts narrow (a top-N sort over 10 000 agents took 8 ms with them, owner joined). Skills
    # come from `skills_summary`, so a page is one query.
    return Agent.objects.filter(rule).defer("search_vector", "search_text")


def agent_get(*, user: User, agent_id: Any) -> Agent:
    """An agent the caller may see, else 404."""
    return get_or_404(agent_list(user=user), "Agent not found.", pk=agent_id)


def agent_can_write(*, user: User, agent: Agent) -> bool:
    """Its owner, or an owner/admin of the workspace it is shared with."""
    return can_write(user=user, obj=agent)


def agent_get_for_write(*, user: User, agent_id: Any) -> Agent:
    """An agent the caller may change: 404 when invisible, 403 when read-only to them (a public agent)."""
    agent = agent_get(user=user, agent_id=agent_id)
    if not agent_can_write(user=user, agent=agent):
        raise Forbidden("Only the agent's owner (or its workspace's owners and admins) can change it.")
    return agent


def agent_discover(*, user: User, query: str = "", skill_tags: list[str] | None = None, match_all: bool = False,
                   category: str = "", min_trust_score: float | None = None, status: str = "") -> QuerySet[Agent]:
    """Public agents (and the caller's own and workspaces'), filtered and ranked by trust and fit."""
    queryset = agent_list(user=user)
    if skill_tags:
        tags = [tag.lower() for tag in skill_tags]
        queryset = queryset.filter(skill_tags__contains=tags) if match_all else queryset.filter(skill_tags__overlap=tags)
    if category:
        queryset = queryset.filter(category__iexact=category)
    if min_trust_score is not None:
        queryset = queryset.filter(trust_score__gte=min_trust_score)
    if status:
        queryset = queryset.filter(status=status)
    if not query:
        return queryset.annotate(relevance=Value(0.0, output_field=FloatField())).order_by("-trust_score", "name", "id")
    search = _search_query(query)
    if search is None:
        return queryset.none().annotate(relevance=Value(0.0, output_field=FloatField()))
    return queryset.filter(search_vector=search).annotate(
        relevance=Coalesce(SearchRank(F("search_vector"), search), Value(0.0), output_field=FloatField()),
    ).order_by((F("relevance") * Value(50.0) + F("trust_score") * Value(0.5)).desc(), "id")


def _search_query(text: str) -> SearchQuery | None:
    """A full-text query for `text` in which each word unknown to the agents' vocabulary also matches its
    closest known spellings (pg_trgm similarity over `SearchTerm`, a small table with a trigram index);
    a word with no known spelling near it is left out. None when no word is left.

    Matching trigrams against the agents' whole text instead cost a similarity recheck per agent for
    common trigrams (hundreds of ms at 10 000 agents); the vocabulary keeps it to the GIN tsvector index.
    """
    words = list(dict.fromkeys(WORD.findall(text.lower())))[:MAX_QUERY_WORDS]
    if not words:
        return None
    spellings = _spellings(words)
    combined: SearchQuery | None = None
    for word in words:
        alternatives = spellings.get(word, [])
        if not alternatives:
            continue  # a word no agent uses ("please") would make every search empty: it is left out
        term: SearchQuery | None = None
        for alternative in alternatives:
            single = SearchQuery(alternative, config="english", search_type="plain")
            term = single if term is None else term | single
        combined = term if combined is None else combined & term  # type: ignore[operator]
    return combined


# For each query word: itself when an agent uses it, else up to three known words closest to it
# (`%` is pg_trgm's similarity operator, served by the trigram index). One round trip for all words.
_SPELLINGS_SQL = """
    SELECT q.w, t.word FROM unnest(%s::text[]) AS q(w)
    CROSS JOIN LATERAL (
        SELECT word FROM agents_searchterm WHERE word = q.w
        UNION ALL
        (SELECT word FROM agents_searchterm
          WHERE word %% q.w AND NOT EXISTS (SELECT 1 FROM agents_searchterm e WHERE e.word = q.w)
          ORDER BY similarity(word, q.w) DESC, word LIMIT 3)
    ) AS t
"""


def _spellings(words: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SPELLINGS_SQL, [words])
        for word, spelling in cursor.fetchall():
            found.setdefault(word, []).append(spelling)
    return found


def agent_key_hash(raw: str) -> str:
    """The stored digest of an agent key."""
    return hashlib.sha256(raw.encode()).hexdigest()


def agent_key_list(*, agent: Agent) -> QuerySet[AgentApiKey]:
    """The agent's keys that are not revoked."""
    return AgentApiKey.objects.filter(agent=agent, revoked_at__isnull=True)


def agent_for_key(*, raw: str, agent_id: Any) -> Agent | None:
    """The agent a live `nxa_` key belongs to, when it is the agent named (else None)."""
    if not raw.startswith(AGENT_KEY_PREFIX):
        return None
    key = AgentApiKey.objects.filter(digest=agent_key_hash(raw), revoked_at__isnull=True).select_related("agent").first()
    if key is None or str(key.agent_id) != str(agent_id):
        return None
    return key.agent


def task_list(*, user: User, agent_id: Any = None, status: str = "") -> QuerySet[Task]:
    """Tasks the caller sent, and tasks sent to agents the caller owns."""
    if not _authenticated(user):
        return Task.objects.none()
    queryset = Task.objects.filter(Q(requester_id=user.pk) | Q(agent__owner_id=user.pk))
    if agent_id:
        queryset = queryset.filter(agent_id=agent_id)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.select_related("agent", "requester")


def task_get(*, user: User, task_id: Any) -> Task:
    """A task the caller may see (with messages and artifacts), else 404."""
    return get_or_404(task_list(user=user).prefetch_related("messages", "artifacts"), "Task not found.", pk=task_id)


def task_get_for_agent(*, agent_id: Any, task_id: Any) -> Task:
    """A task assigned to the agent (its key is the caller), else 404."""
    return get_or_404(Task.objects.filter(agent_id=agent_id).select_related("agent", "requester").prefetch_related("messages", "artifacts"),
                      "Task not found.", pk=task_id)


def task_get_as_requester(*, user: User, task_id: Any) -> Task:
    """A task the caller sent: 404 when invisible, 403 when they only own its agent."""
    task = task_get(user=user, task_id=task_id)
    if task.requester_id != user.pk:
        raise Forbidden("Only the task's requester can do this.")
    return task


def task_stream_key(task_id: Any) -> str:
    """The Redis stream of a task's events."""
    return stream_key("agent-task", task_id)


def task_cancel_key(task_id: Any) -> str:
    """The cancel flag of a task's forwarding run."""
    return cancel_key("agent-task", task_id)


def trust_events(*, agent: Agent, limit: int = 10) -> list[TrustEvent]:
    """The agent's most recent trust events."""
    return list(TrustEvent.objects.filter(agent=agent).select_related("task")[:limit])


def trust_history(*, agent: Agent) -> QuerySet[TrustEvent]:
    """Every trust event of the agent, newest first (paginated by the view)."""
    return TrustEvent.objects.filter(agent=agent).order_by("-created_at", "id")
