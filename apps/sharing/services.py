"""Shared-artifact writes: publish content or a chat message at a new unguessable link; revoke it."""
from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.chat.models import MessageStatus
from apps.core.errors import Conflict, PayloadTooLarge, ValidationError
from apps.llm.crypto import encrypt_secret

from .models import Artifact, ArtifactContentType
from .selectors import message_for_sharing, token_digest

if TYPE_CHECKING:
    from apps.accounts.models import User

MAX_EXPIRES_IN = 366 * 24 * 3600
MESSAGE_CONTENT_TYPE = ArtifactContentType.MARKDOWN  # chat replies are Markdown


def artifact_url(token: str) -> str:
    """The public page of a link token (`SITE_URL/s/<token>`)."""
    return f"{settings.SITE_URL.rstrip('/')}/s/{token}"


def _content_checked(content: str, content_type: str) -> str:
    limit = settings.SHARING_MAX_CONTENT_BYTES
    size = len(content.encode("utf-8"))
    if size > limit:
        raise PayloadTooLarge(f"The content is {size} bytes; at most {limit} can be shared.",
                              details={"content": [f"At most {limit} bytes (UTF-8)."]})
    if content_type == ArtifactContentType.JSON:
        try:
            json.loads(content)
        except ValueError:
            raise ValidationError("The content is not valid JSON.", details={"content": ["Not valid JSON."]}) from None
    return content


@transaction.atomic
def artifact_create(*, user: User, title: str = "", content_type: str | None = None, content: str | None = None,
                    message_id: Any = None, expires_in: int | None = None) -> tuple[Artifact, str]:
    """Share content, or a chat message the caller can see, at a new link; returns the artifact and its token."""
    if (content is None) == (message_id is None):
        raise ValidationError("Give either content (with content_type) or message_id.",
                              details={"content": ["Give content or message_id, not both."]})
    if expires_in is not None and not 1 <= expires_in <= MAX_EXPIRES_IN:
        raise ValidationError("expires_in is out of range.", details={"expires_in": [f"1 to {MAX_EXPIRES_IN} seconds."]})
    message = None
    if message_id is not None:
        message = message_for_sharing(user=user, message_id=message_id)
        if message.status == MessageStatus.STREAMING:
            raise Conflict("This reply is still being generated; share it once it has finished.")
        if content_type not in (None, MESSAGE_CONTENT_TYPE):
            raise ValidationError("A shared message is Markdown; leave content_type out.",
                                  details={"content_type": ["Leave out with message_id."]})
        content_type, content = MESSAGE_CONTENT_TYPE, message.content
        title = title.strip() or (message.conversation.title or "Shared reply")
    if content_type not in ArtifactContentType.values:
        raise ValidationError(f"content_type must be one of: {', '.join(ArtifactContentType.values)}.",
                              details={"content_type": [f"One of: {', '.join(ArtifactContentType.values)}."]})
    title = title.strip()
    if not title:
        raise ValidationError("A shared artifact needs a title.", details={"title": ["This field may not be blank."]})
    assert content is not None  # one of the two branches above set it
    token = secrets.token_urlsafe(32)
    artifact = Artifact.objects.create(
        owner=user, title=title[:200], content_type=content_type, content=_content_checked(content, content_type),
        message=message, token_digest=token_digest(token), token_encrypted=encrypt_secret(token),
        expires_at=timezone.now() + timedelta(seconds=expires_in) if expires_in is not None else None,
    )
    return artifact, token


@transaction.atomic
def artifact_revoke(*, artifact: Artifact) -> None:
    """Revoke a link: the artifact is deleted, so its token finds nothing from now on."""
    artifact.delete()
