"""Recordings of calls started through the REST API.
Part of :class:`~callcenter.simulator.board.Board`.

A recording's time is the call's (wall-clock seconds ÷ the call's ``pace``), its audio a
tone per channel where it recorded and silence where it paused with
``PauseBehavior=silence``; under half a second of it is ``absent`` (error 16101).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from callcenter.simulator.audio import segments_wav
from callcenter.simulator.callbacks import _Callback
from callcenter.simulator.common import _now
from callcenter.simulator.recordings import RecordingStore
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.leg.call import SimulatedCall

log = logging.getLogger("callcenter.simulator")
RECORDING_EVENTS = ("in-progress", "completed", "absent")
RECORDING_TRACKS = ("inbound", "outbound", "both")
RECORDING_SOURCE = "StartCallRecordingAPI"
CURRENT_RECORDING = "Twilio.CURRENT"
"""What a recording update may name instead of a SID: the call's current recording."""
RECORDING_TOO_SHORT = 16101
"""Twilio's error code of an ``absent`` recording: nothing (long enough) was recorded."""


@dataclass(eq=False)
class CallRecording:
    """A recording of a call started through the REST API (``Calls/{CallSid}/Recordings``).

    Its time is the call's: wall-clock seconds divided by the call's ``pace`` (real
    seconds at pace 1.0), so a sped-up test call records as long as it lasts for the call.
    ``segments`` are the stretches recorded so far, ``(seconds, audible)``: a pause with
    ``PauseBehavior=silence`` is a silent stretch, one with ``skip`` is left out.
    """

    sid: str
    call: SimulatedCall
    store: RecordingStore
    channels: int
    track: str
    trim: bool
    status_callback: str | None
    status_callback_method: str
    status_callback_events: tuple[str, ...]
    date_created: datetime
    date_updated: datetime
    status: str = "in-progress"
    """in-progress, paused, stopped or processing (being stored), completed, absent."""
    pause_behavior: str = "silence"
    duration: int | None = None
    error_code: int | None = None
    segments: list[tuple[float, bool]] = field(default_factory=list)
    since: float = field(default_factory=time.monotonic)

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def active(self) -> bool:
        """Still recording or paused (not yet stopped)."""
        return self.status in ("in-progress", "paused")

    def close_segment(self, now: float) -> None:
        """End the current stretch at ``now`` (``time.monotonic()``; board lock held)."""
        real = max(0.0, now - self.since)
        seconds = real / self.call.pace if self.call.pace > 0 else real
        if self.status == "in-progress":
            self.segments.append((seconds, True))
        elif self.status == "paused" and self.pause_behavior == "silence":
            self.segments.append((seconds, False))
        self.since = now

    def kept_segments(self) -> list[tuple[float, bool]]:
        """The stretches that make the audio (with ``Trim=trim-silence``, none silent at
        either end)."""
        kept = [(length, audible) for length, audible in self.segments if length > 0]
        if self.trim:
            while kept and not kept[0][1]:
                kept.pop(0)
            while kept and not kept[-1][1]:
                kept.pop()
        return kept


class CallRecordings:
    """Start, pause, resume, stop and delete call recordings; store them when they end."""

    def recording_url(self, sid: str) -> str:
        """Where a recording's audio is served (Twilio's ``RecordingUrl``: no extension)."""
        return f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    def start_recording(
        self,
        call_sid: str,
        *,
        store: RecordingStore | None = None,
        channels: int = 1,
        track: str = "both",
        trim: bool = False,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        events: Iterable[str] | None = None,
    ) -> CallRecording:
        """Start recording a call in progress (REST ``Calls/{CallSid}/Recordings`` create).

        The recording lasts until :meth:`update_recording` stops it or the call ends; its
        audio (``channels`` 1 or 2) then goes into ``store`` (default: the board's
        ``recordings``) and the ``completed`` callback is sent, or ``absent`` if nothing
        was recorded.  ``events`` are the recording status events to call
        ``status_callback`` on (``completed`` if None).  Raises LookupError if the call is
        unknown or not in progress, ValueError for a bad option, RuntimeError without a
        store or once the board is closed.
        """
        store = store or self.recordings
        if store is None:
            raise RuntimeError("no recording store to put call recordings in")
        if channels not in (1, 2):
            raise ValueError("channels must be 1 (mono) or 2 (dual)")
        if track not in RECORDING_TRACKS:
            raise ValueError(f"track must be one of {', '.join(RECORDING_TRACKS)}")
        events = ("completed",) if events is None else tuple(events)
        unknown = [event for event in events if event not in RECORDING_EVENTS]
        if unknown:
            raise ValueError(f"unknown recording events: {', '.join(unknown)}")
        with self.lock:
            if self._closed:
                raise RuntimeError("the switchboard is closed")
            call = self._calls.get(call_sid)
            if call is None or call.done.is_set() or call.status != "in-progress":
                raise LookupError(call_sid)
            now = _now()
            recording = CallRecording(
                sid="RE" + secrets.token_hex(16),
                call=call,
                store=store,
                channels=channels,
                track=track,
                trim=trim,
                status_callback=status_callback,
                status_callback_method=status_callback_method.upper(),
                status_callback_events=events,
                date_created=now,
                date_updated=now,
            )
            self._recordings[recording.sid] = recording
            self._dispatch([self._recording_event(recording)])
        return recording

    def call_recordings(self, call_sid: str | None = None) -> list[CallRecording]:
        """The recordings started through the API (of one call), oldest first."""
        with self.lock:
            return [
                recording
                for recording in self._recordings.values()
                if call_sid is None or recording.call_sid == call_sid
            ]

    def find_recording(self, call_sid: str, ref: str) -> CallRecording | None:
        """A recording of a call by SID, or with ``Twilio.CURRENT`` the call's latest one
        that is still in progress or paused."""
        with self.lock:
            if ref == CURRENT_RECORDING:
                active = [r for r in self.call_recordings(call_sid) if r.active]
                return active[-1] if active else None
            recording = self._recordings.get(ref)
            return recording if recording is not None and recording.call_sid == call_sid else None

    def update_recording(
        self, call_sid: str, ref: str, status: str, pause_behavior: str | None = None
    ) -> CallRecording | None:
        """Pause (``PauseBehavior`` ``skip`` or ``silence``, the default), resume
        (``in-progress``) or stop a recording; None if there is no such recording.
        Raises ValueError for a bad status or a recording that is over."""
        if status not in ("paused", "in-progress", "stopped"):
            raise ValueError(f"Status must be paused, in-progress or stopped, not {status}")
        if pause_behavior not in (None, "skip", "silence"):
            raise ValueError(f"PauseBehavior must be skip or silence, not {pause_behavior}")
        now = time.monotonic()
        with self.lock:
            recording = self.find_recording(call_sid, ref)
            if recording is None:
                return None
            if not recording.active:
                raise ValueError(f"recording {recording.sid} is {recording.status}")
            if status == "stopped":
                self._stop_recording(recording, "stopped", now)
            elif status != recording.status:
                recording.close_segment(now)
                recording.status = status
                if status == "paused":
                    recording.pause_behavior = pause_behavior or "silence"
            recording.date_updated = _now()
            return recording

    def refuse_updates(self, status: str, times: int = 1) -> None:
        """Refuse the next `times` updates to `status` (``paused``, ``stopped``, ...) with
        HTTP 503, as Twilio may (tests of what the application does then)."""
        with self.lock:
            self._refusals()[status] = times

    def take_refusal(self, status: str) -> bool:
        """Whether this update to `status` is refused (using up one refusal)."""
        with self.lock:
            refusals = self._refusals()
            if refusals.get(status, 0) <= 0:
                return False
            refusals[status] -= 1
            return True

    def _refusals(self) -> dict[str, int]:
        refusals: dict[str, int] = self.__dict__.setdefault("_refused_updates", {})
        return refusals

    def delete_recording(self, call_sid: str, sid: str) -> bool:
        """Delete a finished recording and its audio; False if there is no such recording.
        Raises ValueError while it is still being made."""
        with self.lock:
            recording = self.find_recording(call_sid, sid)
            if recording is None or sid == CURRENT_RECORDING:
                return False
            if recording.status not in ("completed", "absent"):
                raise ValueError(f"recording {recording.sid} is {recording.status}")
            del self._recordings[recording.sid]
        recording.store.delete(recording.sid)
        return True

    def _stop_recording(self, recording: CallRecording, status: str, now: float) -> None:
        """The recording is over (lock held): store it from the worker, then call back."""
        recording.close_segment(now)
        recording.status = status
        recording.date_updated = _now()
        self._submit(lambda: self._complete_recording(recording))

    def _complete_recording(self, recording: CallRecording) -> None:
        """Deposit the audio and send ``completed`` (or ``absent``): the worker's job."""
        with self.lock:
            segments = recording.kept_segments()
        seconds = sum(length for length, _ in segments)
        duration = math.floor(seconds + 0.5)  # whole seconds, halves up
        status = "completed" if duration > 0 else "absent"
        if duration > 0:
            audio = segments_wav(segments, recording.channels, seconds=duration)
            try:
                recording.store.create(
                    recording.call_sid,
                    audio,
                    duration,
                    sid=recording.sid,
                    source=RECORDING_SOURCE,
                    start_time=recording.date_created,
                )
            except Exception as exc:  # a full disk, ...: no recording, and say so
                log.exception("could not store recording %s", recording.sid)
                self.errors.append(f"{recording.sid}: {exc!r}")
                status = "failed"
        with self.lock:
            recording.status = status
            recording.duration = duration if status == "completed" else 0
            recording.error_code = RECORDING_TOO_SHORT if status == "absent" else None
            recording.date_updated = _now()
            callback = self._recording_event(recording) if status != "failed" else None
        if callback is not None:
            self._deliver(callback)

    def _recording_event(self, recording: CallRecording) -> _Callback | None:
        """The recording status callback for its current status, if subscribed."""
        status = recording.status
        if not recording.status_callback or status not in recording.status_callback_events:
            return None
        duration = -1 if status == "in-progress" else (recording.duration or 0)
        params = {
            "AccountSid": self.account_sid,
            "CallSid": recording.call_sid,
            "RecordingSid": recording.sid,
            "RecordingUrl": self.recording_url(recording.sid),
            "RecordingStatus": status,
            "RecordingDuration": str(duration),
            "RecordingChannels": str(recording.channels),
            "RecordingSource": RECORDING_SOURCE,
            "RecordingStartTime": format_datetime(recording.date_created),
            "RecordingTrack": recording.track,
            "ErrorCode": str(recording.error_code or 0),
        }
        return _Callback(recording.status_callback, recording.status_callback_method, params)
