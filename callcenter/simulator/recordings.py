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
  voicemail or call recording, is downloaded through the same route).

>>> store = RecordingStore(Path("instance/sim-recordings"))
>>> app.register_blueprint(create_simulator_api(store, account_sid, token), url_prefix="/simulator")
>>> store_of(app) is store  # how the switchboard's call recordings find the store
True
"""

from __future__ import annotations

import array
import hmac
import io
import json
import math
import os
import re
import secrets
import sys
import tempfile
import threading
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, url_for

API_VERSION = "2010-04-01"
SID_RE = re.compile(r"^RE[0-9a-f]{32}$")
CALL_SID_RE = re.compile(r"^[A-Za-z0-9]{2,64}$")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
WAV_CONTENT_TYPE = "audio/x-wav"
STORE_EXTENSION = "callcenter.simulator.recordings"
"""``app.extensions`` key of the store an app's recordings API serves."""
CHANNEL_TONES = (440.0, 660.0)
"""The pitch of each channel of a synthetic call recording (Hz, whole numbers)."""


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


# -- REST API -------------------------------------------------------------------------------

_RESOURCE_RE = re.compile(r"^(?P<sid>[^.]*)(?:\.(?P<ext>[A-Za-z0-9]+))?$")


def twilio_error(status: int, code: int, message: str) -> Response:
    """A JSON error shaped like Twilio's."""
    response = jsonify(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )
    response.status_code = status
    return response


def check_api_auth(account_sid: str, auth_token: str) -> Response | None:
    """Twilio's REST authentication: HTTP basic with the account SID and auth token, and
    the account in the path must be that account. None when the request may proceed."""
    auth = request.authorization
    ok = (
        auth is not None
        and auth.type == "basic"
        and hmac.compare_digest((auth.username or "").encode(), account_sid.encode())
        and hmac.compare_digest((auth.password or "").encode(), auth_token.encode())
    )
    if not ok:
        response = twilio_error(401, 20003, "Authenticate")
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    if (request.view_args or {}).get("account") != account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return None


def store_of(app: Flask) -> RecordingStore | None:
    """The store an app's recordings API (:func:`create_simulator_api`) serves, if any."""
    return app.extensions.get(STORE_EXTENSION)


def create_simulator_api(store: RecordingStore, account_sid: str, auth_token: str) -> Blueprint:
    """Twilio's recordings API for the simulator; mount it at ``url_prefix="/simulator"``.

    Registering it makes ``store`` the app's :func:`store_of`, where the switchboard's
    call recordings go.  Every route needs HTTP basic auth with exactly ``account_sid`` /
    ``auth_token``.

    * ``POST   /2010-04-01/Accounts/{AccountSid}/Recordings.json`` – deposit a recording
      (multipart: ``CallSid``, optional ``Duration``, WAV file ``media``) → 201 resource
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}`` or ``{Sid}.wav`` → audio
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json`` → resource
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.mp3`` → 415 (WAV only)
    * ``DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.json]`` → 204
    """
    if not account_sid or not auth_token:
        raise ValueError("the simulator API needs an account SID and an auth token")
    api = Blueprint("simulator_api", __name__)
    base = f"/{API_VERSION}/Accounts/<account>"
    api.record_once(lambda state: state.app.extensions.setdefault(STORE_EXTENSION, store))

    @api.before_request
    def _authenticate() -> Response | None:
        return check_api_auth(account_sid, auth_token)

    def resource(metadata: dict[str, Any]) -> dict[str, Any]:
        sid = metadata["sid"]
        created = format_datetime(datetime.fromisoformat(metadata["date_created"]))
        started = metadata.get("start_time")
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Recordings/{sid}"
        return {
            "sid": sid,
            "account_sid": account_sid,
            "call_sid": metadata["call_sid"],
            "api_version": API_VERSION,
            "conference_sid": None,
            "duration": str(metadata["duration"]),
            "channels": metadata["channels"],
            "status": "completed",
            "source": metadata.get("source", "RecordVerb"),
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "date_created": created,
            "date_updated": created,
            "start_time": format_datetime(datetime.fromisoformat(started)) if started else created,
            "uri": uri + ".json",
            "media_url": url_for(
                "simulator_api.fetch_recording", account=account_sid, name=sid, _external=True
            ),
            "subresource_uris": {},
        }

    def not_found() -> Response:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    @api.post(f"{base}/Recordings.json")
    def create_recording(account: str) -> Response | tuple[Response, int]:
        if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
            return twilio_error(413, 20001, "Recording too large")
        call_sid = request.form.get("CallSid", "")
        if not CALL_SID_RE.fullmatch(call_sid):
            return twilio_error(400, 20001, "CallSid is required")
        media = request.files.get("media")
        if media is None:
            return twilio_error(400, 20001, "media (a WAV file) is required")
        audio = media.read(MAX_UPLOAD_BYTES + 1)
        if len(audio) > MAX_UPLOAD_BYTES:
            return twilio_error(413, 20001, "Recording too large")
        if wav_info(audio) is None:
            return twilio_error(400, 20001, "media is not a readable WAV file")
        duration: int | None = None
        if request.form.get("Duration"):
            try:
                duration = int(request.form["Duration"])
            except ValueError:
                return twilio_error(400, 20001, "Duration must be whole seconds")
            if duration < 0:
                return twilio_error(400, 20001, "Duration must not be negative")
        metadata = store.create(call_sid, audio, duration)
        return jsonify(resource(metadata)), 201

    def parse(name: str) -> tuple[str, str] | None:
        match = _RESOURCE_RE.fullmatch(name)
        if not match or not SID_RE.fullmatch(match["sid"]):
            return None
        return match["sid"], (match["ext"] or "").lower()

    @api.get(f"{base}/Recordings/<path:name>")
    def fetch_recording(account: str, name: str) -> Response:
        parsed = parse(name)
        if parsed is None:
            return not_found()
        sid, ext = parsed
        if ext == "json":
            metadata = store.metadata(sid)
            return not_found() if metadata is None else jsonify(resource(metadata))
        if ext not in ("", "wav", "mp3"):
            return not_found()
        found = store.get(sid)
        counted = request.method == "GET"  # HEAD neither counts nor uses up faults
        if found is None:
            if counted:
                store.count_get()
            return not_found()
        if ext == "mp3":
            return twilio_error(415, 20001, "The simulator stores recordings as WAV only")
        audio, _metadata = found
        fault = store.next_fault() if counted else None
        if fault and fault.kind == "fail":
            return twilio_error(fault.status, 20500, "Injected failure")
        if fault and fault.kind == "corrupt":
            audio = corrupt(audio)
        body = audio[: len(audio) // 2] if fault and fault.kind == "truncate" else audio

        def stream() -> Iterator[bytes]:
            yield body

        response = Response(stream(), mimetype=WAV_CONTENT_TYPE, direct_passthrough=True)
        response.headers["Content-Length"] = str(len(audio))  # the full length, even if cut
        response.headers["Content-Disposition"] = f'attachment; filename="{sid}.wav"'
        return response

    @api.delete(f"{base}/Recordings/<path:name>")
    def delete_recording(account: str, name: str) -> Response:
        parsed = parse(name)
        if parsed is None or parsed[1] not in ("", "json") or not store.delete(parsed[0]):
            return not_found()
        return Response(status=204)

    return api
