"""WS /ws/voice/{session_id}: one spoken turn after another (API.md, Voice).

Client: `audio:start {data: {format: pcm16|wav|webm|ogg|mp3, sample_rate?}}`, the audio as binary frames
or `audio:chunk {data: "<base64>"}`, then `audio:end`. Server: `connected`, `transcript {text}`,
`text-delta {content}`, `audio:response {seq, format, data}`, `turn:complete {message_id, usage, cost}`,
`turn:interrupted {message_id}` (a new `audio:start` cut the turn being spoken), `error {code, message}`.
Only the session's owner connects (someone else's or an unknown session: 4404; no `voice` tool: 4403);
an ended or idle-expired session is refused with 4404 too.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings

from apps.accounts.selectors import user_has_tool
from apps.core.consumers import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, JsonConsumer
from apps.core.db import db_sync_to_async

from .models import VoiceSession
from .selectors import voice_session_live
from .services import voice_session_touch
from .turns import SpokenTurn

FORMATS = ("pcm16", "wav", "webm", "ogg", "mp3")


@db_sync_to_async
def _session_for(user: Any, session_id: str) -> tuple[int, VoiceSession | None]:
    if not user_has_tool(user, "voice"):
        return CLOSE_FORBIDDEN, None
    try:
        session = voice_session_live(user=user, session_id=session_id)
    except Exception:  # unknown, someone else's, ended, expired, or a malformed id: all look the same
        return CLOSE_NOT_FOUND, None
    voice_session_touch(session=session)
    return 0, session


class VoiceConsumer(JsonConsumer):
    """A voice session's socket: records a turn's audio, runs it, and lets a new turn interrupt the one being spoken."""

    session: VoiceSession
    recording: bytearray | None = None
    audio_format = "webm"
    sample_rate: int | None = None
    turn: SpokenTurn | None = None

    async def on_connect(self) -> None:
        user = self.scope["user"]
        code, session = await _session_for(user, self.scope["url_route"]["kwargs"]["session_id"])
        if session is None:
            await self.close_with(code)
            return
        self.session = session
        await self.send_json({"type": "connected", "data": {"session_id": str(session.pk),
                                                            "conversation_id": str(session.conversation_id or "") or None}})

    async def disconnect(self, code: int) -> None:
        if self.turn is not None:
            await self.turn.interrupt(notify=False)  # nobody is listening: stop paying for the reply and its speech

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if bytes_data is not None:
            await self._append(bytes_data)
            return
        await super().receive(text_data=text_data, **kwargs)

    async def _append(self, chunk: bytes) -> None:
        if self.recording is None:
            await self.send_error("VALIDATION_ERROR", "Send `audio:start` before the audio.")
            return
        if len(self.recording) + len(chunk) > settings.VOICE_MAX_AUDIO_BYTES:
            self.recording = None
            await self.send_error("PAYLOAD_TOO_LARGE", f"A turn's audio is limited to {settings.VOICE_MAX_AUDIO_BYTES} bytes.")
            return
        self.recording += chunk

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content["type"]
        if kind == "audio:start":
            await self._start(content.get("data"))
        elif kind == "audio:chunk":
            data = content.get("data")
            try:
                chunk = base64.b64decode(data, validate=True) if isinstance(data, str) else None
            except (binascii.Error, ValueError):
                chunk = None
            if chunk is None:
                await self.send_error("VALIDATION_ERROR", "`audio:chunk` carries base64 audio in `data`.")
                return
            await self._append(chunk)
        elif kind == "audio:end":
            await self._end()
        else:
            await self.send_error("VALIDATION_ERROR", f"Unknown message type `{kind}`.")

    async def _start(self, data: Any) -> None:
        if self.turn is not None:
            await self.turn.interrupt()  # the user speaks over the reply: stop it
            self.turn = None
        options = data if isinstance(data, dict) else {}
        audio_format = options.get("format", "webm")
        sample_rate = options.get("sample_rate")
        if audio_format not in FORMATS:
            await self.send_error("VALIDATION_ERROR", f"`format` is one of {', '.join(FORMATS)}.")
            return
        if sample_rate is not None and (isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 96000):
            await self.send_error("VALIDATION_ERROR", "`sample_rate` is an integer from 8000 to 96000.")
            return
        code, session = await _session_for(self.scope["user"], str(self.session.pk))
        if session is None:
            await self.send_error("NOT_FOUND", "This voice session has ended.")
            await self.close_with(code)
            return
        self.session = session
        self.recording, self.audio_format, self.sample_rate = bytearray(), audio_format, sample_rate

    async def _end(self) -> None:
        if self.recording is None:
            await self.send_error("VALIDATION_ERROR", "Send `audio:start` and the audio before `audio:end`.")
            return
        audio, self.recording = bytes(self.recording), None
        self.turn = SpokenTurn(session=self.session, user=self.scope["user"], audio=audio, audio_format=self.audio_format,
                               sample_rate=self.sample_rate, send=self.send_json)
        self.turn.start()
