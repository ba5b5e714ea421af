"""Reads of the voice app, scoped to the caller: settings, sessions, the models a turn uses."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from apps.core.selectors import get_or_404
from apps.llm.errors import ModelNotFound
from apps.llm.selectors import ModelEntry, model_list_for_user, model_resolve_for_user

from .errors import VoiceSessionNotFound
from .models import VoiceConfig, VoiceSession, VoiceSessionStatus

if TYPE_CHECKING:
    from apps.accounts.models import User

CONFIG_FIELDS = ("stt_model_id", "tts_model_id", "chat_model_id", "voice", "language", "system_prompt")


def voice_config_get(*, user: User) -> VoiceConfig:
    """The caller's settings (unsaved defaults when they never saved any)."""
    return VoiceConfig.objects.filter(user=user).first() or VoiceConfig(user=user)


def voice_config_dict(config: VoiceConfig) -> dict[str, Any]:
    """The settings as API.md shows them (model ids as strings or null)."""
    return {name: (str(value) if name.endswith("_model_id") and value else value) for name in CONFIG_FIELDS
            for value in [getattr(config, name)]}


def voice_session_list(*, user: User) -> QuerySet[VoiceSession]:
    """The caller's sessions, newest first."""
    return VoiceSession.objects.filter(user=user)


def voice_session_get(*, user: User, session_id: Any) -> VoiceSession:
    """One of the caller's sessions; another user's is 404."""
    return get_or_404(voice_session_list(user=user), "Voice session not found.", pk=session_id)


def voice_session_idle_cutoff() -> Any:
    """Sessions not used since this moment have expired."""
    return timezone.now() - timedelta(seconds=settings.VOICE_SESSION_IDLE_SECONDS)


def voice_session_live(*, user: User, session_id: Any) -> VoiceSession:
    """One of the caller's sessions that is still active and not idle too long (else 404)."""
    session = VoiceSession.objects.filter(user=user, pk=session_id).first()
    if session is None or session.status != VoiceSessionStatus.ACTIVE or session.last_active_at < voice_session_idle_cutoff():
        raise VoiceSessionNotFound("Voice session not found, ended or expired.")
    return session


def speech_model_default(*, user: User, capability: str) -> ModelEntry:
    """The first usable model (by name) with `capability` the caller's tier allows; 404 when there is none."""
    for entry in model_list_for_user(user=user):
        if capability in entry.capabilities:
            return entry
    raise ModelNotFound(f"No active model has the `{capability}` capability; an administrator can add one under Admin > Models.")


def chat_model_default(*, user: User) -> ModelEntry:
    """The first usable chat model the caller's tier allows (a model without capabilities listed counts as chat)."""
    candidates = [entry for entry in model_list_for_user(user=user) if "chat" in entry.capabilities or not entry.capabilities]
    if not candidates:
        raise ModelNotFound("No active chat model; an administrator can add one under Admin > Models.")
    # A real provider's model before the offline responder.
    return next((entry for entry in candidates if entry.provider_kind != "local"), candidates[0])


@dataclass(frozen=True, slots=True)
class TurnModels:
    """The three models one spoken turn uses."""

    stt: ModelEntry
    tts: ModelEntry
    chat: ModelEntry


def turn_models(*, user: User, config: dict[str, Any]) -> TurnModels:
    """The session's models (its settings, else the defaults), checked for the caller's tier."""
    def pick(key: str, capability: str) -> ModelEntry:
        if config.get(key):
            return model_resolve_for_user(user=user, model=config[key])
        if capability == "chat":
            return chat_model_default(user=user)
        return speech_model_default(user=user, capability=capability)

    return TurnModels(stt=pick("stt_model_id", "stt"), tts=pick("tts_model_id", "tts"), chat=pick("chat_model_id", "chat"))
