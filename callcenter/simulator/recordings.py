"""The simulator's recording store and its slice of Twilio's REST API.

Twilio keeps every recording it makes and serves it at
``/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}`` behind HTTP basic auth
(account SID, auth token).  The simulator does the same from a folder on disk, so the
application's download jobs talk to it exactly as they would to Twilio.

Differences from Twilio, on purpose:

* Only WAV is stored, so ``.mp3`` answers 415 instead of transcoding.
* ``POST .../Recordings.json`` is a simulator-only extension: simulated phones use it to
  deposit what a caller said (Twilio itself creates recordings only from calls).
* The audio is a synthetic tone (one pitch per channel) where something was recorded and
  silence where nothing was, not what anybody said.
* A call recording made through the switchboard's ``Calls/{CallSid}/Recordings`` API is
  here only once it is ``completed`` (404 while it is in progress or ``absent``).
* :meth:`RecordingStore.inject` makes the next audio downloads fail, arrive truncated or
  arrive corrupted, so tests can exercise the application's retries (every recording,
  voicemail or call recording, is downloaded through the same route);
  :meth:`RecordingStore.fail_deletes` refuses the next DELETEs (Twilio down).

>>> store = RecordingStore(Path("instance/sim-recordings"))
>>> app.register_blueprint(create_simulator_api(store, account_sid, token), url_prefix="/simulator")
>>> store_of(app) is store  # how the switchboard's call recordings find the store
True
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callcenter.simulator.audio import wav_info

SID_RE = re.compile(r"^RE[0-9a-f]{32}$")


class InvalidSid(ValueError):
    """A recording SID that is not ``RE`` followed by 32 lowercase hex digits."""


def check_sid(sid: str) -> str:
    """Return ``sid`` if it is a well-formed recording SID, else raise :class:`InvalidSid`.

    The SID becomes a file name, so anything else (``..``, slashes, NUL) is refused.
    """
    if not isinstance(sid, str) or not SID_RE.fullmatch(sid):
        raise InvalidSid(f"not a recording SID: {sid!r}")
    return sid


@dataclass(frozen=True)
class Fault:
    """What to do to one audio download: ``fail`` (with ``status``), ``truncate`` or ``corrupt``."""

    kind: str
    status: int = 500


class RecordingStore:
    """Recordings on disk: ``<root>/<sid>.wav`` plus ``<root>/<sid>.json`` metadata.

    Thread-safe: one lock guards the files and the fault counters.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fail_next = 0
        self._fail_status = 500
        self._truncate_next = 0
        self._corrupt_next = 0
        self.audio_gets = 0
        """How many audio downloads the API has served (or failed), for tests."""
        self._fail_deletes = 0
        self._fail_deletes_status = 503
        self.deletes = 0
        """How many DELETE requests the API has answered (or failed), for tests."""

    # -- storage ------------------------------------------------------------------------

    def create(
        self,
        call_sid: str,
        audio: bytes,
        duration: int | None = None,
        *,
        sid: str | None = None,
        source: str = "RecordVerb",
        start_time: datetime | None = None,
    ) -> dict[str, Any]:
        """Store ``audio`` for a call and return its metadata.

        ``duration`` (whole seconds) defaults to the length of the WAV, rounded; the
        channels are the WAV's.  ``sid`` keeps a SID given out before the audio existed
        (a call recording); a new one is made if None.  ``source`` and ``start_time`` are
        reported by the API (``RecordVerb`` and now by default).
        """
        info = wav_info(audio)
        if duration is None:
            duration = round(info["duration"]) if info else 0
        if duration < 0:
            raise ValueError("duration must not be negative")
        created = datetime.now(UTC).replace(microsecond=0)
        metadata = {
            "sid": check_sid(sid) if sid is not None else "RE" + secrets.token_hex(16),
            "call_sid": call_sid,
            "duration": int(duration),
            "channels": info["channels"] if info else 1,
            "source": source,
            "date_created": created.isoformat(),
            "start_time": (start_time or created).astimezone(UTC).isoformat(),
        }
        sid = metadata["sid"]
        with self._lock:
            if self._meta_path(sid).exists():
                raise FileExistsError(f"recording {sid} already exists")
            _atomic_write(self._audio_path(sid), audio)
            _atomic_write(self._meta_path(sid), json.dumps(metadata, indent=2).encode())
        return dict(metadata)

    def get(self, sid: str) -> tuple[bytes, dict[str, Any]] | None:
        """The audio and metadata of a recording, or None if there is none."""
        check_sid(sid)
        with self._lock:
            try:
                metadata = json.loads(self._meta_path(sid).read_text(encoding="utf-8"))
                audio = self._audio_path(sid).read_bytes()
            except FileNotFoundError:
                return None
        return audio, metadata

    def metadata(self, sid: str) -> dict[str, Any] | None:
        """The metadata of a recording without reading its audio."""
        check_sid(sid)
        with self._lock:
            try:
                return json.loads(self._meta_path(sid).read_text(encoding="utf-8"))
            except FileNotFoundError:
                return None

    def delete(self, sid: str) -> bool:
        """Delete a recording; False if there was none."""
        check_sid(sid)
        with self._lock:
            existed = False
            for path in (self._meta_path(sid), self._audio_path(sid)):
                try:
                    path.unlink()
                    existed = True
                except FileNotFoundError:
                    pass
        return existed

    def _audio_path(self, sid: str) -> Path:
        return self.root / f"{check_sid(sid)}.wav"

    def _meta_path(self, sid: str) -> Path:
        return self.root / f"{check_sid(sid)}.json"

    # -- fault injection ----------------------------------------------------------------

    def inject(
        self,
        fail_next: int = 0,
        status: int = 500,
        truncate_next: int = 0,
        corrupt_next: int = 0,
    ) -> None:
        """Sabotage the next audio downloads (replaces any faults still pending).

        Faults are used up in this order: ``fail_next`` answers with ``status`` and a
        Twilio-style error, then ``truncate_next`` send half the body under the full
        Content-Length, then ``corrupt_next`` send garbage of the right length.
        """
        if min(fail_next, truncate_next, corrupt_next) < 0:
            raise ValueError("fault counts must not be negative")
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status")
        with self._lock:
            self._fail_next = fail_next
            self._fail_status = status
            self._truncate_next = truncate_next
            self._corrupt_next = corrupt_next

    def fail_deletes(self, count: int, status: int = 503) -> None:
        """Refuse the next `count` DELETE requests with `status` (the recordings stay)."""
        if count < 0 or not 400 <= status <= 599:
            raise ValueError("a non-negative count and an HTTP error status are needed")
        with self._lock:
            self._fail_deletes, self._fail_deletes_status = count, status

    def next_delete_fault(self) -> int | None:
        """Count one DELETE; the HTTP status to refuse it with, if one is injected."""
        with self._lock:
            self.deletes += 1
            if self._fail_deletes:
                self._fail_deletes -= 1
                return self._fail_deletes_status
        return None

    def count_get(self) -> None:
        """Count an audio download that had nothing to serve (an unknown SID)."""
        with self._lock:
            self.audio_gets += 1

    def next_fault(self) -> Fault | None:
        """Count one audio download and use up the next injected fault, if any."""
        with self._lock:
            self.audio_gets += 1
            if self._fail_next:
                self._fail_next -= 1
                return Fault("fail", self._fail_status)
            if self._truncate_next:
                self._truncate_next -= 1
                return Fault("truncate")
            if self._corrupt_next:
                self._corrupt_next -= 1
                return Fault("corrupt")
        return None


def _atomic_write(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def corrupt(audio: bytes) -> bytes:
    """Garbage of the same length: neither a RIFF/WAVE nor an MP3 header survives."""
    return bytes(byte ^ 0xA5 for byte in audio)
