"""The simulator's live state: calls by SID, conferences, call recordings, text messages.

A :class:`Board` is what Twilio's call engine knows at one moment, with everything but
dialling new legs (that is :class:`~callcenter.simulator.switchboard.Switchboard`, built on
it).  A call given no switchboard gets a private board for its conferences.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from twilio.request_validator import RequestValidator

from callcenter.simulator.call_recordings import CallRecording, CallRecordings
from callcenter.simulator.callbacks import CallbackWorker, _Callback
from callcenter.simulator.conferences import Conference, Conferences, Participant
from callcenter.simulator.leg.common import ANSWERS
from callcenter.simulator.leg.events import CallResult
from callcenter.simulator.messages import Message, Messages
from callcenter.simulator.recordings import RecordingStore
from callcenter.simulator.transports import Exchange, Transport

if TYPE_CHECKING:
    from callcenter.simulator.leg.call import SimulatedCall

log = logging.getLogger("callcenter.simulator")


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


@dataclass
class RestFault:
    """A fault the REST API injects into the next ``times`` requests whose method is
    ``method`` and whose path matches ``path`` (a regular expression, searched).

    The request waits ``delay`` seconds (a slow Twilio: a client with a shorter timeout
    gives up), then fails with ``status`` (a Twilio error) or, when ``status`` is None,
    is carried out: Twilio acted, but the answer came too late for the client.
    """

    method: str
    path: str
    status: int | None = 500
    delay: float = 0.0
    times: int = 1
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.used < self.times and method == self.method and bool(re.search(self.path, path))


class Handset(Protocol):
    """A person's phone for a number (the browser phone page): calls to it ring there."""

    pace: float
    """Real seconds per simulated second of the calls it takes."""

    def ring(self, call: SimulatedCall) -> None:
        """Take a call that rings (interactive, ``person_answers``), before it starts."""
        ...


class Board(Conferences, CallRecordings, Messages, CallbackWorker):
    """The simulator's live state: calls by SID, conferences, call recordings, text
    messages, REST request log.

    Thread-safe.  ``transport`` (bound to ``public_url``) carries the webhooks of the legs
    the switchboard dials and the conference, recording and message status callbacks,
    signed with ``auth_token``.  Legs run at ``pace`` (real seconds per simulated second:
    1.0 is real time; 0 makes them run through instantly); they ring ``ring_seconds``,
    wait up to ``hold_seconds`` for a conference to start and stay ``talk_seconds`` in it
    at most.

    ``recordings`` is where call recordings go when they complete (the REST API falls back
    on the store of the app it is mounted in,
    :func:`~callcenter.simulator.rest.recordings.store_of`).
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
        self.rest_faults: list[RestFault] = []
        """Faults to inject into REST requests (:meth:`inject_fault`)."""
        self.callbacks: list[Exchange] = []
        """The status callbacks sent (conference, recording, message), in order."""
        self.errors: list[str] = []
        """Unexpected failures of leg threads (there should be none)."""

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

    def __enter__(self) -> Board:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def inject_fault(self, fault: RestFault) -> RestFault:
        """Make the REST API answer requests matching ``fault`` slowly or with an error."""
        with self.lock:
            self.rest_faults.append(fault)
        return fault

    def take_fault(self, method: str, path: str) -> RestFault | None:
        """The injected fault for this request, if any (used up by it)."""
        with self.lock:
            for fault in self.rest_faults:
                if fault.matches(method, path):
                    fault.used += 1
                    return fault
        return None

    def log_request(self, entry: ApiRequest) -> None:
        with self.lock:
            self.requests.append(entry)
