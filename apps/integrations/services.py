"""Integration writes and actions: connections (secrets encrypted), send_email and slack_message.

`email_send` and `slack_message_send` are what the platform tools `send_email` and `slack_message`
call as the caller: every failure is an ApplicationError with a message a model can read and act on.
They call outside services, so they hold no database transaction while sending.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import BadHeaderError, EmailMessage
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from apps.core.errors import Conflict, ValidationError
from apps.core.ratelimit import ratelimit_count
from apps.llm.crypto import decrypt_secret, encrypt_secret

from .errors import ConnectionMissing, IntegrationUnavailable
from .models import Connection, ConnectionKind
from .selectors import connection_for_kind
from .slack import SlackPosted, slack_post

if TYPE_CHECKING:
    from apps.accounts.models import User

MAX_SECRET_CHARS = 4096
MAX_SUBJECT_CHARS = 200
MAX_EMAIL_BODY_CHARS = 100_000
MAX_SLACK_TEXT_CHARS = 40_000  # Slack truncates chat.postMessage text past 40 000 characters
MAX_CHANNEL_CHARS = 100


@dataclass(frozen=True)
class EmailSent:
    """What send_email did: the recipients the mail backend accepted the message for."""

    to: list[str]
    subject: str


@transaction.atomic
def connection_create(*, user: User, kind: str, name: str, secret: str = "") -> Connection:
    """Save a connection of the caller; the secret is stored encrypted and never returned."""
    if kind not in ConnectionKind.values:
        raise ValidationError(f"Unknown kind {kind!r}; one of: {', '.join(ConnectionKind.values)}.",
                              details={"kind": [f"Must be one of: {', '.join(ConnectionKind.values)}."]})
    name = name.strip()
    if not name:
        raise ValidationError("A connection needs a name.", details={"name": ["This field may not be blank."]})
    secret = secret.strip()
    if len(secret) > MAX_SECRET_CHARS:
        raise ValidationError("The secret is too long.", details={"secret": [f"At most {MAX_SECRET_CHARS} characters."]})
    if kind == ConnectionKind.SLACK and not secret.startswith("xox"):
        raise ValidationError("A slack connection needs a Slack bot token (xoxb-...).",
                              details={"secret": ["A Slack token starts with xox (a bot token: xoxb-...)."]})
    if kind == ConnectionKind.EMAIL and secret:
        raise ValidationError("An email connection takes no secret: mail goes through the platform's mail settings.",
                              details={"secret": ["Leave empty for an email connection."]})
    if Connection.objects.filter(owner=user, kind=kind).exists():
        raise Conflict(f"A {kind} connection is already saved; delete it first to replace it.")
    try:
        with transaction.atomic():
            return Connection.objects.create(owner=user, kind=kind, name=name,
                                             secret_encrypted=encrypt_secret(secret) if secret else "")
    except IntegrityError:  # a concurrent create of the same kind won the race
        raise Conflict(f"A {kind} connection is already saved; delete it first to replace it.") from None


@transaction.atomic
def connection_delete(*, connection: Connection) -> None:
    """Remove a connection and its secret."""
    connection.delete()


def _recipients(to: str | list[str]) -> list[str]:
    items = [part for part in (to.split(",") if isinstance(to, str) else to)]
    addresses = [str(item).strip() for item in items if str(item).strip()]
    if not addresses:
        raise ValidationError("Name at least one recipient.", details={"to": ["At least one address."]})
    limit = settings.EMAIL_SEND_MAX_RECIPIENTS
    if len(addresses) > limit:
        raise ValidationError(f"At most {limit} recipients per message ({len(addresses)} given).",
                              details={"to": [f"At most {limit} addresses."]})
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except DjangoValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(f"Not an email address: {', '.join(bad)}.", details={"to": [f"Not an email address: {a}" for a in bad]})
    return list(dict.fromkeys(addresses))  # each recipient once, in the order given


def email_send(*, user: User, to: str | list[str], subject: str, body: str) -> EmailSent:
    """Send a plain-text mail as the caller through the platform's mail backend (Reply-To: the caller)."""
    if connection_for_kind(user=user, kind=ConnectionKind.EMAIL) is None:
        raise ConnectionMissing("Email is not enabled for this user: save an email connection "
                                "(POST /api/v1/connections {kind: \"email\", name}) first.")
    recipients = _recipients(to)
    subject = subject.strip()
    if not subject or len(subject) > MAX_SUBJECT_CHARS or "\n" in subject or "\r" in subject:
        raise ValidationError("The subject must be one line of 1 to 200 characters.",
                              details={"subject": [f"One line, 1 to {MAX_SUBJECT_CHARS} characters."]})
    if len(body) > MAX_EMAIL_BODY_CHARS:
        raise ValidationError("The body is too long.", details={"body": [f"At most {MAX_EMAIL_BODY_CHARS} characters."]})
    # Counted before sending, so that failed attempts count too: a loop of a model cannot hammer the relay.
    ratelimit_count(group="integrations-email", key=str(user.pk), rate=settings.EMAIL_SEND_RATE)
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients,
                           reply_to=[user.email] if user.email else None)
    try:
        message.send(fail_silently=False)
    except BadHeaderError:
        raise ValidationError("The subject or an address holds a line break.") from None
    except OSError as exc:  # SMTP refused, unreachable or timed out (smtplib's errors are OSErrors)
        raise IntegrationUnavailable(f"The mail server could not send the message ({type(exc).__name__}).") from None
    return EmailSent(to=recipients, subject=subject)


def slack_message_send(*, user: User, channel: str, text: str) -> SlackPosted:
    """Post `text` to a Slack channel with the caller's saved bot token."""
    connection = connection_for_kind(user=user, kind=ConnectionKind.SLACK)
    if connection is None or not connection.secret_encrypted:
        raise ConnectionMissing("No Slack connection is saved: add a bot token with "
                                "POST /api/v1/connections {kind: \"slack\", name, secret} first.")
    channel = channel.strip()
    if not channel or len(channel) > MAX_CHANNEL_CHARS:
        raise ValidationError("Name a channel (#name or its id).", details={"channel": ["1 to 100 characters."]})
    if not text.strip():
        raise ValidationError("The message is empty.", details={"text": ["This field may not be blank."]})
    if len(text) > MAX_SLACK_TEXT_CHARS:
        raise ValidationError("The message is too long.", details={"text": [f"At most {MAX_SLACK_TEXT_CHARS} characters."]})
    return slack_post(token=decrypt_secret(connection.secret_encrypted), channel=channel, text=text)
