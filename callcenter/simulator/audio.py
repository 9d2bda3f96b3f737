"""Synthetic audio for simulated recordings: WAV tones and silence."""

from __future__ import annotations

import array
import io
import math
import sys
import wave
from collections.abc import Sequence
from typing import Any

CHANNEL_TONES = (440.0, 660.0)
"""The pitch of each channel of a synthetic call recording (Hz, whole numbers)."""

# -- audio ----------------------------------------------------------------------------------


def wav_bytes(seconds: float, sample_rate: int = 8000, frequency: float = 440.0) -> bytes:
    """A mono 16-bit PCM WAV: a tone for the first half, silence for the rest.

    >>> len(wav_bytes(1.0))  # 44-byte header + 8000 frames of 2 bytes
    16044
    """
    if seconds < 0 or sample_rate <= 0:
        raise ValueError("seconds must be >= 0 and sample_rate > 0")
    frames = round(seconds * sample_rate)
    tone = frames // 2
    amplitude = 0.3 * 32767
    samples = array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * frequency * i / sample_rate)) if i < tone else 0
            for i in range(frames)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def segments_wav(
    segments: Sequence[tuple[float, bool]],
    channels: int = 1,
    *,
    seconds: float | None = None,
    sample_rate: int = 8000,
) -> bytes:
    """A 16-bit PCM WAV of ``segments`` (seconds, audible) played one after the other.

    Audible stretches carry a tone, a different one on each channel (``CHANNEL_TONES``),
    the others are silence.  ``seconds`` stretches or shrinks the whole to that length
    (each segment in proportion), e.g. to the whole seconds a recording is reported to
    last.

    >>> wav_info(segments_wav([(1.0, True), (0.5, False)], channels=2))["duration"]
    1.5
    """
    if channels not in (1, 2):
        raise ValueError("channels must be 1 or 2")
    if sample_rate <= 0 or any(length < 0 for length, _ in segments):
        raise ValueError("segment lengths must be >= 0 and sample_rate > 0")
    total = sum(length for length, _ in segments)
    scale = (seconds / total if total else 0.0) if seconds is not None else 1.0
    amplitude = 0.3 * 32767
    samples = array.array(
        "h",
        (
            int(amplitude * math.sin(2 * math.pi * CHANNEL_TONES[channel] * i / sample_rate))
            for i in range(sample_rate)
            for channel in range(channels)
        ),
    )
    if sys.byteorder == "big":
        samples.byteswap()
    second = samples.tobytes()  # one second of tone: whole periods, so it repeats seamlessly
    frame_bytes = 2 * channels
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        elapsed = 0.0
        written = 0
        for length, audible in segments:
            elapsed += length * scale
            frames = round(elapsed * sample_rate) - written
            if frames <= 0:
                continue
            if audible:
                offset = written % sample_rate
                repeats = (offset + frames) // sample_rate + 1
                chunk = (second * repeats)[offset * frame_bytes : (offset + frames) * frame_bytes]
            else:
                chunk = bytes(frames * frame_bytes)
            out.writeframes(chunk)
            written += frames
    return buffer.getvalue()


def wav_info(audio: bytes) -> dict[str, Any] | None:
    """Channels, sample rate and duration of a WAV, or None if it is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(audio), "rb") as reader:
            rate = reader.getframerate()
            return {
                "channels": reader.getnchannels(),
                "sample_rate": rate,
                "duration": reader.getnframes() / rate if rate else 0.0,
            }
    except (wave.Error, EOFError):
        return None
