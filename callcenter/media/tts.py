"""gTTS prompt cache: static IVR prompts rendered ahead of time, played from disk.

Prompts are synthesized with gTTS (which calls Google Translate's TTS endpoint) by a CLI
command into ``<cache_dir>/<key>.mp3`` plus a ``<key>.txt`` sidecar holding the text.
A webhook only asks :meth:`PromptCache.url_for`, an in-memory lookup that never touches
the disk or the network; ``None`` means "not cached", and the caller falls back to <Say>.

This module is an adapter: no Flask, no Twilio.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import logging
import os
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import gtts
from gtts.lang import tts_langs

from callcenter.config import VoiceConfig

log = logging.getLogger("callcenter.tts")  # the name operators know, wherever the module lives

#: Part of every key; bump it to invalidate all cached prompts (e.g. a new rendering recipe).
KEY_VERSION = "gtts-v1"
KEY_LENGTH = 32
_KEY_RE = re.compile(rf"[0-9a-f]{{{KEY_LENGTH}}}")


class TTSError(Exception):
    """A prompt could not be keyed or rendered; the message says which and why."""


@dataclass
class BuildReport:
    """Outcome of :meth:`PromptCache.build`; ``failed`` holds (text, language, error)."""

    rendered: int = 0
    cached: int = 0
    failed: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every prompt is now cached."""
        return not self.failed


def normalize_text(text: str) -> str:
    """The text as spoken and keyed: NFC, whitespace runs collapsed, ends stripped."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def looks_like_mp3(data: bytes) -> bool:
    """True if ``data`` starts with an ID3 tag or an MPEG audio frame header."""
    if data[:3] == b"ID3":
        return True
    # 11 set sync bits, then version and layer; layer 00 is reserved.
    return len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06 != 0


@functools.cache
def _gtts_languages() -> frozenset[str]:
    return frozenset(tts_langs())


class PromptCache:
    """Cached gTTS renderings of prompt texts, keyed by text and voice."""

    def __init__(
        self,
        cache_dir: Path,
        voices: dict[str, VoiceConfig],
        url_prefix: str = "/media/prompts",
        *,
        timeout: float | None = 30.0,
        retry_delay: float = 1.0,
    ) -> None:
        """Scan ``cache_dir`` once; ``timeout`` bounds each gTTS request (seconds)."""
        self.cache_dir = Path(cache_dir)
        self.voices = dict(voices)
        self.url_prefix = url_prefix.rstrip("/")
        self.timeout = timeout
        self.retry_delay = retry_delay
        self._cached: set[str] = set()
        self.revision = 0
        """Moves at every rescan: what was looked up before may have changed."""
        self._checked_at = 0.0
        self._dir_mtime: float | None = None
        self.refresh()

    def refresh_if_changed(self, interval: float = 5.0) -> bool:
        """Rescan when the folder changed (a `prompts build` while serving); cheap to call."""
        now = time.monotonic()
        if now - self._checked_at < interval:
            return False
        self._checked_at = now
        try:
            mtime = self.cache_dir.stat().st_mtime
        except OSError:
            mtime = None
        if mtime == self._dir_mtime:
            return False
        self.refresh()
        return True

    def refresh(self) -> int:
        """Rescan the cache directory for valid ``<key>.mp3`` files; return how many."""
        try:
            self._dir_mtime = self.cache_dir.stat().st_mtime
        except OSError:
            self._dir_mtime = None
        found: set[str] = set()
        try:
            entries = list(os.scandir(self.cache_dir))
        except (FileNotFoundError, NotADirectoryError):
            entries = []
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            if ext == ".mp3" and _KEY_RE.fullmatch(stem) and _valid_file(Path(entry.path)):
                found.add(stem)
        self._cached = found
        self.revision += 1
        return len(found)

    def __len__(self) -> int:
        return len(self._cached)

    def key(self, text: str, language: str) -> str:
        """Stable hex key for a text spoken in one of our languages."""
        return self._key(normalize_text(text), self._voice(language))

    def url_for(self, text: str, language: str) -> str | None:
        """URL path of the cached prompt, or None when it must be spoken with <Say>."""
        key = self.key(text, language)
        return f"{self.url_prefix}/{key}.mp3" if key in self._cached else None

    def path_for(self, key: str) -> Path | None:
        """File of a cached key; None for unknown or malformed keys."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or key not in self._cached:
            return None
        return self.cache_dir / f"{key}.mp3"

    def transcript(self, key: str) -> str | None:
        """Text of a cached prompt, from its sidecar; None if not cached or no sidecar."""
        if self.path_for(key) is None:
            return None
        try:
            return (self.cache_dir / f"{key}.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def render(self, text: str, language: str) -> Path:
        """Synthesize a prompt with gTTS into the cache (overwriting); return the mp3 path."""
        voice = self._voice(language)
        spoken = normalize_text(text)
        self._check_renderable(spoken, voice, language)
        key = self._key(spoken, voice)
        buffer = io.BytesIO()
        try:
            # lang_check=False: we check the language ourselves (_check_renderable); gTTS's own
            # check emits a DeprecationWarning for "zh-CN" (it lower-cases and matches "zh-cn").
            speech = gtts.gTTS(
                spoken,
                lang=voice.gtts_lang,
                tld=voice.gtts_tld,
                lang_check=False,
                timeout=self.timeout,
            )
            speech.write_to_fp(buffer)
        except gtts.gTTSError as exc:
            raise TTSError(f"gTTS failed for {_describe(spoken, language)}: {exc}") from exc
        except AssertionError as exc:  # gTTS asserts there is something left to speak
            raise TTSError(f"nothing to speak in {_describe(spoken, language)}: {exc}") from exc
        audio = buffer.getvalue()
        if not looks_like_mp3(audio):
            raise TTSError(
                f"gTTS returned no MP3 audio for {_describe(spoken, language)} "
                f"({len(audio)} bytes, starting {audio[:8]!r})"
            )
        target = self.cache_dir / f"{key}.mp3"
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write(self.cache_dir / f"{key}.txt", spoken.encode("utf-8"))
            _atomic_write(target, audio)
        except OSError as exc:
            raise TTSError(f"cannot write {target}: {exc}") from exc
        self._cached.add(key)
        log.info("rendered %s to %s", _describe(spoken, language), target.name)
        return target

    def build(
        self,
        prompts: Iterable[tuple[str, str]],
        progress: Callable[[int], None] | None = None,
        retries: int = 2,
    ) -> BuildReport:
        """Render every (text, language) not cached yet; collect failures, never raise them.

        ``progress(1)`` is called once per input pair (duplicates and cached ones included),
        so a progress bar of ``len(prompts)`` ends full. A failed render is retried
        ``retries`` more times.
        """
        report = BuildReport()
        seen: set[str | tuple[str, str]] = set()
        for text, language in prompts:
            try:
                self._build_one(text, language, retries, seen, report)
            finally:
                if progress is not None:
                    progress(1)
        return report

    def _build_one(
        self,
        text: str,
        language: str,
        retries: int,
        seen: set[str | tuple[str, str]],
        report: BuildReport,
    ) -> None:
        spoken = normalize_text(text)
        try:
            voice = self._voice(language)
        except TTSError as exc:  # configuration problem: retrying cannot help
            if (spoken, language) not in seen:
                seen.add((spoken, language))
                report.failed.append((text, language, str(exc)))
            return
        key = self._key(spoken, voice)
        if key in seen:
            return
        seen.add(key)
        if key in self._cached:
            report.cached += 1
            return
        try:
            self._check_renderable(spoken, voice, language)
        except TTSError as exc:
            report.failed.append((text, language, str(exc)))
            return
        error = ""
        for attempt in range(retries + 1):
            try:
                self.render(text, language)
            except TTSError as exc:
                error = str(exc)
                log.warning("attempt %d/%d: %s", attempt + 1, retries + 1, error)
                if attempt < retries and self.retry_delay > 0:
                    time.sleep(self.retry_delay * (attempt + 1))
            else:
                report.rendered += 1
                return
        report.failed.append((text, language, error))

    def _voice(self, language: str) -> VoiceConfig:
        try:
            return self.voices[language]
        except KeyError:
            known = ", ".join(sorted(self.voices)) or "none"
            raise TTSError(f"unknown language {language!r} (voices: {known})") from None

    @staticmethod
    def _key(spoken: str, voice: VoiceConfig) -> str:
        material = "\0".join((KEY_VERSION, voice.gtts_lang, voice.gtts_tld, spoken))
        return hashlib.sha256(material.encode("utf-8")).hexdigest()[:KEY_LENGTH]

    @staticmethod
    def _check_renderable(spoken: str, voice: VoiceConfig, language: str) -> None:
        if not spoken:
            raise TTSError(f"empty prompt text for language {language!r}")
        if voice.gtts_lang not in _gtts_languages():
            raise TTSError(
                f"language {language!r}: gTTS does not support gtts_lang {voice.gtts_lang!r}"
            )


def _describe(spoken: str, language: str) -> str:
    short = spoken if len(spoken) <= 40 else spoken[:37] + "..."
    return f"{language} prompt {short!r}"


def _valid_file(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return looks_like_mp3(fh.read(4))
    except OSError:
        return False


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a static file server must read it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
