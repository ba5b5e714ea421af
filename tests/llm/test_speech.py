"""Speech models through the official `openai` SDK's audio API against the loopback fake, via `apps.llm.client`."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from apps.llm import client
from apps.llm.errors import ChatInputInvalid, ProviderRejected
from apps.llm.models import UsageRecord
from tests.factories import UserFactory
from tests.fakes.llm_server import audio_kind, tone_wav, wav_info

from .conftest import STT_COST_PER_MINUTE, TTS_COST_PER_MILLION, FakeModels

pytestmark = pytest.mark.django_db(transaction=True)


async def test_transcription_is_deterministic_and_priced_per_audio_minute(fake_models: FakeModels, speech_models: Any,
                                                                          fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    audio = tone_wav(1.5)
    prepared = await client.aspeech_prepare(user=user, model="fake-stt", capability="stt")
    first = await client.transcribe_prepared(prepared, audio=audio, filename="a.wav", media_type="audio/wav")
    again = await client.transcribe_prepared(await client.aspeech_prepare(user=user, model="fake-stt", capability="stt"),
                                             audio=audio, filename="a.wav", media_type="audio/wav")
    assert first.text and first.text == again.text
    assert first.duration_seconds == pytest.approx(1.5)
    assert first.language == "english"
    expected = (Decimal("1.5") / 60 * STT_COST_PER_MINUTE).quantize(Decimal("0.000001"))
    assert first.usage is not None and first.usage.cost == expected
    record = await sync_to_async(UsageRecord.objects.get)(pk=first.usage_record_id)
    assert (record.model_name, record.status, record.cost, record.origin) == ("fake-stt", "completed", expected, "voice")
    fake_llm.transcribe_as(audio, "Scripted words")
    scripted = await client.transcribe_prepared(await client.aspeech_prepare(user=user, model="fake-stt", capability="stt"),
                                                audio=audio, filename="a.wav", media_type="audio/wav")
    assert scripted.text == "Scripted words"


async def test_speech_returns_a_wav_priced_per_character(fake_models: FakeModels, speech_models: Any, fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    text = "Hello there, this is speech."
    prepared = await client.aspeech_prepare(user=user, model="fake-tts", capability="tts")
    audio = await client.speak_prepared(prepared, text=text, voice="alloy", audio_format="wav")
    assert audio_kind(audio.data) == "wav" and audio.media_type == "audio/wav"
    assert wav_info(audio.data)[0] > 0
    expected = (Decimal(len(text)) * TTS_COST_PER_MILLION / 1_000_000).quantize(Decimal("0.000001"))
    record = await sync_to_async(UsageRecord.objects.get)(pk=audio.usage_record_id)
    assert record.cost == expected and record.prompt_tokens == len(text)
    sent = fake_llm.wait_for(lambda r: r.path == "/v1/audio/speech")
    assert sent.body["input"] == text and sent.body["voice"] == "alloy" and sent.body["model"] == "fake-speech"


async def test_not_audio_is_rejected_by_the_provider_and_metered_at_zero(fake_models: FakeModels, speech_models: Any,
                                                                         fake_llm: Any) -> None:
    user = await sync_to_async(UserFactory)()
    prepared = await client.aspeech_prepare(user=user, model="fake-stt", capability="stt")
    with pytest.raises(ProviderRejected):
        await client.transcribe_prepared(prepared, audio=b"plain text, not audio", filename="a.wav", media_type="audio/wav")
    record = await sync_to_async(UsageRecord.objects.get)(request_id=prepared.request_id)
    assert record.status == "failed" and record.cost == 0


async def test_capabilities_are_checked(fake_models: FakeModels, speech_models: Any) -> None:
    user = await sync_to_async(UserFactory)()
    with pytest.raises(ChatInputInvalid):
        await client.aspeech_prepare(user=user, model="fake-openai", capability="stt")
    with pytest.raises(ChatInputInvalid):
        await client.aspeech_prepare(user=user, model="fake-stt", capability="tts")
    with pytest.raises(ChatInputInvalid):  # a speech model cannot chat
        await client.achat_prepare(user=user, model="fake-tts", messages=[{"role": "user", "content": "hi"}])
