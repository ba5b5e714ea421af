"""One spoken turn: the user's audio to text, the chat reply streamed, its speech sent sentence by sentence.

    audio (wav, webm, ogg, mp3, or raw pcm16) --stt--> `transcript`
        --chat (apps.chat: the turn is stored in the session's conversation, held and settled there)-->
        `text-delta` ... --each complete sentence, while the text goes on--> tts --> `audio:response {seq, format, data}`
        --> `turn:complete {message_id, usage, cost}`

A turn runs as its own task, so the WebSocket keeps reading: a new `audio:start` cancels the turn
being spoken (`SpokenTurn.interrupt`), which stops the reply's generation through chat's cancel flag
and abandons the speech still to come; each part is charged for what it produced, nothing more.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.chat.generation import reply_generate, reply_spawn
from apps.chat.models import Message
from apps.chat.selectors import reply_stream_key
from apps.chat.services import reply_stop
from apps.core.db import db_sync_to_async
from apps.core.errors import ApplicationError
from apps.core.streams import subscribe

from .audio import wav_from_pcm16
from .models import VoiceSession
from .selectors import TurnModels, turn_models
from .services import voice_turn_start
from .speech import speech_run, transcription_run

if TYPE_CHECKING:
    from apps.accounts.models import User

logger = logging.getLogger("nexus.voice")

Send = Callable[[dict[str, Any]], Awaitable[None]]
SPEECH_FORMAT = "wav"
# A sentence ends at . ! ? (and closing quotes or brackets) followed by white space, or at the end of the reply.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d)\]]*(\s+|$)")
# A long run without an ending is spoken anyway, cut at a space, so speech never waits on a whole paragraph.
MAX_SENTENCE_CHARS = 240


def sentences_split(buffer: str, *, final: bool) -> tuple[list[str], str]:
    """The complete sentences at the start of `buffer`, and what is left (all of it is a sentence when `final`)."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(buffer):
        if not match.group(1) and not final and buffer[max(0, match.start() - 1)].isdigit():
            break  # "3." at the very end may yet become "3.5"; a word's final stop is spoken without waiting for more
        sentences.append(buffer[start:match.end()].strip())
        start = match.end()
    rest = buffer[start:]
    while len(rest) > MAX_SENTENCE_CHARS:
        cut = rest.rfind(" ", 0, MAX_SENTENCE_CHARS)
        cut = cut if cut > 0 else MAX_SENTENCE_CHARS
        sentences.append(rest[:cut].strip())
        rest = rest[cut:].lstrip()
    if final and rest.strip():
        sentences.append(rest.strip())
        rest = ""
    return [sentence for sentence in sentences if sentence], rest


def _cost(value: Any) -> Decimal:
    return Decimal(str(value or 0))


class SpokenTurn:
    """One turn of a voice session; `run()` sends its events through `send`, `interrupt()` stops it."""

    def __init__(self, *, session: VoiceSession, user: User, audio: bytes, audio_format: str, sample_rate: int | None, send: Send,
                 api_key: Any = None) -> None:
        self.session, self.user, self.send, self.api_key = session, user, send, api_key
        self.audio, self.audio_format, self.sample_rate = audio, audio_format, sample_rate
        self.reply_id: Any = None
        self.task: asyncio.Task[None] | None = None
        self.speech_cost = Decimal(0)
        self.speech_characters = 0
        self.seq = 0
        # Settlements of the turn's speech calls, running behind it; awaited before `turn:complete`.
        self.settlements: list[asyncio.Task[None]] = []

    def start(self) -> asyncio.Task[None]:
        """Run the turn as its own task."""
        self.task = asyncio.ensure_future(self.run())
        return self.task

    async def interrupt(self, *, notify: bool = True) -> None:
        """Stop the turn (its reply's generation and its speech) and wait until it has settled what it used."""
        if self.task is None or self.task.done():
            return
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        if notify and self.reply_id is not None:
            await self.send({"type": "turn:interrupted", "data": {"message_id": str(self.reply_id)}})

    async def run(self) -> None:
        """The whole turn; an ApplicationError becomes an `error` event."""
        try:
            await self._run()
        except ApplicationError as exc:
            await self._settled()
            await self.send({"type": "error", "data": {"code": exc.code, "message": exc.message}})
        except asyncio.CancelledError:
            if self.reply_id is not None:
                # Chat's cancel flag: the generation stops within RUN_CANCEL_POLL_SECONDS and settles what it produced.
                await asyncio.shield(db_sync_to_async(reply_stop)(message=Message(pk=self.reply_id)))
            await asyncio.shield(self._settled())
            raise
        except Exception:
            logger.exception("Voice turn of session %s failed", self.session.pk)
            await self.send({"type": "error", "data": {"code": "INTERNAL_ERROR", "message": "The turn failed."}})

    async def _settled(self) -> None:
        """Wait for the settlements running behind the turn (each is its own task: a cancel does not stop them)."""
        if self.settlements:
            await asyncio.gather(*self.settlements, return_exceptions=True)

    async def _run(self) -> None:
        models: TurnModels = await db_sync_to_async(turn_models)(user=self.user, config=self.session.config)
        audio = self.audio
        if self.audio_format == "pcm16":
            audio = wav_from_pcm16(audio, sample_rate=self.sample_rate or 16000)
        config = self.session.config or {}
        heard = await transcription_run(user=self.user, audio=audio, model=models.stt.id, language=config.get("language") or "",
                                        api_key=self.api_key, settlements=self.settlements)
        await self.send({"type": "transcript", "data": {"text": heard.text}})
        starting = asyncio.ensure_future(db_sync_to_async(voice_turn_start)(
            session=self.session, user=self.user, text=heard.text, chat_model_id=models.chat.id, api_key=self.api_key))
        try:
            start = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Interrupted while the reply was being stored: it exists (with its hold), so it is started and stopped
            # like any other, and its generation settles it; a reply left `streaming` would wait for the reaper.
            start = await starting
            self.reply_id = start.reply.id
            reply_spawn(start)
            raise
        self.reply_id = start.reply.id
        reply_spawn(start)
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        speaker = asyncio.ensure_future(self._speak(sentences, models=models, voice=config.get("voice") or "alloy"))
        final: dict[str, Any] = {}
        try:
            buffer = ""
            async for event in subscribe(reply_stream_key(start.reply.id)):
                data = event.data
                if data.get("type") == "text-delta":
                    await self.send({"type": "text-delta", "data": {"content": data.get("content", "")}})
                    ready, buffer = sentences_split(buffer + data.get("content", ""), final=False)
                    for sentence in ready:
                        sentences.put_nowait(sentence)
                elif event.final:
                    final = data
            ready, buffer = sentences_split(buffer, final=True)
            for sentence in ready:
                sentences.put_nowait(sentence)
            sentences.put_nowait(None)
            await speaker
        finally:
            if not speaker.done():
                speaker.cancel()
                await asyncio.gather(speaker, return_exceptions=True)
        await self._settled()
        if final.get("type") == "error":
            error = final.get("error") or {}
            await self.send({"type": "error", "data": {"code": error.get("code", "INTERNAL_ERROR"), "message": error.get("message", "")}})
            return
        reply_usage = final.get("usage") or {}
        stt_cost = _cost(heard.usage.cost if heard.usage else 0)
        total = stt_cost + _cost(reply_usage.get("cost")) + self.speech_cost
        usage = {
            "audio_seconds": heard.duration_seconds,
            "prompt_tokens": reply_usage.get("prompt_tokens", 0), "completion_tokens": reply_usage.get("completion_tokens", 0),
            "total_tokens": reply_usage.get("total_tokens", 0), "speech_characters": self.speech_characters,
            "transcription_cost": float(stt_cost), "reply_cost": float(_cost(reply_usage.get("cost"))),
            "speech_cost": float(self.speech_cost),
        }
        await self.send({"type": "turn:complete", "data": {"message_id": str(start.reply.id), "usage": usage, "cost": float(total)}})

    async def _speak(self, sentences: asyncio.Queue[str | None], *, models: TurnModels, voice: str) -> None:
        """Speak each sentence as it arrives, in order, while the reply's text goes on."""
        while (sentence := await sentences.get()) is not None:
            audio = await speech_run(user=self.user, text=sentence, model=models.tts.id, voice=voice, audio_format=SPEECH_FORMAT,
                                     api_key=self.api_key, settlements=self.settlements)
            self.speech_cost += _cost(audio.usage.cost if audio.usage else 0)
            self.speech_characters += len(sentence)
            self.seq += 1
            await self.send({"type": "audio:response", "seq": self.seq, "data": {
                "seq": self.seq, "format": SPEECH_FORMAT, "data": base64.b64encode(audio.data).decode("ascii")}})


async def voice_reply_text(*, session: VoiceSession, user: User, text: str) -> str:
    """The whole reply to `text` in the session's conversation, not streamed (telephony speaks it itself)."""
    models: TurnModels = await db_sync_to_async(turn_models)(user=user, config=session.config)
    start = await db_sync_to_async(voice_turn_start)(session=session, user=user, text=text, chat_model_id=models.chat.id)
    await reply_generate(start)
    reply = await db_sync_to_async(Message.objects.get)(pk=start.reply.id)
    return reply.content or "Sorry, I could not answer that."
