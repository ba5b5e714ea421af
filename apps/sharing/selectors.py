"""Shared-artifact reads: the owner's list, and the public lookup by link token."""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.chat.models import Message
from apps.chat.selectors import conversation_list
from apps.core.errors import NotFound
from apps.core.selectors import get_or_404
from apps.llm.crypto import decrypt_secret

from .models import Artifact

if TYPE_CHECKING:
    from apps.accounts.models import User

# secrets.token_urlsafe(32) is 43 characters; anything far from that cannot be a token.
MAX_TOKEN_CHARS = 100


def token_digest(token: str) -> str:
    """The SHA-256 hex digest under which a link token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def artifact_list(*, user: User) -> QuerySet[Artifact]:
    """The caller's shared artifacts, newest first (expired ones included, marked by `expires_at`)."""
    return Artifact.objects.filter(owner=user).defer("content")


def artifact_get(*, user: User, artifact_id: Any) -> Artifact:
    """One of the caller's artifacts, else 404."""
    return get_or_404(artifact_list(user=user), "Artifact not found.", pk=artifact_id)


def artifact_by_token(*, token: str) -> Artifact:
    """The live artifact behind a link, for anyone holding it; 404 when unknown, revoked or expired."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise NotFound("Shared artifact not found.")
    found = (Artifact.objects.filter(token_digest=token_digest(token))
             .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())).first())
    if found is None:
        raise NotFound("Shared artifact not found.")
    return found


def artifact_token(*, artifact: Artifact) -> str:
    """The link token of one of the caller's artifacts (decrypted for its owner's list)."""
    return decrypt_secret(artifact.token_encrypted)


def message_for_sharing(*, user: User, message_id: Any) -> Message:
    """A chat message in a conversation the caller can see, else 404."""
    visible = Message.objects.filter(conversation__in=conversation_list(user=user).values("pk"))
    return get_or_404(visible, "Message not found.", pk=message_id)
