"""Every kind of ledger reference on the billing page links to what it names, through the owning app's `ledger_links`."""
from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.billing import services
from apps.chat.models import Message
from apps.chat.services import conversation_create
from apps.core.registry import NexusAppConfig, clear_cache, ledger_link, ledger_route
from apps.workflows.models import Run
from apps.workflows.services import workflow_create

pytestmark = pytest.mark.django_db


def _links(client: Client) -> dict[str, str | None]:
    """The ledger's references on the billing page, each with its link (None when shown as plain text)."""
    html = client.get("/billing/").content.decode()
    cells = re.findall(r'<td class="muted" data-testid="reference">(.*?)</td>', html, re.S)
    found: dict[str, str | None] = {}
    for cell in cells:
        link = re.match(r'<a href="([^"]+)">([^<]+)</a>', cell)
        if link:
            found[link.group(2)] = link.group(1).replace("&amp;", "&")
        else:
            found[cell.split(" · ")[0].strip()] = None
    return found


def test_every_reference_kind_links_to_its_object(user: Any) -> None:
    conversation = conversation_create(user=user, title="Trip")
    reply = Message.objects.create(conversation=conversation, role="assistant", content="Go north.")
    workflow, _secret = workflow_create(user=user, name="Flow", steps=[{"name": "a", "kind": "condition", "config": {"expression": "true"}}])
    run = Run.objects.create(workflow=workflow, user=user, version=workflow.version, steps=workflow.steps, input={})
    execution, build, task = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    references = {
        f"chat:{reply.pk}": f"/chat/?c={conversation.pk}",
        f"chat:{reply.pk}.r1": f"/chat/?c={conversation.pk}",  # a tool round of the same reply
        f"architect:{execution}:p1": f"/architect/executions/{execution}/",
        f"forge:{build}:plan": f"/forge/builds/{build}/",
        f"agent-task:{task}": f"/agents/tasks/{task}/",
        f"workflows:{run.pk}:0:1": f"/workflows/{workflow.pk}/",
        f"chat:{uuid.uuid4()}": None,  # a reply whose conversation was deleted
        "chat:not-an-id": None,
        f"gateway:{uuid.uuid4().hex}": None,  # an API call: nothing to open
        "something else": None,
    }
    for index, reference in enumerate(references):
        services.credit_charge(account_or_user=user, amount=Decimal("1"), reference=reference, idempotency_key=f"k{index}")
    client = Client()
    client.force_login(user)
    assert _links(client) == {**references, "account opened": None}  # the opening grant names nothing


def test_billing_page_queries_do_not_grow_with_linked_rows(user: Any) -> None:
    """A page full of chat and workflow charges reads each kind's objects in one query, not one per row."""
    workflow, _secret = workflow_create(user=user, name="Flow", steps=[{"name": "a", "kind": "condition", "config": {"expression": "true"}}])
    expected: dict[str, str] = {}

    def charge_rows(count: int) -> None:
        for _ in range(count):
            conversation = conversation_create(user=user, title="Trip")
            reply = Message.objects.create(conversation=conversation, role="assistant", content="Go north.")
            run = Run.objects.create(workflow=workflow, user=user, version=workflow.version, steps=workflow.steps, input={})
            for reference, url in ((f"chat:{reply.pk}", f"/chat/?c={conversation.pk}"), (f"workflows:{run.pk}:0:1", f"/workflows/{workflow.pk}/")):
                services.credit_charge(account_or_user=user, amount=Decimal("1"), reference=reference, idempotency_key=reference)
                expected[reference] = url

    def page_queries() -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            links = _links(client)
        assert links == {**expected, "account opened": None}  # every row is on the page, linked
        return [query["sql"] for query in captured.captured_queries]

    client = Client()
    client.force_login(user)
    charge_rows(1)
    _links(client)  # warm: the first request reads what later ones find cached
    few = page_queries()  # 2 linked rows
    charge_rows(8)
    many = page_queries()  # 18 linked rows (19 with the opening grant, one page of 20)
    assert len(many) == len(few)
    assert sum('FROM "chat_message"' in sql for sql in many) == 1  # one query for every chat row of the page
    assert sum('FROM "workflows_run"' in sql for sql in many) == 1


def test_ledger_route_links_each_ref_that_starts_with_an_id() -> None:
    """The resolver the agents, the architect and the forge declare: the ref's leading id in the route, nothing else linked."""
    build, other = uuid.uuid4(), uuid.uuid4()
    build_urls = ledger_route("forge:build", "build_id")
    assert build_urls([f"{build}:plan", f"{other}", "not-an-id", "", f"{build}.r1"]) == {
        f"{build}:plan": f"/forge/builds/{build}/",
        f"{other}": f"/forge/builds/{other}/",
    }
    assert build_urls([]) == {}


def test_two_apps_cannot_claim_one_origin() -> None:
    from django.apps import apps

    forge = apps.get_app_config("forge")
    assert isinstance(forge, NexusAppConfig)
    original = forge.ledger_links
    try:
        forge.ledger_links = {**original, "chat": original["forge"]}
        clear_cache()
        with pytest.raises(ImproperlyConfigured, match="'chat' is declared by both"):
            ledger_link("chat:x")
    finally:
        forge.ledger_links = original
        clear_cache()
