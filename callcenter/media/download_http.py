"""One recording over HTTP: streamed to a temporary file with its checksum, then checked.

The HTTP side of a download (:class:`callcenter.media.recording_fetcher.RecordingFetcher`
runs it under a claimed job): the body must match its ``Content-Length``, arrive within a
deadline and be a WAV (of about the duration Twilio reported) or an MP3. Every failure is a
:class:`DownloadError`, its message the job's ``last_error``.
"""

from __future__ import annotations

import hashlib
import os
import time
import wave
from pathlib import Path
from urllib.parse import urlsplit

import requests

WAV_HEADER_BYTES = 44
MAX_RECORDING_BYTES = 2**31 - 1  # size_bytes is a 32-bit integer column
CHUNK_BYTES = 64 * 1024
DURATION_TOLERANCE_SECONDS = 2.0
DURATION_TOLERANCE_RATIO = 0.10


class DownloadError(Exception):
    """A download attempt failed; the message is stored as the job's ``last_error``."""


def fetch_to(
    http: requests.Session,
    url: str,
    temp: Path,
    *,
    auth: tuple[str, str],
    timeout_seconds: float,
    deadline_seconds: float,
) -> tuple[int, str]:
    """Stream ``url`` into ``temp`` (fsynced); return (size, sha256).

    Each read waits at most ``timeout_seconds``; the whole transfer, ``deadline_seconds``.
    """
    digest = hashlib.sha256()
    received = 0
    expected: int | None = None
    deadline = time.monotonic() + deadline_seconds
    try:
        with http.get(
            url,
            auth=auth,
            stream=True,
            timeout=timeout_seconds,
            headers={"Accept-Encoding": "identity"},
        ) as response:
            if response.status_code != 200:
                raise DownloadError(f"HTTP {response.status_code} from {_where(url)}")
            encoding = response.headers.get("Content-Encoding", "identity").lower()
            if encoding != "identity":
                raise DownloadError(f"unexpected Content-Encoding {encoding!r}")
            length = response.headers.get("Content-Length")
            if length is None or not length.strip().isdigit():
                raise DownloadError("response has no valid Content-Length")
            expected = int(length)
            if expected > MAX_RECORDING_BYTES:
                raise DownloadError(f"recording too large ({expected} bytes)")
            with temp.open("wb") as handle:
                for chunk in response.iter_content(CHUNK_BYTES):
                    received += len(chunk)
                    if received > expected:
                        raise DownloadError(f"body longer than Content-Length ({expected} bytes)")
                    digest.update(chunk)
                    handle.write(chunk)
                    if time.monotonic() > deadline:
                        raise DownloadError(
                            f"download too slow: {received} of {expected} bytes "
                            f"after {deadline_seconds:.0f} s"
                        )
                handle.flush()
                os.fsync(handle.fileno())
    except requests.exceptions.ChunkedEncodingError as exc:
        raise DownloadError(
            f"truncated: connection broke after {received} of {expected} bytes"
        ) from exc
    except requests.Timeout as exc:
        raise DownloadError(f"timed out talking to {_where(url)}") from exc
    except requests.ConnectionError as exc:
        raise DownloadError(f"cannot connect to {_where(url)}: {describe(exc)}") from exc
    except requests.RequestException as exc:
        raise DownloadError(f"request failed: {describe(exc)}") from exc
    if received != expected:
        raise DownloadError(f"truncated: received {received} of {expected} bytes")
    return received, digest.hexdigest()


def check_audio(path: Path, size: int, expected_duration: int | None) -> tuple[str, str]:
    """Check the file is WAV or MP3 (and, for WAV, its length); return (type, extension)."""
    if size < WAV_HEADER_BYTES:
        raise DownloadError(f"too small to be a recording ({size} bytes)")
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        try:
            with path.open("rb") as handle, wave.open(handle, "rb") as reader:
                channels, width, rate = (
                    reader.getnchannels(),
                    reader.getsampwidth(),
                    reader.getframerate(),
                )
                frames = reader.getnframes()
        except (wave.Error, EOFError) as exc:
            if str(exc).startswith("unknown format"):
                return "audio/x-wav", ".wav"  # a valid header for a codec wave cannot read
            raise DownloadError(f"corrupt WAV header: {exc or 'unexpected end'}") from exc
        if rate <= 0 or channels <= 0:
            raise DownloadError("corrupt WAV header: no channels or sample rate")
        if frames * channels * width > size - WAV_HEADER_BYTES:
            raise DownloadError("corrupt WAV: header promises more audio than the file holds")
        if expected_duration is not None:
            actual = frames / rate
            tolerance = DURATION_TOLERANCE_SECONDS + DURATION_TOLERANCE_RATIO * expected_duration
            if abs(actual - expected_duration) > tolerance:
                raise DownloadError(
                    f"duration mismatch: audio is {actual:.1f} s, Twilio said {expected_duration} s"
                )
        return "audio/x-wav", ".wav"
    if head[:3] == b"ID3" or (head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg", ".mp3"
    raise DownloadError("not audio: neither a WAV nor an MP3 header")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file on disk, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _where(url: str) -> str:
    """Scheme and host of a URL, for error messages (never credentials or paths)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def describe(exc: BaseException) -> str:
    """An exception in one short line, for a job's ``last_error`` and the log."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
