"""Audio bytes: the container sniffed from the content (never the file name), WAV length and silence, raw PCM wrapped as WAV.

A leaf module: the services, the spoken turn and the views all use it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "webm": "audio/webm", "ogg": "audio/ogg"}
SPEECH_FORMATS = {"mp3": "audio/mpeg", "wav": "audio/wav", "opus": "audio/ogg"}
# Peak amplitude (of 32 767) under which 16-bit PCM counts as silence.
SILENCE_PEAK = 64
# An upper bound on the length of compressed speech: 16 kbit/s is below what browsers and phones record.
MIN_COMPRESSED_BYTES_PER_SECOND = 2000


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What the bytes are: container, media type, length when known from the header (else an upper bound), silence."""

    kind: str
    media_type: str
    seconds: float
    exact: bool
    silent: bool


def audio_sniff(data: bytes) -> str | None:
    """The container of `data` from its first bytes: wav, mp3, webm or ogg; None when it is none of them."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    if data[:3] == b"ID3" or (len(data) > 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06 != 0):
        return "mp3"
    return None


def _wav(data: bytes) -> tuple[float, bool] | None:
    """(seconds, silent) of a PCM WAV, or None when its chunks are broken."""
    position, byte_rate, bits, found = 12, 0, 0, None
    while position + 8 <= len(data):
        chunk_id = data[position:position + 4]
        size = struct.unpack("<I", data[position + 4:position + 8])[0]
        body = data[position + 8:position + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 16:
            byte_rate, bits = struct.unpack("<I", body[8:12])[0], struct.unpack("<H", body[14:16])[0]
        elif chunk_id == b"data":
            if not byte_rate:
                return None
            found = (len(body) / byte_rate, pcm16_silent(body) if bits == 16 else not any(body))
            break
        position += 8 + size + (size & 1)
    return found


def pcm16_silent(pcm: bytes) -> bool:
    """True when every 16-bit little-endian sample is within SILENCE_PEAK of zero (or there are none)."""
    count = len(pcm) // 2
    if count == 0:
        return True
    samples = struct.unpack(f"<{count}h", pcm[: count * 2])
    return max(samples) <= SILENCE_PEAK and min(samples) >= -SILENCE_PEAK


def audio_inspect(data: bytes) -> AudioInfo | None:
    """The container and length of `data`; None when it is not audio (or a WAV whose header is broken)."""
    kind = audio_sniff(data)
    if kind is None:
        return None
    if kind == "wav":
        wav = _wav(data)
        if wav is None:
            return None
        return AudioInfo(kind=kind, media_type=MEDIA_TYPES[kind], seconds=wav[0], exact=True, silent=wav[1])
    return AudioInfo(kind=kind, media_type=MEDIA_TYPES[kind], seconds=len(data) / MIN_COMPRESSED_BYTES_PER_SECOND, exact=False,
                     silent=False)


def wav_from_pcm16(pcm: bytes, *, sample_rate: int, channels: int = 1) -> bytes:
    """Raw 16-bit little-endian PCM wrapped in a WAV header."""
    pcm = pcm[: len(pcm) // 2 * 2]
    block = channels * 2
    header = b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate,
                                                                                     sample_rate * block, block, 16)
    return header + b"data" + struct.pack("<I", len(pcm)) + pcm
