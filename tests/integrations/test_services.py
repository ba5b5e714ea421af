"""send_email through Django's mail backend and slack_message through the real slack-sdk against the fake Slack."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.core.errors import RateLimited, ValidationError
from apps.integrations import services
from apps.integrations.errors import ConnectionMissing, IntegrationBadRequest, IntegrationRefused, IntegrationUnavailable
from apps.integrations.models import ConnectionKind
from tests.fakes.slack_server import FakeSlack

pytestmark = pytest.mark.django_db

GOOD = "xoxb-good-0001-nexus"


@pytest.fixture
def slack(settings) -> Iterator[FakeSlack]:  # type: ignore[no-untyped-def]
    """The fake Slack Web API on loopback, with SLACK_API_URL pointed at it."""
    with FakeSlack(tokens=(GOOD,)) as fake:
        settings.SLACK_API_URL = fake.url
        yield fake


@pytest.fixture
def mail_enabled(user):  # type: ignore[no-untyped-def]
    """The user has opted in to send_email."""
    return services.connection_create(user=user, kind=ConnectionKind.EMAIL, name="Mail")


def test_email_is_sent_through_the_mail_backend(user, mail_enabled, mailoutbox, settings) -> None:  # type: ignore[no-untyped-def]
    sent = services.email_send(user=user, to=["ana@example.com", "bo@example.com"], subject="Trip plan", body="Kyoto in April.")
    assert sent.to == ["ana@example.com", "bo@example.com"]
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["ana@example.com", "bo@example.com"] and mail.subject == "Trip plan" and mail.body == "Kyoto in April."
    assert mail.from_email == settings.DEFAULT_FROM_EMAIL and mail.reply_to == [user.email]


def test_email_needs_an_email_connection(user, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectionMissing) as caught:
        services.email_send(user=user, to="ana@example.com", subject="Hi", body="x")
    assert caught.value.status_code == 409 and "connection" in caught.value.message
    assert mailoutbox == []


def test_eleven_recipients_are_refused(user, mail_enabled, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as caught:
        services.email_send(user=user, to=[f"p{i}@example.com" for i in range(11)], subject="Hi", body="x")
    assert caught.value.status_code == 400 and "to" in (caught.value.details or {})
    assert mailoutbox == []
    services.email_send(user=user, to=[f"p{i}@example.com" for i in range(10)], subject="Hi", body="x")
    assert len(mailoutbox) == 1


def test_bad_addresses_and_header_injection_are_refused(user, mail_enabled, mailoutbox) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError):
        services.email_send(user=user, to="not-an-address", subject="Hi", body="x")
    with pytest.raises(ValidationError):
        services.email_send(user=user, to="ana@example.com", subject="Hi\nBcc: all@example.com", body="x")
    assert mailoutbox == []


def test_email_is_rate_limited_per_user(user, other_user, mailoutbox, settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMAIL_SEND_RATE = "3/h"
    for owner in (user, other_user):
        services.connection_create(user=owner, kind=ConnectionKind.EMAIL, name="Mail")
    for _ in range(3):
        services.email_send(user=user, to="ana@example.com", subject="Hi", body="x")
    with pytest.raises(RateLimited) as caught:
        services.email_send(user=user, to="ana@example.com", subject="Hi", body="x")
    assert caught.value.status_code == 429 and caught.value.retry_after > 0
    assert len(mailoutbox) == 3
    services.email_send(user=other_user, to="ana@example.com", subject="Hi", body="x")  # another user's budget
    assert len(mailoutbox) == 4


def test_slack_message_goes_through_the_sdk_with_the_saved_token(user, slack) -> None:  # type: ignore[no-untyped-def]
    services.connection_create(user=user, kind=ConnectionKind.SLACK, name="Team", secret=GOOD)
    posted = services.slack_message_send(user=user, channel="#general", text="Build finished.")
    assert posted.channel == "C0GENERAL01" and posted.ts
    assert slack.messages == [{"type": "message", "text": "Build finished.", "user": "U0BOT00001", "bot_id": "B0BOT00001",
                               "ts": posted.ts, "channel": "C0GENERAL01"}]
    assert slack.requests[-1]["method"] == "chat.postMessage" and slack.requests[-1]["token"] == GOOD


def test_slack_bad_token_is_a_clear_error(user, slack) -> None:  # type: ignore[no-untyped-def]
    services.connection_create(user=user, kind=ConnectionKind.SLACK, name="Team", secret="xoxb-revoked-token")
    with pytest.raises(IntegrationRefused) as caught:
        services.slack_message_send(user=user, channel="#general", text="Hello")
    assert caught.value.status_code == 409
    assert "invalid_auth" in caught.value.message and "token" in caught.value.message
    assert slack.messages == []


def test_slack_unknown_channel_and_no_connection(user, slack) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectionMissing):
        services.slack_message_send(user=user, channel="#general", text="Hello")
    services.connection_create(user=user, kind=ConnectionKind.SLACK, name="Team", secret=GOOD)
    with pytest.raises(IntegrationBadRequest) as caught:
        services.slack_message_send(user=user, channel="#nowhere", text="Hello")
    assert caught.value.status_code == 400 and caught.value.details == {"slack_error": "channel_not_found"}


def test_slack_rate_limit_and_outage(user, slack, settings) -> None:  # type: ignore[no-untyped-def]
    services.connection_create(user=user, kind=ConnectionKind.SLACK, name="Team", secret=GOOD)
    slack.rate_limited_for = 1
    with pytest.raises(RateLimited) as caught:
        services.slack_message_send(user=user, channel="#general", text="Hello")
    assert caught.value.retry_after == 7
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there
    with pytest.raises(IntegrationUnavailable):
        services.slack_message_send(user=user, channel="#general", text="Hello")
