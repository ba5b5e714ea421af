"""Writes of the voice app: settings, sessions (create, touch, end, expire), webhook events."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.chat.models import Message, MessageStatus
from apps.chat.selectors import conversation_get_for_write
from apps.chat.services import ChatStart, chat_start, conversation_create
from apps.core.errors import ValidationError
from apps.llm.errors import ModelNotFound
from apps.llm.selectors import model_resolve_for_user

from .errors import VoiceSessionNotFound
from .models import VoiceConfig, VoiceSession, VoiceSessionStatus, VoiceWebhookEvent
from .selectors import CONFIG_FIELDS, voice_config_dict, voice_config_get, voice_session_idle_cutoff

if TYPE_CHECKING:
    from apps.accounts.models import User

MODEL_CAPABILITIES = {"stt_model_id": "stt", "tts_model_id": "tts", "chat_model_id": "chat"}


def _check_models(*, user: User, values: dict[str, Any]) -> None:
    """Each model id names a model the caller may use, with the capability of its field (400 naming the field)."""
    for field, capability in MODEL_CAPABILITIES.items():
        model_id = values.get(field)
        if not model_id:
            continue
        try:
            entry = model_resolve_for_user(user=user, model=str(model_id))
        except ModelNotFound as exc:
            raise ValidationError(exc.message, details={field: [exc.message]}) from exc
        speech_only = bool(entry.capabilities) and set(entry.capabilities) <= {"stt", "tts"}
        if (capability == "chat" and speech_only) or (capability != "chat" and capability not in entry.capabilities):
            message = f"The model '{entry.name}' has no `{capability}` capability."
            raise ValidationError(message, details={field: [message]})


@transaction.atomic
def voice_config_update(*, user: User, **values: Any) -> VoiceConfig:
    """Replace the caller's settings with `values` (fields left out take their defaults)."""
    unknown = set(values) - set(CONFIG_FIELDS)
    if unknown:
        raise ValidationError("Unknown settings.", details={name: ["Unknown field."] for name in sorted(unknown)})
    _check_models(user=user, values=values)
    config = VoiceConfig(user=user)
    for name, value in values.items():
        setattr(config, name, value if value is not None else getattr(VoiceConfig(user=user), name))
    config.save()
    return config


@transaction.atomic
def voice_session_create(*, user: User, conversation_id: Any = None, config: dict[str, Any] | None = None) -> VoiceSession:
    """A new session in a new (or the given, writable) conversation, with the caller's settings and `config` on top."""
    overrides = {name: value for name, value in (config or {}).items() if value is not None}
    unknown = set(overrides) - set(CONFIG_FIELDS)
    if unknown:
        raise ValidationError("Unknown settings.", details={f"config.{name}": ["Unknown field."] for name in sorted(unknown)})
    _check_models(user=user, values=overrides)
    effective = {**voice_config_dict(voice_config_get(user=user)), **{k: (str(v) if k.endswith("_model_id") else v)
                                                                     for k, v in overrides.items()}}
    if conversation_id:
        conversation = conversation_get_for_write(user=user, conversation_id=conversation_id)
    else:
        conversation = conversation_create(user=user, title=f"Voice {timezone.now():%Y-%m-%d %H:%M}")
    return VoiceSession.objects.create(user=user, conversation=conversation, config=effective)


def voice_session_touch(*, session: VoiceSession, turn: bool = False) -> None:
    """Mark the session used now (its idle clock restarts); `turn` counts a spoken turn."""
    changes: dict[str, Any] = {"last_active_at": timezone.now()}
    if turn:
        changes["turns"] = F("turns") + 1
    VoiceSession.objects.filter(pk=session.pk, status=VoiceSessionStatus.ACTIVE).update(**changes)


def voice_session_end(*, session: VoiceSession) -> VoiceSession:
    """End a session (idempotent): its WebSocket takes no more turns."""
    if session.status == VoiceSessionStatus.ACTIVE:
        session.status, session.ended_at = VoiceSessionStatus.ENDED, timezone.now()
        VoiceSession.objects.filter(pk=session.pk, status=VoiceSessionStatus.ACTIVE).update(status=session.status,
                                                                                            ended_at=session.ended_at)
    return session


def voice_sessions_expire() -> int:
    """Mark sessions idle for longer than VOICE_SESSION_IDLE_SECONDS `expired` (the reaper's job); returns how many."""
    return VoiceSession.objects.filter(status=VoiceSessionStatus.ACTIVE, last_active_at__lt=voice_session_idle_cutoff()).update(
        status=VoiceSessionStatus.EXPIRED, ended_at=timezone.now())


def voice_webhook_event_record(*, provider: str, event_type: str, external_id: str = "", payload: dict[str, Any],
                               session: VoiceSession | None = None) -> VoiceWebhookEvent:
    """Store one verified webhook call."""
    return VoiceWebhookEvent.objects.create(provider=provider, event_type=event_type[:100], external_id=external_id[:200],
                                            payload=payload, session=session)


# How much of the conversation a spoken turn sends the model (the newest messages).
TURN_HISTORY_MESSAGES = 20


def voice_turn_start(*, session: VoiceSession, user: User, text: str, chat_model_id: Any, api_key: Any = None) -> ChatStart:
    """Store the user's spoken text in the session's conversation and start the reply (chat's own checks, hold and slot)."""
    if session.conversation_id is None:
        raise VoiceSessionNotFound("This voice session's conversation was deleted.")
    history = list(
        Message.objects.filter(conversation_id=session.conversation_id, status=MessageStatus.COMPLETE)
        .exclude(content="").order_by("-created_at").values("role", "content")[:TURN_HISTORY_MESSAGES]
    )
    messages = [{"role": m["role"], "content": m["content"]} for m in reversed(history) if m["role"] in ("user", "assistant")]
    messages.append({"role": "user", "content": text})
    system_prompt = (session.config or {}).get("system_prompt") or VOICE_SYSTEM_PROMPT
    start = chat_start(user=user, api_key=api_key, messages=messages, model_id=str(chat_model_id), conversation_id=session.conversation_id,
                       system_prompt=system_prompt)
    voice_session_touch(session=session, turn=True)
    return start


VOICE_SYSTEM_PROMPT = "You are speaking with the user by voice: answer in short, plain sentences without markdown or lists."
