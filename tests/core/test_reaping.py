"""The lost-work reapers' one loop (core.reaping.stuck_reap), on documents stuck in `processing`."""
from __future__ import annotations

from typing import Any

import pytest

from apps.core.reaping import stuck_reap
from apps.knowledge.models import Document, Repository
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _documents(*attempts: int) -> list[Document]:
    repository = Repository.objects.create(owner=UserFactory(), name="Reaped")
    return [Document.objects.create(repository=repository, filename=f"{n}.txt", content_type="text/plain", size=1, file_key="k",
                                    status="processing", attempts=n) for n in attempts]


def test_stuck_rows_are_put_back_and_queued_once_and_the_last_attempt_given_up() -> None:
    fresh, retried, spent = _documents(0, 1, 3)
    queued: list[Any] = []
    given_up: list[Any] = []

    def give_up(row: Any) -> bool:
        given_up.append((row.pk, row.attempts))
        return bool(Document.objects.filter(pk=row.pk).update(status="failed"))

    def reap() -> Any:
        return stuck_reap(Document.objects.filter(status="processing"), put_back={"status": "pending"},
                          requeue=lambda row: queued.append((row.pk, row.filename)), max_attempts=3, give_up=give_up,
                          fields=("filename",))

    reaped = reap()
    assert (reaped.requeued, reaped.failed) == (2, 1)
    assert sorted(queued) == sorted([(fresh.pk, "0.txt"), (retried.pk, "1.txt")])
    assert given_up == [(spent.pk, 3)]
    assert {d.pk: d.status for d in Document.objects.all()} == {fresh.pk: "pending", retried.pk: "pending", spent.pk: "failed"}
    # A second pass finds nothing stuck: nothing is queued twice.
    again = reap()
    assert (again.requeued, again.failed) == (0, 0) and len(queued) == 2


def test_a_row_whose_worker_came_back_after_the_read_is_not_put_back() -> None:
    first, second = _documents(0, 0)
    queued: list[Any] = []

    def requeue(row: Any) -> None:
        queued.append(row.pk)
        # Meanwhile the other row's worker renews its claim: read as stuck, it no longer is.
        other = second if row.pk == first.pk else first
        Document.objects.filter(pk=other.pk).update(attempts=1)

    reaped = stuck_reap(Document.objects.filter(status="processing", attempts=0), put_back={"status": "pending"}, requeue=requeue)
    assert reaped.requeued == 1 and len(queued) == 1
    assert sorted(Document.objects.values_list("status", flat=True)) == ["pending", "processing"]


def test_an_attempt_limit_needs_a_give_up() -> None:
    with pytest.raises(ValueError):
        stuck_reap(Document.objects.none(), put_back={"status": "pending"}, requeue=lambda row: None, max_attempts=1)
