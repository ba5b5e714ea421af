"""How a streamed reply is cut into sentences to speak while the rest is still being generated."""
from __future__ import annotations

from apps.voice.audio import audio_inspect, audio_sniff, wav_from_pcm16
from apps.voice.turns import MAX_SENTENCE_CHARS, sentences_split
from tests.fakes.llm_server import tone_wav


def test_complete_sentences_go_first_and_the_rest_waits() -> None:
    assert sentences_split("Hello there. How are", final=False) == (["Hello there."], "How are")
    assert sentences_split("Really?! Yes \u201cquoted.\u201d Next", final=False) == (["Really?!", "Yes \u201cquoted.\u201d"], "Next")
    assert sentences_split("The end.", final=False) == (["The end."], "")  # no need to wait for the reply's finish
    assert sentences_split("It costs 3.", final=False) == ([], "It costs 3.")  # may become 3.5
    assert sentences_split("It costs 3.5 now. And", final=False) == (["It costs 3.5 now."], "And")
    assert sentences_split("tail words", final=True) == (["tail words"], "")


def test_a_long_run_without_a_stop_is_cut_at_a_space() -> None:
    words = "word " * 100
    spoken, rest = sentences_split(words, final=False)
    assert spoken and all(len(part) <= MAX_SENTENCE_CHARS for part in spoken)
    assert " ".join(spoken + [rest]).split() == words.split()


def test_audio_is_recognized_by_its_content() -> None:
    assert audio_sniff(tone_wav(0.2)) == "wav"
    assert audio_sniff(b"OggS\x00\x02" + b"\x00" * 30) == "ogg"
    assert audio_sniff(b"\x1a\x45\xdf\xa3" + b"\x00" * 30) == "webm"
    assert audio_sniff(b"ID3\x04\x00" + b"\x00" * 30) == "mp3"
    assert audio_sniff(b"%PDF-1.7 not audio") is None
    info = audio_inspect(wav_from_pcm16(b"\x00\x00" * 16000, sample_rate=16000))
    assert info is not None and info.silent and info.seconds == 1.0
    loud = audio_inspect(tone_wav(0.5))
    assert loud is not None and not loud.silent and loud.seconds == 0.5
    assert audio_inspect(b"RIFF\x00\x00\x00\x00WAVEjunk") is None  # a WAV whose chunks are broken
