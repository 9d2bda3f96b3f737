"""The simulator's live calls and conferences, and its slice of Twilio's Calls API.

A :class:`Switchboard` is what Twilio's call engine knows at a given moment: the calls in
progress (simulated callers that registered themselves, and the outbound legs it dialled
on request), the conferences and their participants, and a log of the REST requests it
received.  :func:`create_switchboard_api` puts Twilio's REST API in front of it, so the
application drives the simulator with the real ``twilio.rest.Client``:

>>> board = Switchboard(WsgiTransport(app), public_url=public_url, account_sid=sid,
...                     auth_token=token)
>>> app.register_blueprint(create_switchboard_api(board, sid, token), url_prefix="/simulator")
>>> client = Client(sid, token)
>>> client.api.base_url = public_url + "/simulator"
>>> client.calls(caller_sid).update(url=public_url + "/twilio/connect", method="POST")
>>> client.calls.create(to="client:alice", from_="+864008001234", url=..., ...)

Everything the switchboard itself sends (the webhooks of the legs it dials, conference
status callbacks) is signed like Twilio's and goes through the transport to the public
URL.  Nothing is sent from inside a REST request: legs run in threads of their own and
conference callbacks are posted by a background worker, so a ``WsgiTransport`` onto the
same app never re-enters it from within a request.

Differences from Twilio, on purpose:

* Only calls to ``client:NAME``, ``sip:...`` and ``+number`` addresses; they answer after
  ``ring_seconds`` unless the ``answer_policy`` (``to`` → ``"answer"``, ``"busy"``,
  ``"no-answer"``, ``"failed"`` or an :class:`Answer`) says otherwise.
* A conference's status callback is the first one a participant brings (with that
  participant's ``statusCallbackEvent``, ``start end`` if none); later ones are ignored.
* A conference starts when a participant with ``startConferenceOnEnter`` joins; it ends
  when a participant with ``endConferenceOnExit`` leaves or the last participant leaves.
* No conference recording, announcements, coaching or beeps (the attributes are accepted).
"""

from __future__ import annotations

import logging
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
from typing import Any
from urllib.parse import urlencode, urljoin

from flask import Blueprint, Response, jsonify, request
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
from callcenter.simulator.recordings import check_api_auth, twilio_error

log = logging.getLogger("callcenter.simulator")

CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker")
DEFAULT_CONFERENCE_EVENTS = ("start", "end")
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_ADDRESS_RE = re.compile(r"^(?:\+[1-9][0-9]{3,16}|client:[A-Za-z0-9_.@-]{1,256}|sips?:\S+)$")
_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")

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


class Switchboard:
    """The simulator's live state: calls by SID, conferences, REST request log.

    Thread-safe.  ``transport`` (bound to ``public_url``) carries the webhooks of the legs
    the switchboard dials and the conference status callbacks, signed with
    ``auth_token``.  Legs run at ``pace`` (real seconds per simulated second: 1.0 is real
    time; 0 makes them run through instantly); they ring ``ring_seconds``, wait up to
    ``hold_seconds`` for a conference to start and stay ``talk_seconds`` in it at most.

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
        self.lock = threading.RLock()
        """Guards everything below; hold it to read conferences and participants."""
        self._calls: dict[str, SimulatedCall] = {}
        self._conferences: dict[str, Conference] = {}
        self._active: dict[str, str] = {}  # friendly name -> SID of its current conference
        self._reserved: dict[str, Participant] = {}  # call SID -> participant being dialled
        self._legs: dict[str, threading.Thread] = {}
        self._queue: queue.Queue[_Callback | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.requests: list[ApiRequest] = []
        """The REST requests received, in order."""
        self.callbacks: list[Exchange] = []
        """The conference status callbacks sent, in order."""
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
        decided = self._decide(to, answer)
        return SimulatedCall(
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
            pace=self.pace,
            switchboard=self,
            call_sid=call_sid,
            on_event=on_event,
        )

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
        """A call ended: a participant still being dialled for it is given up."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            reserved = self._reserved.pop(call.call_sid, None)
            if reserved is not None and reserved.removed is None:
                self._remove(reserved, "failed", callbacks)
            self._dispatch(callbacks)

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
        with self.lock:
            if self._worker is None:
                if self._closed:
                    log.warning("switchboard closed: %d callbacks dropped", len(pending))
                    return
                self._worker = threading.Thread(
                    target=self._work, name="sim-switchboard-callbacks", daemon=True
                )
                self._worker.start()
            for callback in pending:
                self._queue.put(callback)

    def _work(self) -> None:
        while True:
            callback = self._queue.get()
            try:
                if callback is None:
                    return
                self._deliver(callback)
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
            log.warning("conference callback to %s failed: %s", callback.url, exc)
            return
        if not 200 <= response.status_code < 300:
            log.warning("conference callback %s answered %s", callback.url, response.status_code)

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
    """Twilio's Calls, Conferences and Participants API; mount at ``url_prefix="/simulator"``.

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

    return api


__all__ = [
    "Answer",
    "AnswerPolicy",
    "ApiRequest",
    "Conference",
    "ConferenceOptions",
    "Participant",
    "ParticipantState",
    "Switchboard",
    "create_switchboard_api",
]
