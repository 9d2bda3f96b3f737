"""The simulator's live calls, conferences and text messages, and its slice of Twilio's REST
API (Calls and their Recordings, Conferences, Participants, Messages).

A :class:`Switchboard` is what Twilio's call engine knows at a given moment: the calls in
progress (simulated callers that registered themselves, and the outbound legs it dialled
on request), the conferences and their participants, the recordings started on calls,
the text messages sent, and a log of the REST requests it received.
:func:`create_switchboard_api` puts Twilio's REST API in front of it, so the application
drives the simulator with the real ``twilio.rest.Client``:

>>> board = Switchboard(WsgiTransport(app), public_url=public_url, account_sid=sid,
...                     auth_token=token)
>>> app.register_blueprint(create_switchboard_api(board, sid, token), url_prefix="/simulator")
>>> client = Client(sid, token)
>>> client.api.base_url = public_url + "/simulator"
>>> client.calls(caller_sid).update(url=public_url + "/twilio/connect", method="POST")
>>> client.calls.create(to="client:alice", from_="+864008001234", url=..., ...)
>>> client.calls(caller_sid).recordings.create(recording_channels="dual", ...)
>>> client.messages.create(to="+8613800138000", from_="+864008001234", body="...")

Everything the switchboard itself sends (the webhooks of the legs it dials, conference,
recording and message status callbacks) is signed like Twilio's and goes through the
transport to the public URL.  Nothing is sent from inside a REST request: legs run in
threads of their own, callbacks are posted (and recordings stored, messages delivered)
by a background worker, so a ``WsgiTransport`` onto the same app never re-enters it from
within a request.

Differences from Twilio, on purpose:

* Only calls to ``client:NAME``, ``sip:...`` and ``+number`` addresses; they answer after
  ``ring_seconds`` unless the ``answer_policy`` (``to`` → ``"answer"``, ``"busy"``,
  ``"no-answer"``, ``"failed"`` or an :class:`Answer`) says otherwise.  A number that
  ``handsets`` gives a :class:`Handset` (the browser phone page showing it) rings there
  instead, until its person answers, declines or the call's ``Timeout`` passes.
* A conference's status callback is the first one a participant brings (with that
  participant's ``statusCallbackEvent``, ``start end`` if none); later ones are ignored.
* A conference starts when a participant with ``startConferenceOnEnter`` joins; it ends
  when a participant with ``endConferenceOnExit`` leaves or the last participant leaves.
* No conference recording, announcements, coaching or beeps (the attributes are accepted).
* Only recordings started through ``Calls/{CallSid}/Recordings`` (no ``Record=true`` on a
  new call, ``<Dial record>``, ``<Start><Recording>``).  A recording's time is the call's
  (wall-clock seconds ÷ the call's ``pace``), its audio a tone per channel where it
  recorded and silence where it paused with ``PauseBehavior=silence`` (the default, as on
  Twilio); ``RecordingTrack`` is reported but changes nothing.  Under half a second of it
  is ``absent`` (error 16101).  The ``in-progress`` callback says ``RecordingDuration=-1``.
* Text messages go out only (no incoming messages, no scheduling, no prices); each is
  ``queued``, then ``sent`` and ``delivered`` at once by the worker (``delivery_policy``
  may make it ``undelivered`` or ``failed``), with a status callback at each step.
  ``MediaUrl`` is not fetched.  With a ``MessagingServiceSid`` and no ``From`` the
  message's ``from`` stays null.
"""

from __future__ import annotations

import logging
import math
import queue
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

from flask import Blueprint, Response, current_app, jsonify, request
from twilio.request_validator import RequestValidator

from callcenter.simulator.phone import (
    ANSWERS,
    API_VERSION,
    CALL_PROGRESS_EVENTS,
    CallResult,
    Exchange,
    SimulatedCall,
    Transport,
    TransportError,
    is_under,
    send_signed,
)
from callcenter.simulator.recordings import (
    RecordingStore,
    check_api_auth,
    segments_wav,
    store_of,
    twilio_error,
)

log = logging.getLogger("callcenter.simulator")

CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker")
DEFAULT_CONFERENCE_EVENTS = ("start", "end")
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_ADDRESS_RE = re.compile(r"^(?:\+[1-9][0-9]{3,16}|client:[A-Za-z0-9_.@-]{1,256}|sips?:\S+)$")
_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SENDER_ID_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")

RECORDING_EVENTS = ("in-progress", "completed", "absent")
RECORDING_TRACKS = ("inbound", "outbound", "both")
RECORDING_SOURCE = "StartCallRecordingAPI"
CURRENT_RECORDING = "Twilio.CURRENT"
"""What a recording update may name instead of a SID: the call's current recording."""
RECORDING_TOO_SHORT = 16101
"""Twilio's error code of an ``absent`` recording: nothing (long enough) was recorded."""
MAX_MESSAGE_LENGTH = 1600
DELIVERY_RESULTS = ("delivered", "undelivered", "failed")
DELIVERY_ERRORS = {
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
}
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")

_LEFT_REASONS = {
    "hangup": "participant_hung_up",
    "time-limit": "participant_hung_up",
    "redirected": "participant_updated_via_api",
    "kicked": "participant_updated_via_api",
    "conference ended": "conference_ended",
}


def _parse_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() == "true"


def _split_events(values: Iterable[str]) -> tuple[str, ...]:
    """Events given as repeated fields and/or space- or comma-separated lists."""
    events: list[str] = []
    for value in values:
        events.extend(part for part in re.split(r"[\s,]+", value.strip()) if part)
    return tuple(events)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def message_segments(body: str) -> int:
    """How many SMS segments ``body`` takes: 160 GSM-7 characters (153 each when split; the
    extension characters count twice) or, with any other character, 70 UTF-16 units (67)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        units = sum(2 if char in _GSM_EXTENDED else 1 for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


# -- state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the far end of an outbound leg does (an ``answer_policy`` may return one).

    ``result`` is ``answer``, ``busy``, ``no-answer`` or ``failed``; ``inputs`` is what the
    answering person does at ``<Gather>`` prompts; ``talk_seconds`` how long they stay in
    a conference (default: the switchboard's ``talk_seconds``).
    """

    result: str = "answer"
    inputs: Sequence[str] = ()
    talk_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.result not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")


AnswerPolicy = Callable[[str], "str | Answer"]


@dataclass(frozen=True)
class ConferenceOptions:
    """How a participant is in a conference: the attributes of ``<Conference>``."""

    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    beep: str = "true"
    wait_url: str | None = None
    """None: Twilio's default wait music; ``""``: silence; else a TwiML URL."""
    wait_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    label: str | None = None

    @classmethod
    def from_twiml(cls, noun: ET.Element, doc_url: str) -> ConferenceOptions:
        wait_url = noun.get("waitUrl")
        callback = noun.get("statusCallback")
        return cls(
            start_conference_on_enter=_parse_bool(noun.get("startConferenceOnEnter"), True),
            end_conference_on_exit=_parse_bool(noun.get("endConferenceOnExit"), False),
            muted=_parse_bool(noun.get("muted"), False),
            beep=noun.get("beep", "true"),
            wait_url=urljoin(doc_url, wait_url) if wait_url else wait_url,
            wait_method=noun.get("waitMethod", "POST").upper(),
            status_callback=urljoin(doc_url, callback) if callback else None,
            status_callback_method=noun.get("statusCallbackMethod", "POST").upper(),
            status_callback_events=_split_events([noun.get("statusCallbackEvent", "")]),
            label=noun.get("participantLabel"),
        )


@dataclass(frozen=True)
class ParticipantState:
    """A participant as its call sees it at one moment."""

    conference_sid: str
    status: str
    """The conference's: ``init``, ``in-progress`` or ``completed``."""
    hold: bool
    hold_url: str | None
    hold_method: str
    muted: bool
    removed: str | None
    """Why the participant is out (``conference ended``, ``kicked``, ...), None if in."""
    version: int


@dataclass(eq=False)
class Participant:
    """A call in a conference (or being dialled into one through the Participants API)."""

    board: Switchboard
    call: SimulatedCall
    conference: Conference
    options: ConferenceOptions
    muted: bool
    end_conference_on_exit: bool
    date_created: datetime
    date_updated: datetime
    hold: bool = False
    hold_url: str | None = None
    hold_method: str = "GET"
    connected: bool = False
    removed: str | None = None
    version: int = 0

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def conference_sid(self) -> str:
        return self.conference.sid

    @property
    def status(self) -> str:
        """Twilio's participant status: queued, ringing, connecting, connected, complete..."""
        if self.removed is not None:
            return "failed" if not self.connected and self.removed == "failed" else "complete"
        if self.connected:
            return "connected"
        return {"queued": "queued", "ringing": "ringing"}.get(self.call.status, "connecting")

    def changed(self) -> None:
        """Bump the version and wake the call up (call with the board's lock held)."""
        self.version += 1
        self.date_updated = _now()
        self.call.poke()


@dataclass(eq=False)
class Conference:
    sid: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    sequence: int = 0

    def connected(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.connected]


@dataclass
class ApiRequest:
    """One request the REST API received, for tests."""

    method: str
    path: str
    params: dict[str, list[str]]
    status: int

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[0] if values else default


@dataclass(frozen=True)
class _Callback:
    url: str
    method: str
    params: dict[str, str]


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


@dataclass(eq=False)
class Message:
    """A text message sent through the Messages API (the switchboard keeps it in memory)."""

    sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    media_urls: tuple[str, ...]
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    status: str = "queued"
    """queued, then sent and delivered (or undelivered), or failed."""
    direction: str = "outbound-api"
    error_code: int | None = None
    error_message: str | None = None

    @property
    def num_segments(self) -> int:
        return message_segments(self.body)


class Handset(Protocol):
    """A person's phone for a number (the browser phone page): calls to it ring there."""

    pace: float
    """Real seconds per simulated second of the calls it takes."""

    def ring(self, call: SimulatedCall) -> None:
        """Take a call that rings (interactive, ``person_answers``), before it starts."""
        ...


class Switchboard:
    """The simulator's live state: calls by SID, conferences, call recordings, text
    messages, REST request log.

    Thread-safe.  ``transport`` (bound to ``public_url``) carries the webhooks of the legs
    the switchboard dials and the conference, recording and message status callbacks,
    signed with ``auth_token``.  Legs run at ``pace`` (real seconds per simulated second:
    1.0 is real time; 0 makes them run through instantly); they ring ``ring_seconds``,
    wait up to ``hold_seconds`` for a conference to start and stay ``talk_seconds`` in it
    at most.

    ``recordings`` is where call recordings go when they complete (the REST API falls back
    on the store of the app it is mounted in, :func:`~callcenter.simulator.recordings.store_of`).
    ``delivery_policy(to)`` says what becomes of a text message: ``delivered`` (default),
    ``undelivered`` or ``failed``.

    ``owner`` makes a private switchboard for one call: its conference callbacks are then
    sent inline by that call (and written down in its exchanges).  Call :meth:`close` when
    done: it hangs up the legs still running and stops the callback worker.
    """

    def __init__(
        self,
        transport: Transport,
        public_url: str,
        account_sid: str,
        auth_token: str,
        api_url: str | None = None,
        *,
        pace: float = 1.0,
        answer_policy: AnswerPolicy | None = None,
        ring_seconds: float = 1.0,
        hold_seconds: float = 3600.0,
        talk_seconds: float = 3600.0,
        owner: SimulatedCall | None = None,
        recordings: RecordingStore | None = None,
        delivery_policy: Callable[[str], str] | None = None,
    ) -> None:
        if pace < 0:
            raise ValueError("pace must not be negative")
        self.transport = transport
        self.public_url = public_url.rstrip("/")
        bind = getattr(transport, "bind", None)
        if bind is not None:
            bind(self.public_url)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.api_url = (api_url or f"{self.public_url}/simulator").rstrip("/")
        self.pace = pace
        self.answer_policy = answer_policy
        self.ring_seconds = ring_seconds
        self.hold_seconds = hold_seconds
        self.talk_seconds = talk_seconds
        self.owner = owner
        self.recordings = recordings
        self.delivery_policy = delivery_policy
        self.handsets: Callable[[str], Handset | None] | None = None
        """Who answers calls to a number in person (the phone page); else the simulator."""
        self.lock = threading.RLock()
        """Guards everything below; hold it to read conferences and participants."""
        self._calls: dict[str, SimulatedCall] = {}
        self._conferences: dict[str, Conference] = {}
        self._active: dict[str, str] = {}  # friendly name -> SID of its current conference
        self._reserved: dict[str, Participant] = {}  # call SID -> participant being dialled
        self._legs: dict[str, threading.Thread] = {}
        self._recordings: dict[str, CallRecording] = {}
        self._messages: dict[str, Message] = {}
        self._queue: queue.Queue[_Callback | Callable[[], None] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.requests: list[ApiRequest] = []
        """The REST requests received, in order."""
        self.callbacks: list[Exchange] = []
        """The status callbacks sent (conference, recording, message), in order."""
        self.errors: list[str] = []
        """Unexpected failures of leg threads (there should be none)."""

    # -- calls ------------------------------------------------------------------------------

    def register(self, call: SimulatedCall) -> None:
        """Make a call reachable by the REST API (a call with ``switchboard=`` does this)."""
        with self.lock:
            known = self._calls.get(call.call_sid)
            if known is not None and known is not call:
                raise ValueError(f"another call already has the SID {call.call_sid}")
            self._calls[call.call_sid] = call

    def unregister(self, sid: str) -> bool:
        """Forget a call; False if it was not known."""
        with self.lock:
            return self._calls.pop(sid, None) is not None

    def get_call(self, sid: str) -> SimulatedCall | None:
        with self.lock:
            return self._calls.get(sid)

    def calls(self) -> list[SimulatedCall]:
        """Every known call, oldest first (finished ones too, until unregistered)."""
        with self.lock:
            return list(self._calls.values())

    def place_outbound(
        self,
        to: str,
        from_: str,
        url: str | None = None,
        method: str = "POST",
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        *,
        status_callback_method: str = "POST",
        twiml: str | None = None,
        timeout: float = 60,
        answer: str | Answer | None = None,
        call_sid: str | None = None,
        on_event: Callable[..., None] | None = None,
    ) -> str:
        """Dial ``to`` as a REST-created call (``Direction=outbound-api``); returns its SID.

        The leg runs in a thread: it posts the requested call progress ``events``
        (initiated, ringing, answered, completed; completed only if None) to
        ``status_callback``, and once answered requests ``url`` (signed, with
        ``CallStatus=in-progress``) or runs ``twiml``, following the TwiML like any call.
        ``answer`` overrides the ``answer_policy``.
        """
        call = self.prepare_outbound(
            to,
            from_,
            url,
            method,
            status_callback,
            events,
            status_callback_method=status_callback_method,
            twiml=twiml,
            timeout=timeout,
            answer=answer,
            call_sid=call_sid,
            on_event=on_event,
        )
        self.start(call)
        return call.call_sid

    def prepare_outbound(
        self,
        to: str,
        from_: str,
        url: str | None = None,
        method: str = "POST",
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        *,
        status_callback_method: str = "POST",
        twiml: str | None = None,
        timeout: float = 60,
        answer: str | Answer | None = None,
        call_sid: str | None = None,
        on_event: Callable[..., None] | None = None,
    ) -> SimulatedCall:
        """:meth:`place_outbound` without starting the leg: :meth:`start` it (the REST API
        answers with the ``queued`` call before it rings)."""
        call = self._make_leg(
            to,
            from_,
            url,
            method,
            status_callback,
            events,
            status_callback_method=status_callback_method,
            twiml=twiml,
            timeout=timeout,
            answer=answer,
            call_sid=call_sid,
            on_event=on_event,
        )
        self.register(call)
        return call

    def start(self, call: SimulatedCall) -> None:
        """Run a prepared leg in a thread of its own."""
        self._start_leg(call)

    def _decide(self, to: str, answer: str | Answer | None) -> Answer:
        if answer is None and self.answer_policy is not None:
            answer = self.answer_policy(to)
        if answer is None:
            return Answer()
        return answer if isinstance(answer, Answer) else Answer(str(answer))

    def _make_leg(
        self,
        to: str,
        from_: str,
        url: str | None,
        method: str,
        status_callback: str | None,
        events: Iterable[str] | None,
        *,
        status_callback_method: str,
        twiml: str | None,
        timeout: float,
        answer: str | Answer | None,
        call_sid: str | None,
        on_event: Callable[..., None] | None,
    ) -> SimulatedCall:
        if (url is None) == (twiml is None):
            raise ValueError("give either url or twiml")
        with self.lock:
            if self._closed:
                raise RuntimeError("the switchboard is closed")
        handset = self.handsets(to) if self.handsets and answer is None else None
        decided = self._decide(to, answer) if handset is None else Answer()
        call = SimulatedCall(
            self.transport,
            public_url=self.public_url,
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            from_=from_,
            to=to,
            inputs=decided.inputs,
            hold_seconds=self.hold_seconds,
            dial_talk_seconds=(
                decided.talk_seconds if decided.talk_seconds is not None else self.talk_seconds
            ),
            api_url=self.api_url,
            voice_path=url or self.public_url + "/",
            voice_method=method,
            twiml=twiml,
            status_callback_url=status_callback,
            status_callback_method=status_callback_method,
            status_callback_events=("completed",) if events is None else tuple(events),
            direction="outbound-api",
            answer=decided.result,
            ring_seconds=self.ring_seconds,
            timeout=timeout,
            pace=self.pace if handset is None else handset.pace,
            switchboard=self,
            call_sid=call_sid,
            on_event=on_event,
            interactive=handset is not None,
            person_answers=handset is not None,
        )
        if handset is not None:
            handset.ring(call)
        return call

    def _start_leg(self, call: SimulatedCall) -> None:
        self.register(call)
        thread = threading.Thread(
            target=self._run_leg, args=(call,), name=f"sim-leg-{call.call_sid}", daemon=True
        )
        with self.lock:
            self._legs[call.call_sid] = thread
        thread.start()

    def _run_leg(self, call: SimulatedCall) -> None:
        try:
            call.run()
        except Exception as exc:  # a bug: keep the thread quiet, but make it visible
            log.exception("simulated call %s failed", call.call_sid)
            self.errors.append(f"{call.call_sid}: {exc!r}")

    def wait(self, sid: str, timeout: float | None = None) -> CallResult | None:
        """Wait for a call to end; its result, or None if it is still going (or unknown)."""
        call = self.get_call(sid)
        if call is None or not call.done.wait(timeout):
            return None
        with self.lock:
            thread = self._legs.get(sid)
        if thread is not None:
            thread.join(timeout)
        return call.result

    def finished(self, call: SimulatedCall) -> None:
        """A call ended: a participant still being dialled for it is given up, its
        recordings complete."""
        callbacks: list[_Callback | None] = []
        now = time.monotonic()
        with self.lock:
            reserved = self._reserved.pop(call.call_sid, None)
            if reserved is not None and reserved.removed is None:
                self._remove(reserved, "failed", callbacks)
            self._dispatch(callbacks)
            for recording in self._recordings.values():
                if recording.call is call and recording.active:
                    self._stop_recording(recording, "processing", now)

    # -- call recordings --------------------------------------------------------------------

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

    # -- text messages ----------------------------------------------------------------------

    def send_message(
        self,
        to: str,
        body: str = "",
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        media_urls: Iterable[str] = (),
        status_callback: str | None = None,
    ) -> Message:
        """Send a text message (REST ``Messages`` create): it is ``queued`` and then, from
        the worker, ``sent`` and ``delivered`` (or what the ``delivery_policy`` says), with
        a status callback to ``status_callback`` at each step.  Raises ValueError without
        a sender, RuntimeError once the board is closed."""
        if not from_ and not messaging_service_sid:
            raise ValueError("a message needs From or MessagingServiceSid")
        media = tuple(media_urls)
        now = _now()
        message = Message(
            sid=("MM" if media else "SM") + secrets.token_hex(16),
            to=to,
            from_=from_ or None,
            body=body,
            messaging_service_sid=messaging_service_sid or None,
            media_urls=media,
            status_callback=status_callback,
            date_created=now,
            date_updated=now,
        )
        with self.lock:
            if self._closed:
                raise RuntimeError("the switchboard is closed")
            self._messages[message.sid] = message
            self._submit(lambda: self._deliver_message(message))
        return message

    def messages(self, to: str | None = None, from_: str | None = None) -> list[Message]:
        """The messages sent (to ``to``, from ``from_``), oldest first."""
        with self.lock:
            return [
                message
                for message in self._messages.values()
                if (to is None or message.to == to) and (from_ is None or message.from_ == from_)
            ]

    def get_message(self, sid: str) -> Message | None:
        with self.lock:
            return self._messages.get(sid)

    def delete_message(self, sid: str) -> bool:
        """Forget a message; False if unknown.  Raises ValueError while it is queued."""
        with self.lock:
            message = self._messages.get(sid)
            if message is None:
                return False
            if message.status == "queued":
                raise ValueError(f"message {sid} is queued")
            del self._messages[sid]
            return True

    def _deliver_message(self, message: Message) -> None:
        """The worker's job: the message is sent and delivered (or not), calling back."""
        result = self.delivery_policy(message.to) if self.delivery_policy else "delivered"
        if result not in DELIVERY_RESULTS:
            log.warning("delivery policy said %r for %s: delivering", result, message.to)
            result = "delivered"
        for status in ("sent", result) if result != "failed" else ("failed",):
            with self.lock:
                now = _now()
                message.status = status
                message.date_updated = now
                if status == "sent":
                    message.date_sent = now
                if status in DELIVERY_ERRORS:
                    message.error_code, message.error_message = DELIVERY_ERRORS[status]
                callback = self._message_event(message)
            if callback is not None:
                self._deliver(callback)

    def _message_event(self, message: Message) -> _Callback | None:
        if not message.status_callback:
            return None
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "To": message.to,
        }
        if message.from_:
            params["From"] = message.from_
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return _Callback(message.status_callback, "POST", params)

    # -- conferences ------------------------------------------------------------------------

    def _new_conference(self, name: str) -> Conference:
        now = _now()
        conference = Conference("CF" + secrets.token_hex(16), name, now, now)
        self._conferences[conference.sid] = conference
        self._active[name] = conference.sid
        return conference

    def _current(self, name: str) -> Conference | None:
        sid = self._active.get(name)
        return self._conferences.get(sid) if sid else None

    def find_conference(self, ref: str) -> Conference | None:
        """A conference by SID, or the current (not completed) one of that friendly name."""
        with self.lock:
            return self._conferences.get(ref) or self._current(ref)

    def conferences(
        self, friendly_name: str | None = None, status: str | None = None
    ) -> list[Conference]:
        """Conferences, newest first."""
        with self.lock:
            found = [
                c
                for c in self._conferences.values()
                if (friendly_name is None or c.friendly_name == friendly_name)
                and (status is None or c.status == status)
            ]
        return found[::-1]

    def join(self, call: SimulatedCall, name: str, options: ConferenceOptions) -> Participant:
        """The call enters conference ``name`` (created if there is none in progress)."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self._reserved.pop(call.call_sid, None)
            if participant is not None and participant.removed is not None:
                return participant  # removed while being dialled: the call sees it at once
            if participant is None:
                conference = self._current(name) or self._new_conference(name)
                now = _now()
                participant = Participant(
                    self,
                    call,
                    conference,
                    options,
                    muted=options.muted,
                    end_conference_on_exit=options.end_conference_on_exit,
                    date_created=now,
                    date_updated=now,
                )
                conference.participants[call.call_sid] = participant
            conference = participant.conference
            options = participant.options
            participant.connected = True
            participant.changed()
            if conference.status_callback is None and options.status_callback:
                conference.status_callback = options.status_callback
                conference.status_callback_method = options.status_callback_method
                conference.status_callback_events = (
                    options.status_callback_events or DEFAULT_CONFERENCE_EVENTS
                )
            callbacks.append(self._event(conference, "join", "participant-join", participant))
            if options.start_conference_on_enter and conference.status == "init":
                conference.status = "in-progress"
                conference.date_updated = _now()
                for member in conference.participants.values():
                    member.changed()
                callbacks.append(self._event(conference, "start", "conference-start"))
            self._dispatch(callbacks)
        return participant

    def leave(self, participant: Participant, reason: str) -> None:
        """The participant's call leaves (``hangup``, ``redirected``, ``time-limit``)."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            if participant.removed is None:
                self._remove(participant, reason, callbacks)
            self._dispatch(callbacks)

    def state(self, participant: Participant) -> ParticipantState:
        with self.lock:
            return ParticipantState(
                conference_sid=participant.conference.sid,
                status=participant.conference.status,
                hold=participant.hold,
                hold_url=participant.hold_url,
                hold_method=participant.hold_method,
                muted=participant.muted,
                removed=participant.removed,
                version=participant.version,
            )

    def participant(self, conference_ref: str, call_sid: str) -> Participant | None:
        """A current participant (connected or being dialled) of a conference."""
        with self.lock:
            conference = self.find_conference(conference_ref)
            if conference is None:
                return None
            return conference.participants.get(call_sid)

    def update_participant(
        self,
        conference_ref: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        hold_url: str | None = None,
        hold_method: str | None = None,
        muted: bool | None = None,
        end_conference_on_exit: bool | None = None,
    ) -> Participant | None:
        """Hold, mute, ... a participant (like a REST participant update); None: unknown."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self.participant(conference_ref, call_sid)
            if participant is None:
                return None
            conference = participant.conference
            if hold_url is not None:
                participant.hold_url = hold_url or None
            if hold_method is not None:
                participant.hold_method = hold_method.upper()
            if end_conference_on_exit is not None:
                participant.end_conference_on_exit = end_conference_on_exit
            if hold is not None and hold != participant.hold:
                participant.hold = hold
                name = "participant-hold" if hold else "participant-unhold"
                callbacks.append(self._event(conference, "hold", name, participant))
            if muted is not None and muted != participant.muted:
                participant.muted = muted
                name = "participant-mute" if muted else "participant-unmute"
                callbacks.append(self._event(conference, "mute", name, participant))
            participant.changed()
            self._dispatch(callbacks)
        return participant

    def kick(self, conference_ref: str, call_sid: str) -> bool:
        """Remove a participant (REST DELETE): its call goes on after its ``<Dial>``."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self.participant(conference_ref, call_sid)
            if participant is None:
                return False
            self._remove(participant, "kicked", callbacks)
            self._dispatch(callbacks)
        return True

    def end_conference(self, conference_ref: str) -> bool:
        """End a conference (REST ``Status=completed``); False if unknown."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            conference = self.find_conference(conference_ref)
            if conference is None:
                return False
            if conference.status != "completed":
                self._end(conference, "conference-ended-via-api", None, callbacks)
            self._dispatch(callbacks)
        return True

    def add_participant(
        self,
        conference_ref: str,
        *,
        from_: str,
        to: str,
        options: ConferenceOptions | None = None,
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        status_callback_method: str = "POST",
        timeout: float = 30,
        answer: str | Answer | None = None,
    ) -> Participant:
        """Dial ``to`` into a conference (REST participant create).

        ``conference_ref`` is a conference SID or a friendly name (a conference of that
        name is created if none is in progress).  Raises LookupError for an unknown SID,
        ValueError for a completed conference.
        """
        options = options or ConferenceOptions()
        with self.lock:
            conference = self._conferences.get(conference_ref) or self._current(conference_ref)
            if conference is None and _SID_RE.fullmatch(conference_ref):
                raise LookupError(conference_ref)
            if conference is not None and conference.status == "completed":
                raise ValueError(f"conference {conference.sid} is completed")
            name = conference.friendly_name if conference is not None else conference_ref
            call = self._make_leg(
                to,
                from_,
                None,
                "POST",
                status_callback,
                events,
                status_callback_method=status_callback_method,
                twiml=_conference_twiml(name),
                timeout=timeout,
                answer=answer,
                call_sid=None,
                on_event=None,
            )
            if conference is None:
                conference = self._new_conference(name)
            now = _now()
            participant = Participant(
                self,
                call,
                conference,
                options,
                muted=options.muted,
                end_conference_on_exit=options.end_conference_on_exit,
                date_created=now,
                date_updated=now,
            )
            conference.participants[call.call_sid] = participant
            self._reserved[call.call_sid] = participant
        self._start_leg(call)
        return participant

    def _remove(self, participant: Participant, reason: str, callbacks: list[Any]) -> None:
        """Take a participant out (lock held); end the conference if that ends it."""
        conference = participant.conference
        conference.participants.pop(participant.call_sid, None)
        was_connected = participant.connected
        participant.removed = reason
        participant.changed()
        if not was_connected:
            if reason != "failed":  # dialled but not there yet: the leg is canceled
                participant.call.hangup(f"removed from conference {conference.friendly_name}")
        else:
            callbacks.append(
                self._event(
                    conference,
                    "leave",
                    "participant-leave",
                    participant,
                    ReasonParticipantLeft=_LEFT_REASONS.get(reason, reason),
                    ParticipantCallStatus=(
                        "completed" if reason == "hangup" else participant.call.status
                    ),
                )
            )
        if conference.status == "completed":
            return
        kicked = reason == "kicked"
        if was_connected and participant.end_conference_on_exit:
            how = "kicked" if kicked else "left"
            ending = f"participant-with-end-conference-on-exit-{how}"
            self._end(conference, ending, participant.call_sid, callbacks)
        elif not conference.participants:
            ending = "last-participant-kicked" if kicked else "last-participant-left"
            self._end(conference, ending, participant.call_sid, callbacks)

    def _end(
        self, conference: Conference, reason: str, call_sid: str | None, callbacks: list[Any]
    ) -> None:
        conference.status = "completed"
        conference.reason_ended = reason
        conference.call_sid_ending = call_sid
        conference.date_updated = _now()
        if self._active.get(conference.friendly_name) == conference.sid:
            del self._active[conference.friendly_name]
        for participant in list(conference.participants.values()):
            self._remove(participant, "conference ended", callbacks)
        extra = {"ReasonConferenceEnded": reason, "Reason": reason}
        if call_sid:
            extra["CallSidEndingConference"] = call_sid
        callbacks.append(self._event(conference, "end", "conference-end", None, **extra))

    def _event(
        self,
        conference: Conference,
        subscription: str,
        name: str,
        participant: Participant | None = None,
        **extra: str,
    ) -> _Callback | None:
        """A conference status callback, if the conference subscribed to it (lock held)."""
        if not conference.status_callback or subscription not in conference.status_callback_events:
            return None
        conference.sequence += 1
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "Timestamp": format_datetime(_now()),
            "SequenceNumber": str(conference.sequence),
        }
        if participant is not None:
            params.update(
                {
                    "CallSid": participant.call_sid,
                    "Muted": str(participant.muted).lower(),
                    "Hold": str(participant.hold).lower(),
                    "Coaching": "false",
                    "EndConferenceOnExit": str(participant.end_conference_on_exit).lower(),
                    "StartConferenceOnEnter": str(
                        participant.options.start_conference_on_enter
                    ).lower(),
                }
            )
            if participant.options.label:
                params["ParticipantLabel"] = participant.options.label
        params.update(extra)
        return _Callback(conference.status_callback, conference.status_callback_method, params)

    # -- callbacks --------------------------------------------------------------------------

    def _dispatch(self, callbacks: Iterable[_Callback | None]) -> None:
        """Send callbacks (lock held, so they go out in the order of the changes): inline
        by the owner of a private board, else through the worker, never from the thread of
        a REST request."""
        pending = [callback for callback in callbacks if callback is not None]
        if not pending:
            return
        if self.owner is not None:
            for callback in pending:
                self.owner._notify(callback.url, callback.method, callback.params)
            return
        self._submit(*pending)

    def _submit(self, *jobs: _Callback | Callable[[], None]) -> None:
        """Hand callbacks to send, or jobs to run, to the worker, in this order."""
        with self.lock:
            if self._worker is None:
                if self._closed:
                    log.warning("switchboard closed: %d callbacks or jobs dropped", len(jobs))
                    return
                self._worker = threading.Thread(
                    target=self._work, name="sim-switchboard-callbacks", daemon=True
                )
                self._worker.start()
            for job in jobs:
                self._queue.put(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if isinstance(job, _Callback):
                    self._deliver(job)
                else:
                    job()
            except Exception as exc:  # a bug: keep the worker going, but make it visible
                log.exception("switchboard job failed")
                self.errors.append(f"worker: {exc!r}")
            finally:
                self._queue.task_done()

    def _deliver(self, callback: _Callback) -> None:
        try:
            response = send_signed(
                self.transport,
                self.validator,
                callback.url,
                callback.method,
                callback.params,
                kind="callback",
                exchanges=self.callbacks,
            )
        except TransportError as exc:
            log.warning("status callback to %s failed: %s", callback.url, exc)
            return
        if not 200 <= response.status_code < 300:
            log.warning("status callback %s answered %s", callback.url, response.status_code)

    # -- lifecycle --------------------------------------------------------------------------

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no leg is running and every callback is sent; False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                legs = [t for t in self._legs.values() if t.is_alive()]
            if not legs and self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self, timeout: float = 10.0) -> None:
        """Hang up every call still going, wait for the legs it dialled and stop the
        callback worker (callers registered from other threads are only hung up)."""
        with self.lock:
            self._closed = True
            legs = list(self._legs.items())
            calls = list(self._calls.values())
        for call in calls:
            if not call.done.is_set():
                call.hangup("the switchboard closed")
        for _sid, thread in legs:
            thread.join(timeout)
        with self.lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout)

    def __enter__(self) -> Switchboard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def log_request(self, entry: ApiRequest) -> None:
        with self.lock:
            self.requests.append(entry)


def _conference_twiml(name: str) -> str:
    response = ET.Element("Response")
    dial = ET.SubElement(response, "Dial")
    ET.SubElement(dial, "Conference").text = name
    return ET.tostring(response, encoding="unicode")


# -- REST API -------------------------------------------------------------------------------


class _BadRequest(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _date(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def create_switchboard_api(board: Switchboard, account_sid: str, auth_token: str) -> Blueprint:
    """Twilio's Calls (and their Recordings), Conferences, Participants and Messages API;
    mount at ``url_prefix="/simulator"``.

    Every route needs HTTP basic auth with exactly ``account_sid`` / ``auth_token``.
    Below ``/2010-04-01/Accounts/{AccountSid}``:

    * ``GET|POST /Calls.json`` – list (To, From, Status, PageSize, Page) / dial a leg
      (To, From, Url|Twiml, Method, StatusCallback, StatusCallbackEvent,
      StatusCallbackMethod, Timeout) → 201
    * ``GET|POST|DELETE /Calls/{CallSid}.json`` – fetch / update (Url+Method: redirect,
      Twiml: run it, Status=completed|canceled: hang up) / delete a finished call
    * ``GET /Conferences.json`` (FriendlyName, Status), ``GET|POST /Conferences/{Sid}.json``
      (Status=completed ends it)
    * ``GET|POST /Conferences/{Sid}/Participants.json`` – list (Muted, Hold) / dial a
      participant (From, To, StartConferenceOnEnter, EndConferenceOnExit, Muted, Label,
      WaitUrl, StatusCallback*, ConferenceStatusCallback*, Timeout) → 201
    * ``GET|POST|DELETE /Conferences/{Sid}/Participants/{CallSid}.json`` – fetch / update
      (Hold, HoldUrl, HoldMethod, Muted, EndConferenceOnExit) / remove → 204
    * ``GET|POST /Calls/{CallSid}/Recordings.json`` – list / start recording a call in
      progress (RecordingChannels mono|dual, RecordingStatusCallback,
      RecordingStatusCallbackMethod, RecordingStatusCallbackEvent, RecordingTrack, Trim)
      → 201; the audio goes to the board's ``recordings`` or the app's recording store
    * ``GET|POST|DELETE /Calls/{CallSid}/Recordings/{Sid}.json`` – fetch / update
      (Status=paused|in-progress|stopped, PauseBehavior=skip|silence; ``Twilio.CURRENT``
      for the call's current recording) / delete a finished one → 204
    * ``GET|POST /Messages.json`` – list (To, From, DateSent, DateSent<, DateSent>) / send
      (To, From|MessagingServiceSid, Body, MediaUrl, StatusCallback) → 201
    * ``GET|DELETE /Messages/{Sid}.json`` – fetch / delete → 204
    """
    if not account_sid or not auth_token:
        raise ValueError("the simulator API needs an account SID and an auth token")
    api = Blueprint("simulator_calls", __name__)
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    @api.before_request
    def _authenticate() -> Response | None:
        return check_api_auth(account_sid, auth_token)

    @api.after_request
    def _log(response: Response) -> Response:
        params = {key: request.values.getlist(key) for key in request.values}
        board.log_request(ApiRequest(request.method, request.path, params, response.status_code))
        return response

    @api.errorhandler(_BadRequest)
    def _bad_request(exc: _BadRequest) -> Response:
        return twilio_error(exc.status, exc.code, exc.message)

    def not_found() -> Response:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    # -- helpers ------------------------------------------------------------------------

    def form_bool(name: str) -> bool | None:
        value = request.form.get(name)
        if value is None or value == "":
            return None
        if value.lower() not in ("true", "false"):
            raise _BadRequest(20001, f"{name} must be true or false")
        return value.lower() == "true"

    def form_method(name: str, default: str) -> str:
        value = (request.form.get(name) or default).upper()
        if value not in ("GET", "POST"):
            raise _BadRequest(20001, f"{name} must be GET or POST")
        return value

    def form_url(name: str, code: int = 21205) -> str | None:
        value = request.form.get(name)
        if not value:
            return None
        if not is_under(board.public_url, value):
            raise _BadRequest(
                code,
                f"{name} {value} is not under the simulator's public URL {board.public_url}",
            )
        return value

    def form_int(name: str, default: int, low: int, high: int) -> int:
        value = request.form.get(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise _BadRequest(20001, f"{name} must be a whole number") from None
        return min(max(number, low), high)

    def form_events(name: str, allowed: Sequence[str]) -> tuple[str, ...] | None:
        values = request.form.getlist(name)
        if not values:
            return None
        events = _split_events(values)
        unknown = [event for event in events if event not in allowed]
        if unknown:
            raise _BadRequest(20001, f"{name}: unknown events {', '.join(unknown)}")
        return events

    def form_twiml() -> str | None:
        twiml = request.form.get("Twiml")
        if twiml is None:
            return None
        try:
            root = ET.fromstring(twiml)
        except ET.ParseError:
            raise _BadRequest(12100, "Document parse failure: Twiml is not XML") from None
        if root.tag != "Response":
            raise _BadRequest(12100, "Document parse failure: the root must be <Response>")
        return twiml

    def address(name: str, missing_code: int, invalid_code: int) -> str:
        value = (request.form.get(name) or "").strip()
        if not value:
            raise _BadRequest(missing_code, f"No '{name}' number is specified")
        if not _ADDRESS_RE.fullmatch(value):
            raise _BadRequest(invalid_code, f"The '{name}' number {value} is not valid")
        return value

    def page(key: str, path: str, items: list[dict[str, Any]]) -> Response:
        try:
            size = max(1, min(1000, int(request.args.get("PageSize", 50))))
            number = max(0, int(request.args.get("Page", 0)))
        except ValueError:
            raise _BadRequest(20001, "Page and PageSize must be whole numbers") from None
        filters = [
            (k, v) for k, v in request.args.items(multi=True) if k not in ("Page", "PageSize")
        ]

        def uri(n: int) -> str:
            return f"{path}?{urlencode([*filters, ('PageSize', size), ('Page', n)])}"

        chunk = items[number * size : (number + 1) * size]
        start = number * size
        return jsonify(
            {
                key: chunk,
                "first_page_uri": uri(0),
                "next_page_uri": uri(number + 1) if start + size < len(items) else None,
                "previous_page_uri": uri(number - 1) if number > 0 else None,
                "page": number,
                "page_size": size,
                "start": start,
                "end": start + max(len(chunk) - 1, 0),
                "uri": uri(number),
            }
        )

    def call_resource(call: SimulatedCall) -> dict[str, Any]:
        uri = f"{prefix}/Calls/{call.call_sid}"
        result = call.result
        created = call.start_time
        return {
            "sid": call.call_sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "date_created": _date(created),
            "date_updated": _date(call.ended_at or _now()),
            "parent_call_sid": call.parent_call_sid,
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from_,
            "from_formatted": call.from_,
            "phone_number_sid": None,
            "status": call.status,
            "start_time": _date(call.answered_time),
            "end_time": _date(call.ended_at),
            "duration": str(result.duration) if result is not None else None,
            "price": None,
            "price_unit": "USD",
            "direction": call.direction,
            "answered_by": None,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri + ".json",
            "subresource_uris": {
                "notifications": uri + "/Notifications.json",
                "recordings": uri + "/Recordings.json",
                "events": uri + "/Events.json",
            },
        }

    def conference_resource(conference: Conference) -> dict[str, Any]:
        uri = f"{prefix}/Conferences/{conference.sid}"
        return {
            "sid": conference.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "friendly_name": conference.friendly_name,
            "region": "us1",
            "status": conference.status,
            "date_created": _date(conference.date_created),
            "date_updated": _date(conference.date_updated),
            "reason_conference_ended": conference.reason_ended,
            "call_sid_ending_conference": conference.call_sid_ending,
            "uri": uri + ".json",
            "subresource_uris": {
                "participants": uri + "/Participants.json",
                "recordings": uri + "/Recordings.json",
            },
        }

    def participant_resource(participant: Participant) -> dict[str, Any]:
        conference = participant.conference
        return {
            "account_sid": account_sid,
            "call_sid": participant.call_sid,
            "conference_sid": conference.sid,
            "label": participant.options.label,
            "call_sid_to_coach": None,
            "coaching": False,
            "date_created": _date(participant.date_created),
            "date_updated": _date(participant.date_updated),
            "end_conference_on_exit": participant.end_conference_on_exit,
            "start_conference_on_enter": participant.options.start_conference_on_enter,
            "muted": participant.muted,
            "hold": participant.hold,
            "status": participant.status,
            "queue_time": None,
            "uri": f"{prefix}/Conferences/{conference.sid}/Participants/"
            f"{participant.call_sid}.json",
        }

    def recording_resource(recording: CallRecording) -> dict[str, Any]:
        return {
            "sid": recording.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": _date(recording.date_created),
            "date_updated": _date(recording.date_updated),
            "start_time": _date(recording.date_created),
            "duration": None if recording.duration is None else str(recording.duration),
            "channels": recording.channels,
            "source": RECORDING_SOURCE,
            "status": recording.status,
            "error_code": recording.error_code,
            "track": recording.track,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "uri": f"{prefix}/Calls/{recording.call_sid}/Recordings/{recording.sid}.json",
        }

    def message_resource(message: Message) -> dict[str, Any]:
        uri = f"{prefix}/Messages/{message.sid}"
        return {
            "sid": message.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "messaging_service_sid": message.messaging_service_sid,
            "to": message.to,
            "from": message.from_,
            "body": message.body,
            "num_segments": str(message.num_segments),
            "num_media": str(len(message.media_urls)),
            "direction": message.direction,
            "status": message.status,
            "error_code": message.error_code,
            "error_message": message.error_message,
            "date_created": _date(message.date_created),
            "date_updated": _date(message.date_updated),
            "date_sent": _date(message.date_sent),
            "price": None,
            "price_unit": "USD",
            "uri": uri + ".json",
            "subresource_uris": {
                "media": uri + "/Media.json",
                "feedback": uri + "/Feedback.json",
            },
        }

    @contextmanager
    def locked() -> Iterator[None]:
        with board.lock:
            yield

    # -- calls --------------------------------------------------------------------------

    @api.get(f"{base}/Calls.json")
    def list_calls(account: str) -> Response:
        args = request.args
        calls = [
            call
            for call in reversed(board.calls())
            if (not args.get("To") or call.to == args["To"])
            and (not args.get("From") or call.from_ == args["From"])
            and (not args.get("Status") or call.status == args["Status"])
            and (not args.get("ParentCallSid") or call.parent_call_sid == args["ParentCallSid"])
        ]
        return page("calls", f"{prefix}/Calls.json", [call_resource(c) for c in calls])

    @api.post(f"{base}/Calls.json")
    def create_call(account: str) -> tuple[Response, int]:
        to = address("To", 21201, 21211)
        from_ = address("From", 21213, 21212)
        if request.form.get("ApplicationSid"):
            raise _BadRequest(20001, "ApplicationSid is not supported by the simulator")
        url = form_url("Url")
        twiml = form_twiml()
        if url is None and twiml is None:
            raise _BadRequest(21205, "A 'Url' or 'Twiml' parameter is required")
        method = form_method("Method", "POST")
        status_callback = form_url("StatusCallback", 21609)
        events = form_events("StatusCallbackEvent", CALL_PROGRESS_EVENTS)
        try:
            call = board.prepare_outbound(
                to,
                from_,
                url if twiml is None else None,
                method,
                status_callback,
                events,
                status_callback_method=form_method("StatusCallbackMethod", "POST"),
                twiml=twiml,
                timeout=form_int("Timeout", 60, 1, 600),
            )
        except RuntimeError as exc:
            raise _BadRequest(20500, str(exc), status=503) from None
        resource = call_resource(call)
        board.start(call)
        return jsonify(resource), 201

    @api.get(f"{base}/Calls/<sid>.json")
    def fetch_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        return not_found() if call is None else jsonify(call_resource(call))

    @api.post(f"{base}/Calls/<sid>.json")
    def update_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        if call is None:
            return not_found()
        over = call.done.is_set() or call.status in FINAL_STATUSES
        status = request.form.get("Status")
        if status:
            if status not in ("completed", "canceled"):
                raise _BadRequest(20001, f"Status must be completed or canceled, not {status}")
            resource = call_resource(call)
            answered = call.answered_time is not None
            if not over and (status == "completed" or not answered):
                call.hangup("hung up via REST" if answered else "canceled via REST")
                resource["status"] = "completed" if answered else "canceled"
            return jsonify(resource)
        url = form_url("Url")
        twiml = form_twiml()
        if url is None and twiml is None:
            return jsonify(call_resource(call))  # e.g. only a StatusCallback: nothing to do
        if over:
            raise _BadRequest(21220, "Call is not in-progress. Cannot redirect.")
        if twiml is not None:
            call.run_twiml(twiml)
        else:
            assert url is not None
            call.redirect(url, form_method("Method", "POST"))
        return jsonify(call_resource(call))

    @api.delete(f"{base}/Calls/<sid>.json")
    def delete_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        if call is None:
            return not_found()
        if not call.done.is_set():
            raise _BadRequest(20009, "Cannot delete a call that is in progress")
        board.unregister(sid)
        return Response(status=204)

    # -- call recordings ----------------------------------------------------------------

    @api.get(f"{base}/Calls/<sid>/Recordings.json")
    def list_call_recordings(account: str, sid: str) -> Response:
        if board.get_call(sid) is None:
            return not_found()
        with locked():
            items = [recording_resource(r) for r in reversed(board.call_recordings(sid))]
        return page("recordings", f"{prefix}/Calls/{sid}/Recordings.json", items)

    @api.post(f"{base}/Calls/<sid>/Recordings.json")
    def create_call_recording(account: str, sid: str) -> tuple[Response, int]:
        channels = request.form.get("RecordingChannels") or "mono"
        if channels not in ("mono", "dual"):
            raise _BadRequest(20001, f"RecordingChannels must be mono or dual, not {channels}")
        track = request.form.get("RecordingTrack") or "both"
        if track not in RECORDING_TRACKS:
            raise _BadRequest(20001, "RecordingTrack must be inbound, outbound or both")
        trim = request.form.get("Trim") or "do-not-trim"
        if trim not in ("trim-silence", "do-not-trim"):
            raise _BadRequest(20001, "Trim must be trim-silence or do-not-trim")
        callback = form_url("RecordingStatusCallback", 21609)
        events = form_events("RecordingStatusCallbackEvent", RECORDING_EVENTS)
        store = board.recordings or store_of(current_app)
        if store is None:
            raise _BadRequest(20500, "the simulator has no recording store", status=503)
        with locked():
            try:
                recording = board.start_recording(
                    sid,
                    store=store,
                    channels=2 if channels == "dual" else 1,
                    track=track,
                    trim=trim == "trim-silence",
                    status_callback=callback,
                    status_callback_method=form_method("RecordingStatusCallbackMethod", "POST"),
                    events=events,
                )
            except LookupError:
                return not_found(), 404
            except RuntimeError as exc:
                raise _BadRequest(20500, str(exc), status=503) from None
            return jsonify(recording_resource(recording)), 201

    @api.get(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def fetch_call_recording(account: str, sid: str, ref: str) -> Response:
        with locked():
            recording = board.find_recording(sid, ref) if ref != CURRENT_RECORDING else None
            return not_found() if recording is None else jsonify(recording_resource(recording))

    @api.post(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def update_call_recording(account: str, sid: str, ref: str) -> Response:
        status = request.form.get("Status")
        if not status:
            raise _BadRequest(20001, "Status is required: paused, in-progress or stopped")
        with locked():
            try:
                recording = board.update_recording(
                    sid, ref, status, request.form.get("PauseBehavior") or None
                )
            except ValueError as exc:
                raise _BadRequest(20001, str(exc)) from None
            return not_found() if recording is None else jsonify(recording_resource(recording))

    @api.delete(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def delete_call_recording(account: str, sid: str, ref: str) -> Response:
        try:
            deleted = board.delete_recording(sid, ref)
        except ValueError as exc:
            raise _BadRequest(20001, f"Cannot delete a recording in progress: {exc}") from None
        return Response(status=204) if deleted else not_found()

    # -- conferences --------------------------------------------------------------------

    @api.get(f"{base}/Conferences.json")
    def list_conferences(account: str) -> Response:
        found = board.conferences(
            friendly_name=request.args.get("FriendlyName") or None,
            status=request.args.get("Status") or None,
        )
        with locked():
            items = [conference_resource(c) for c in found]
        return page("conferences", f"{prefix}/Conferences.json", items)

    @api.get(f"{base}/Conferences/<ref>.json")
    def fetch_conference(account: str, ref: str) -> Response:
        with locked():
            conference = board.find_conference(ref)
            if conference is None:
                return not_found()
            return jsonify(conference_resource(conference))

    @api.post(f"{base}/Conferences/<ref>.json")
    def update_conference(account: str, ref: str) -> Response:
        if board.find_conference(ref) is None:
            return not_found()
        for unsupported in ("AnnounceUrl",):
            if request.form.get(unsupported):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
        status = request.form.get("Status")
        if status:
            if status != "completed":
                raise _BadRequest(20001, f"Status must be completed, not {status}")
            board.end_conference(ref)
        with locked():
            conference = board.find_conference(ref)
            assert conference is not None
            return jsonify(conference_resource(conference))

    # -- participants -------------------------------------------------------------------

    @api.get(f"{base}/Conferences/<ref>/Participants.json")
    def list_participants(account: str, ref: str) -> Response:
        muted = request.args.get("Muted")
        hold = request.args.get("Hold")
        with locked():
            conference = board.find_conference(ref)
            if conference is None:
                return not_found()
            items = [
                participant_resource(p)
                for p in conference.participants.values()
                if (muted is None or str(p.muted).lower() == muted.lower())
                and (hold is None or str(p.hold).lower() == hold.lower())
            ]
            path = f"{prefix}/Conferences/{conference.sid}/Participants.json"
        return page("participants", path, items)

    @api.post(f"{base}/Conferences/<ref>/Participants.json")
    def create_participant(account: str, ref: str) -> tuple[Response, int]:
        from_ = address("From", 21213, 21212)
        to = address("To", 21201, 21211)
        for unsupported in ("Coaching", "CallSidToCoach"):
            if request.form.get(unsupported) not in (None, "", "false"):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
        conference_callback = form_url("ConferenceStatusCallback", 21609)
        wait_url = request.form.get("WaitUrl")
        if wait_url:
            form_url("WaitUrl")
        start = form_bool("StartConferenceOnEnter")
        end = form_bool("EndConferenceOnExit")
        muted = form_bool("Muted")
        options = ConferenceOptions(
            start_conference_on_enter=True if start is None else start,
            end_conference_on_exit=bool(end),
            muted=bool(muted),
            beep=request.form.get("Beep") or "true",
            wait_url=wait_url,
            wait_method=form_method("WaitMethod", "POST"),
            status_callback=conference_callback,
            status_callback_method=form_method("ConferenceStatusCallbackMethod", "POST"),
            status_callback_events=form_events("ConferenceStatusCallbackEvent", CONFERENCE_EVENTS)
            or (),
            label=request.form.get("Label") or None,
        )
        try:
            participant = board.add_participant(
                ref,
                from_=from_,
                to=to,
                options=options,
                status_callback=form_url("StatusCallback", 21609),
                events=form_events("StatusCallbackEvent", CALL_PROGRESS_EVENTS),
                status_callback_method=form_method("StatusCallbackMethod", "POST"),
                timeout=form_int("Timeout", 30, 5, 600),
            )
        except LookupError:
            return not_found(), 404
        except ValueError as exc:
            raise _BadRequest(20001, str(exc)) from None
        except RuntimeError as exc:
            raise _BadRequest(20500, str(exc), status=503) from None
        with locked():
            return jsonify(participant_resource(participant)), 201

    @api.get(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def fetch_participant(account: str, ref: str, call_sid: str) -> Response:
        with locked():
            participant = board.participant(ref, call_sid)
            if participant is None:
                return not_found()
            return jsonify(participant_resource(participant))

    @api.post(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def update_participant(account: str, ref: str, call_sid: str) -> Response:
        if board.participant(ref, call_sid) is None:
            return not_found()
        for unsupported in ("AnnounceUrl", "CallSidToCoach"):
            if request.form.get(unsupported):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
        hold_url = form_url("HoldUrl")
        participant = board.update_participant(
            ref,
            call_sid,
            hold=form_bool("Hold"),
            hold_url=hold_url,
            hold_method=form_method("HoldMethod", "GET")
            if request.form.get("HoldMethod")
            else None,
            muted=form_bool("Muted"),
            end_conference_on_exit=form_bool("EndConferenceOnExit"),
        )
        if participant is None:
            return not_found()
        with locked():
            return jsonify(participant_resource(participant))

    @api.delete(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def delete_participant(account: str, ref: str, call_sid: str) -> Response:
        if not board.kick(ref, call_sid):
            return not_found()
        return Response(status=204)

    # -- messages -----------------------------------------------------------------------

    def date_filter(name: str) -> datetime | None:
        value = request.args.get(name)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _BadRequest(20001, f"{name} must be a date (YYYY-MM-DD)") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    @api.get(f"{base}/Messages.json")
    def list_messages(account: str) -> Response:
        on = date_filter("DateSent")
        before, after = date_filter("DateSent<"), date_filter("DateSent>")

        def sent_within(message: Message) -> bool:
            sent = message.date_sent
            if on is None and before is None and after is None:
                return True
            return (
                sent is not None
                and (on is None or sent.date() == on.date())
                and (before is None or sent <= before)
                and (after is None or sent >= after)
            )

        with locked():
            found = board.messages(
                to=request.args.get("To") or None, from_=request.args.get("From") or None
            )
            items = [message_resource(m) for m in reversed(found) if sent_within(m)]
        return page("messages", f"{prefix}/Messages.json", items)

    @api.post(f"{base}/Messages.json")
    def create_message(account: str) -> tuple[Response, int]:
        form = request.form
        to = (form.get("To") or "").strip()
        if not to:
            raise _BadRequest(21604, "A 'To' phone number is required.")
        if not _E164_RE.fullmatch(to):
            raise _BadRequest(21211, f"The 'To' number {to} is not a valid phone number.")
        from_ = (form.get("From") or "").strip()
        service = (form.get("MessagingServiceSid") or "").strip()
        if not from_ and not service:
            raise _BadRequest(21603, "A 'From' phone number or a MessagingServiceSid is required.")
        if from_ and not (_E164_RE.fullmatch(from_) or _SENDER_ID_RE.fullmatch(from_)):
            raise _BadRequest(
                21606, f"The 'From' phone number {from_} is not a valid message-capable number."
            )
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise _BadRequest(21701, f"The Messaging Service {service} does not exist.")
        body = form.get("Body") or ""
        media = form.getlist("MediaUrl")
        for url in media:
            if urlsplit(url).scheme not in ("http", "https"):
                raise _BadRequest(21620, f"Invalid media URL: {url}")
        if not body and not media:
            raise _BadRequest(21602, "Message body is required.")
        if len(body) > MAX_MESSAGE_LENGTH:
            raise _BadRequest(
                21617,
                f"The concatenated message body exceeds the {MAX_MESSAGE_LENGTH} character limit.",
            )
        callback = form_url("StatusCallback", 21609)
        with locked():
            try:
                message = board.send_message(
                    to,
                    body,
                    from_=from_ or None,
                    messaging_service_sid=service or None,
                    media_urls=media,
                    status_callback=callback,
                )
            except RuntimeError as exc:
                raise _BadRequest(20500, str(exc), status=503) from None
            return jsonify(message_resource(message)), 201

    @api.get(f"{base}/Messages/<sid>.json")
    def fetch_message(account: str, sid: str) -> Response:
        with locked():
            message = board.get_message(sid)
            return not_found() if message is None else jsonify(message_resource(message))

    @api.delete(f"{base}/Messages/<sid>.json")
    def delete_message(account: str, sid: str) -> Response:
        try:
            deleted = board.delete_message(sid)
        except ValueError:
            raise _BadRequest(20009, "Cannot delete a message that is being sent") from None
        return Response(status=204) if deleted else not_found()

    return api


__all__ = [
    "Answer",
    "AnswerPolicy",
    "ApiRequest",
    "CallRecording",
    "Conference",
    "ConferenceOptions",
    "Message",
    "Participant",
    "ParticipantState",
    "Switchboard",
    "create_switchboard_api",
]
