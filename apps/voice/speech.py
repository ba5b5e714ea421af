"""One-shot speech calls, held and settled through the metering seam: transcribe audio, synthesize text.

Used by the HTTP routes, the spoken turn and the telephony webhook. Audio is checked before any
provider call: not audio is 415, silent audio 400, and neither costs anything. A transcript that
comes back empty is also "no speech": its hold is released, so nothing is charged for it.
"""
from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings

from apps.billing.metering import aamount_hold, call_release, call_settle
from apps.llm.client import aspeech_prepare, speak_prepared, transcribe_prepared, transcription_cost
from apps.llm.providers.base import SpeechAudio, Transcription

from .audio import SPEECH_FORMATS, audio_inspect
from .errors import AudioNotRecognized, AudioTooLarge, NoSpeech, SpeechTextTooLong

if TYPE_CHECKING:
    from apps.accounts.models import User

MILLION = Decimal(1_000_000)


def speech_cost_ceiling(*, characters: int, input_cost: Any) -> Decimal:
    """Credits `characters` of speech cost at `input_cost` credits per 1M characters (rounded up to the micro-credit)."""
    raw = Decimal(characters) * Decimal(str(input_cost)) / MILLION
    return Decimal(math.ceil(raw * MILLION)) / MILLION


def _settle(settlements: list[asyncio.Task[None]] | None, **kwargs: Any) -> Awaitable[None]:
    """Settle now, or (a turn in progress) in the background, collected in `settlements` for the turn to await at its end."""
    if settlements is None:
        return call_settle(**kwargs)
    settlements.append(asyncio.ensure_future(call_settle(**kwargs)))
    return asyncio.sleep(0)


async def transcription_run(*, user: User, audio: bytes, model: Any, language: str = "", api_key: Any = None,
                            origin: str = "voice", settlements: list[asyncio.Task[None]] | None = None) -> Transcription:
    """The text of `audio` (wav, mp3, webm, ogg; sniffed from the bytes), charged per audio minute; holds first.

    `settlements`: settle the hold in the background and add the task there (a spoken turn goes on at once).
    """
    if len(audio) > settings.VOICE_MAX_AUDIO_BYTES:
        raise AudioTooLarge(f"Audio is limited to {settings.VOICE_MAX_AUDIO_BYTES} bytes.")
    info = audio_inspect(audio)
    if info is None:
        raise AudioNotRecognized("The file is not audio in a supported format (wav, mp3, webm, ogg).")
    if info.silent:
        raise NoSpeech("The audio is silent.", details={"file": ["No speech was heard."]})
    prepared = await aspeech_prepare(user=user, model=model, capability="stt", api_key=api_key, origin=origin)
    ceiling = transcription_cost(seconds=math.ceil(info.seconds) + 1, per_minute=prepared.model.audio_cost_per_minute)
    hold = await aamount_hold(user=user, amount=ceiling, origin=f"{origin}-stt", model_name=prepared.model.name)
    try:
        result = await transcribe_prepared(prepared, audio=audio, filename=f"audio.{info.kind}", media_type=info.media_type,
                                           language=language)
    except BaseException:
        await call_settle(reservation=hold, prepared=prepared)  # whatever the usage record says was spent (a failure: nothing)
        raise
    if not result.text.strip():
        await call_release(reservation=hold)
        raise NoSpeech("No speech was heard in the audio.", details={"file": ["No speech was heard."]})
    await _settle(settlements, reservation=hold, prepared=prepared, finish=result)
    return result


async def speech_run(*, user: User, text: str, model: Any, voice: str = "alloy", audio_format: str = "mp3", api_key: Any = None,
                     origin: str = "voice", settlements: list[asyncio.Task[None]] | None = None) -> SpeechAudio:
    """`text` spoken (at most VOICE_MAX_SPEECH_CHARS characters), charged per character; holds first (`settlements` as above)."""
    if not text.strip():
        raise SpeechTextTooLong("There is no text to speak.", details={"text": ["This field may not be blank."]})
    if len(text) > settings.VOICE_MAX_SPEECH_CHARS:
        message = f"At most {settings.VOICE_MAX_SPEECH_CHARS} characters."
        raise SpeechTextTooLong(message, details={"text": [message]})
    if audio_format not in SPEECH_FORMATS:
        raise SpeechTextTooLong("Unknown audio format.", details={"format": [f"One of {', '.join(SPEECH_FORMATS)}."]})
    prepared = await aspeech_prepare(user=user, model=model, capability="tts", api_key=api_key, origin=origin)
    ceiling = speech_cost_ceiling(characters=len(text), input_cost=prepared.model.input_cost)
    hold = await aamount_hold(user=user, amount=ceiling, origin=f"{origin}-tts", model_name=prepared.model.name)
    try:
        result = await speak_prepared(prepared, text=text, voice=voice or "alloy", audio_format=audio_format)
    except BaseException:
        await call_settle(reservation=hold, prepared=prepared)
        raise
    await _settle(settlements, reservation=hold, prepared=prepared, finish=result)
    return result
