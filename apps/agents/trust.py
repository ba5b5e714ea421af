"""The trust score of an agent, 0-100, from four components (each 0-1):

- reliability: completed tasks / finished tasks (completed, failed, timed out; a cancel is the requester's choice);
- speed: for completed tasks, how much of the timeout was left (1 - duration / timeout), averaged;
- quality: the requesters' ratings, (mean - 1) / 4;
- tenure: the agent's age, full after TENURE_DAYS.

A component without data counts as NEUTRAL, so a new agent starts in the middle, neither trusted nor
distrusted. Score = 100 x the weighted sum (WEIGHTS add up to 1).
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Avg, Count, Q
from django.utils import timezone

from .models import Agent, Rating, Task, TaskStatus

WEIGHTS = {"reliability": 0.4, "speed": 0.15, "quality": 0.35, "tenure": 0.1}
NEUTRAL = 0.5
TENURE_DAYS = 90


def trust_components(*, agent: Agent, now: datetime | None = None) -> dict[str, float]:
    """The four components of the agent's trust, each 0-1, rounded to 3 places."""
    now = now or timezone.now()
    tasks = Task.objects.filter(agent=agent)
    counts = tasks.aggregate(
        completed=Count("pk", filter=Q(status=TaskStatus.COMPLETED)),
        finished=Count("pk", filter=Q(status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMED_OUT])),
    )
    reliability = counts["completed"] / counts["finished"] if counts["finished"] else NEUTRAL
    speeds = []
    for started, finished, timeout in tasks.filter(status=TaskStatus.COMPLETED, started_at__isnull=False, finished_at__isnull=False).values_list(
            "started_at", "finished_at", "timeout_seconds").order_by("-finished_at")[:200]:
        if started is None or finished is None:  # filtered out above; the type checker cannot know
            continue
        duration = max((finished - started).total_seconds(), 0.0)
        speeds.append(max(0.0, 1.0 - duration / max(timeout, 1)))
    speed = sum(speeds) / len(speeds) if speeds else NEUTRAL
    mean = Rating.objects.filter(agent=agent).aggregate(mean=Avg("rating"))["mean"]
    quality = (float(mean) - 1.0) / 4.0 if mean is not None else NEUTRAL
    tenure = min(max((now - (agent.created_at or now)).total_seconds() / 86400.0 / TENURE_DAYS, 0.0), 1.0)
    return {"reliability": round(reliability, 3), "speed": round(speed, 3), "quality": round(quality, 3), "tenure": round(tenure, 3)}


def trust_score_of(components: dict[str, float]) -> float:
    """0-100 from the components, one decimal."""
    return round(100.0 * sum(WEIGHTS[name] * components[name] for name in WEIGHTS), 1)
