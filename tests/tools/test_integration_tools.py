"""send_email and slack_message as platform tools: listed once a connection is saved, run through the integrations services."""
from __future__ import annotations

import pytest

from apps.integrations import services as integrations
from apps.integrations.models import ConnectionKind
from tests.factories import UserFactory
from tests.fakes.slack_server import FakeSlack

from .conftest import key_client
from .test_api import _call, _client

pytestmark = pytest.mark.django_db

TOKEN = "xoxb-tools-0001-nexus"


def _names(client) -> set[str]:  # type: ignore[no-untyped-def]
    return {tool["name"] for tool in client.get("/api/v1/tools").json()["results"]}


def test_send_email_is_listed_after_the_opt_in_and_sends_through_the_mail_backend(mailoutbox) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    client = _client(user)
    assert "send_email" not in _names(client)
    refused = _call(client, "send_email", {"to": ["ana@example.com"], "subject": "Hi", "body": "Hello."})
    assert refused.status_code == 409 and "email connection" in refused.json()["error"]["message"]
    integrations.connection_create(user=user, kind=ConnectionKind.EMAIL, name="Mail")
    assert "send_email" in _names(client)
    answer = _call(client, "send_email", {"to": ["ana@example.com"], "subject": "Trip plan", "body": "Kyoto in April."})
    assert answer.status_code == 200, answer.content
    assert answer.json()["result"] == {"sent": True, "to": ["ana@example.com"], "subject": "Trip plan"}
    assert len(mailoutbox) == 1 and mailoutbox[0].reply_to == [user.email]
    eleven = _call(client, "send_email", {"to": [f"p{i}@example.com" for i in range(11)], "subject": "x", "body": "y"})
    assert eleven.status_code == 400 and "to" in eleven.json()["error"]["details"]
    # A key without `chat` does not see or run it.
    knowledge_only = key_client(user, ["knowledge"])
    assert "send_email" not in _names(knowledge_only)
    assert _call(knowledge_only, "send_email", {"to": "ana@example.com", "subject": "x", "body": "y"}).status_code == 403


def test_slack_message_posts_with_the_saved_token(settings) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory()
    client = _client(user)
    with FakeSlack(tokens=(TOKEN,)) as slack:
        settings.SLACK_API_URL = slack.url
        assert "slack_message" not in _names(client)
        integrations.connection_create(user=user, kind=ConnectionKind.SLACK, name="Team", secret=TOKEN)
        assert "slack_message" in _names(client)
        answer = _call(client, "slack_message", {"channel": "#general", "text": "Build finished."})
        assert answer.status_code == 200, answer.content
        assert answer.json()["result"]["posted"] is True and answer.json()["result"]["channel"] == "C0GENERAL01"
        assert slack.messages[-1]["text"] == "Build finished."
        missing = _call(client, "slack_message", {"channel": "#nowhere", "text": "Hi"})
        assert missing.status_code == 400
