"""A simulated caller: places an inbound call the way Twilio does and follows the TwiML.

The phone POSTs Twilio's voice webhook (form-encoded, signed with ``X-Twilio-Signature``)
to the application, parses the TwiML it answers with and plays it verb by verb, the way
Twilio's call engine would, writing down what the caller hears and does as
:class:`CallEvent` objects.  Time is simulated: nothing sleeps, a clock advances by how long
each verb would take (``Say`` ≈ 1 s per 12 characters, ``Play`` 10 s unless known,
``Pause`` its length, ...).

The caller is scripted: ``inputs`` is the ordered list of what they will do at each
``<Gather>``, key presses (``"1"``, ``"12345#"``) or spoken phrases.  In a queue they hold
for ``hold_seconds`` and then hang up; at a ``<Record>`` they talk for ``record_seconds``;
whoever a ``<Dial>`` calls answers with ``dial_result``.

Requests go through a *transport* addressed by the public URL, exactly the URL Twilio would
call.  :class:`HttpTransport` maps it onto a running server, :class:`WsgiTransport` onto an
in-process WSGI app.  Nothing outside the public URL is ever requested.

>>> result = place_call(
...     WsgiTransport(app), public_url="https://cc.example.com", account_sid=sid,
...     auth_token=token, from_="+15551230000", to="+15559870000", inputs=["1"])
>>> for event in result.events:
...     print(format_event(event))

The call's state lives in :class:`SimulatedCall`, so the simulator's REST side can act on a
running call from another thread or from the ``on_wait`` hook: :meth:`SimulatedCall.bridge`
(an agent takes the caller out of the queue), :meth:`SimulatedCall.redirect` (a REST call
update / queue member dequeue), :meth:`SimulatedCall.run_twiml` and
:meth:`SimulatedCall.hangup`.

An *interactive* call (``interactive=True``) has a person behind it instead of a script:
it runs in real time (``pace`` 1.0) and, at each ``<Gather>``, waits for what they do from
another thread (:meth:`SimulatedCall.press`, :meth:`SimulatedCall.say`) until the
Gather's timeout passes; ``hangup(by="caller")`` is the person hanging up.  The browser
phone of :mod:`callcenter.simulator.phone_page` drives such calls.

``<Dial><Conference>`` joins a conference of a
:class:`~callcenter.simulator.switchboard.Switchboard` (the simulator's live state, shared
with its REST API); a call given no ``switchboard`` gets a private one for itself.  Calls
created through the REST API (``direction="outbound-api"``) ring, get answered (or not) and
post call progress events before they request their first TwiML.
"""

from __future__ import annotations

import math
import secrets
import threading
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from twilio.request_validator import RequestValidator

from callcenter.simulator.board import Board
from callcenter.simulator.leg.clock import Clock
from callcenter.simulator.leg.common import (
    ANSWERS,
    CALL_PROGRESS_EVENTS,
    DIAL_RESULTS,
    Fetch,
    QueueState,
    _absolute,
    _Bridge,
    _CallOver,
    _HangupRequest,
    _Redirect,
    _Typed,
)
from callcenter.simulator.leg.control import Control
from callcenter.simulator.leg.dial import DialVerb
from callcenter.simulator.leg.enqueue import EnqueueVerb
from callcenter.simulator.leg.events import CallerInput, CallEvent, CallResult, parse_input
from callcenter.simulator.leg.gather import GatherVerb
from callcenter.simulator.leg.input import PersonInput
from callcenter.simulator.leg.record import RecordVerb
from callcenter.simulator.leg.ringing import Ringing
from callcenter.simulator.leg.speech import SpeechVerbs
from callcenter.simulator.leg.webhooks import Webhooks
from callcenter.simulator.transports import Exchange, Transport

if TYPE_CHECKING:
    from callcenter.simulator.conferences import Participant


class SimulatedCall(
    Clock,
    Webhooks,
    Ringing,
    Control,
    PersonInput,
    SpeechVerbs,
    GatherVerb,
    EnqueueVerb,
    RecordVerb,
    DialVerb,
):
    """One call: its parameters, script, simulated clock and transcript.

    The class is assembled from one part per concern (its bases, each a module of
    :mod:`callcenter.simulator.leg`): the clock, webhooks, ringing, the REST side's
    control, the person's input, and the verb families; ``_HANDLERS`` maps each verb of a
    document to its handler.

    Create it, optionally hand it to the REST side (``call.call_sid`` is known from the
    start), then :meth:`run` it.  :meth:`bridge`, :meth:`redirect`, :meth:`run_twiml` and
    :meth:`hangup` are thread-safe and take effect at the next verb boundary.

    The clock is simulated and nothing sleeps, unless ``pace`` > 0: then each simulated
    second takes ``pace`` real seconds (1.0: real time), so people or other threads can act
    on the call while it waits; an intervention cuts the current verb short.
    ``on_wait(call)`` is called at each step of a queue or conference wait, in simulated
    time (``call.queue`` / ``call.conference`` tell which).

    By default the call is an inbound call from a caller.  ``direction="outbound-api"``
    makes it a call created through the REST API (what a switchboard does): it is
    ``queued``, rings for ``ring_seconds`` and is then answered (or ``answer`` is
    ``busy``, ``no-answer`` after ``timeout`` seconds, ``failed``), posting the
    ``status_callback_events`` (initiated, ringing, answered, completed) to
    ``status_callback_url``, before it requests ``voice_path`` with ``voice_method`` (or
    runs the inline ``twiml``).

    In a ``<Dial><Conference>`` the call waits up to ``hold_seconds`` for the conference
    to start and then talks for ``dial_talk_seconds``, unless the conference ends, the
    call is removed from it, hung up or redirected first.  ``switchboard`` makes the call
    reachable by the REST API and its conferences shared with other calls.

    ``interactive=True``: a person plays the caller instead of ``inputs``.  The call then
    runs at ``pace`` 1.0 unless told otherwise (it must be > 0), and each ``<Gather>``
    waits for :meth:`press` / :meth:`say` from other threads: keys or words given while
    its prompts play cut them short (barge-in), keys extend the wait by the Gather's
    ``timeout`` until ``finishOnKey`` or ``numDigits`` completes them, and nothing within
    the timeout is a timeout as for a scripted call.  What the person does while no
    Gather listens (a plain ``<Say>``, the request for the next document, keys after the
    ones a Gather took) is kept for the next Gather, in order, like a phone's keypad
    buffer (a ``held`` event; Twilio itself drops it): that Gather takes it at once,
    without playing its prompts.  What a Gather does not listen for, keys typed before a
    ``<Record>``'s beep and keys in a conference are dropped (``ignored`` events).  A
    ``<Record>`` (announced by a ``recording`` event) lasts until they press a
    ``finishOnKey`` key, hang up or reach ``maxLength``.  ``person_answers=True`` (an
    interactive ``outbound-api`` call): it rings until :meth:`pick_up`, :meth:`decline`
    (``busy``) or ``timeout`` (``no-answer``).  :meth:`hangup` with
    ``by="caller"`` is the person hanging up (in a queue, the Enqueue ``action`` gets
    ``QueueResult=hangup``).  Prompts are timed as a voice would speak them (CJK text
    more slowly than with the scripted 1 s per 12 characters), so the person hears them
    out before a Gather's timeout starts.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        public_url: str,
        account_sid: str,
        auth_token: str,
        from_: str,
        to: str,
        inputs: Iterable[str | CallerInput] = (),
        hold_seconds: float = 30,
        record_seconds: float = 5,
        dial_result: str = "completed",
        dial_talk_seconds: float = 20,
        api_url: str | None = None,
        voice_path: str = "/twilio/voice",
        status_callback_url: str | None = "/twilio/status",
        max_steps: int = 100,
        on_event: Callable[[CallEvent], None] | None = None,
        on_wait: Callable[[SimulatedCall], None] | None = None,
        call_sid: str | None = None,
        start_time: datetime | None = None,
        pace: float | None = None,
        switchboard: Board | None = None,
        direction: str = "inbound",
        voice_method: str = "POST",
        twiml: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: Iterable[str] | None = None,
        answer: str = "answer",
        ring_seconds: float = 1,
        timeout: float = 60,
        parent_call_sid: str | None = None,
        interactive: bool = False,
        person_answers: bool = False,
    ) -> None:
        if pace is None:
            pace = 1.0 if interactive else 0.0
        if pace < 0:
            raise ValueError("pace must not be negative")
        if interactive and pace <= 0:
            raise ValueError("an interactive call runs in (scaled) real time: pace must be > 0")
        if person_answers and not (interactive and direction == "outbound-api"):
            raise ValueError("a person answers only an interactive outbound-api call")
        if dial_result not in DIAL_RESULTS:
            raise ValueError(f"dial_result must be one of {', '.join(DIAL_RESULTS)}")
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if direction not in ("inbound", "outbound-api", "outbound-dial"):
            raise ValueError("direction must be inbound, outbound-api or outbound-dial")
        if answer not in ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(ANSWERS)}")
        events = ("completed",) if status_callback_events is None else tuple(status_callback_events)
        unknown = set(events) - set(CALL_PROGRESS_EVENTS)
        if unknown:
            raise ValueError(f"unknown call progress events: {', '.join(sorted(unknown))}")
        self.transport = transport
        self.public_url = public_url.rstrip("/")
        bind = getattr(transport, "bind", None)
        if bind is not None:
            bind(self.public_url)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.validator = RequestValidator(auth_token)
        self.from_ = from_
        self.to = to
        self.inputs: deque[CallerInput] = deque(parse_input(item) for item in inputs)
        self.hold_seconds = hold_seconds
        self.record_seconds = record_seconds
        self.dial_result = dial_result
        self.dial_talk_seconds = dial_talk_seconds
        self.api_url = (api_url or f"{self.public_url}/simulator").rstrip("/")
        self.voice_url = _absolute(self.public_url, voice_path)
        self.status_callback_url = (
            _absolute(self.public_url, status_callback_url) if status_callback_url else None
        )
        self.max_steps = max_steps
        self.pace = pace
        self.on_event = on_event
        self.on_wait = on_wait
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.start_time = (start_time or datetime.now(UTC)).replace(microsecond=0)
        self.switchboard = switchboard
        self.direction = direction
        self.voice_method = voice_method.upper()
        self.initial_twiml = twiml
        self.status_callback_method = status_callback_method.upper()
        self.status_callback_events = events
        self.answer = answer
        self.ring_seconds = ring_seconds
        self.timeout = timeout
        self.parent_call_sid = parent_call_sid
        self.interactive = interactive
        self.person_answers = person_answers
        self._choice: str | None = None
        """What the person did with the ringing call (``answer`` or ``busy``)."""

        self.clock: float = 0.0
        self.status = "ringing" if direction == "inbound" else "queued"
        self.conference: Participant | None = None
        """The conference membership while the call is in a ``<Dial><Conference>``."""
        self.result: CallResult | None = None
        self.done = threading.Event()
        """Set when the call is over (``result`` is then filled in)."""
        self.ended_at: datetime | None = None
        self._answered_at: float | None = 0.0 if direction == "inbound" else None
        self._sequence = 0
        self._seen_version = 0
        self._doc_url = self.public_url + "/"
        self._private_board: Board | None = None
        self.caller_hung_up = False
        self.queue: QueueState | None = None
        self.steps = 0
        self.events: list[CallEvent] = []
        self.exchanges: list[Exchange] = []
        self.recordings: list[str] = []
        self.ended: str | None = None
        self._last_wait_hook: float | None = None
        self._pending: deque[_Bridge | _Redirect | _HangupRequest] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._live: deque[_Typed] = deque()
        """What the person of an interactive call did, not yet taken by the call."""
        self._asleep_since: float | None = None
        self._listening: frozenset[str] | None = None
        """While an interactive ``<Gather>`` listens: its input types (dtmf, speech)."""

    @property
    def answered_time(self) -> datetime | None:
        """When the call was answered (None: not, or not yet)."""
        if self._answered_at is None:
            return None
        return self.start_time + timedelta(seconds=math.floor(self._answered_at))

    def run(self) -> CallResult:
        """Place the call and follow the app's TwiML until the call ends."""
        if self.switchboard is not None:
            self.switchboard.register(self)
        try:
            self.result = self._run()
            return self.result
        finally:
            self.done.set()
            if self.switchboard is not None:
                self.switchboard.finished(self)
            if self._private_board is not None:
                self._private_board.finished(self)
                self._private_board.close()

    def _run(self) -> CallResult:
        status = "completed"
        try:
            if self.direction != "inbound":
                self._ring()
            next_fetch: Fetch | None = Fetch(
                self.voice_url, self.voice_method, twiml=self.initial_twiml
            )
            while next_fetch is not None:
                doc_url, root = self._fetch_twiml(next_fetch)
                next_fetch = self._execute(doc_url, root)
            self.ended = self._app_ended("call completed by the app")
        except _CallOver as over:
            self.ended = over.ended
            status = over.status
        self.status = status
        answered = self._answered_at is not None and status not in ("busy", "no-answer")
        duration = math.ceil(self.clock - (self._answered_at or 0)) if answered else 0
        self.ended_at = self.start_time + timedelta(seconds=math.ceil(self.clock))
        self._event("status", f"{status} after {duration}s", status=status, duration=duration)
        self._progress(
            "completed",
            CallDuration=str(duration),
            Duration=str(math.ceil(duration / 60)),
        )
        return CallResult(
            call_sid=self.call_sid,
            events=self.events,
            ended=self.ended,
            exchanges=self.exchanges,
            status=status,
            duration=duration,
            recordings=list(self.recordings),
            unused_inputs=list(self.inputs),
        )

    def _board(self) -> Board:
        """The switchboard this call's conferences live on (a private board if none given)."""
        if self.switchboard is not None:
            return self.switchboard
        if self._private_board is None:
            self._private_board = Board(
                self.transport,
                public_url=self.public_url,
                account_sid=self.account_sid,
                auth_token=self.auth_token,
                api_url=self.api_url,
                pace=self.pace,
                owner=self,
            )
            self._private_board.register(self)
        return self._private_board

    def _app_ended(self, reason: str) -> str:
        if self.recordings:
            return f"recorded voicemail {self.recordings[-1]}"
        return reason

    def _execute(self, doc_url: str, root: ET.Element) -> Fetch | None:
        for verb in root:
            pending = self._take(in_queue=False)
            if pending is not None:
                return self._intervene(pending)
            handler = self._HANDLERS.get(verb.tag)
            if handler is None:
                self._unsupported(verb)
            outcome = handler(self, verb, doc_url)
            if outcome is not None:
                return outcome
        if self.interactive:
            # A hang-up or redirect that cut the last verb short still counts.
            pending = self._take(in_queue=False)
            if pending is not None:
                return self._intervene(pending)
        return None

    def _unsupported(self, verb: ET.Element, where: str = "") -> None:
        self._event("unsupported", f"<{verb.tag}>{where}", verb=verb.tag)
        raise _CallOver(f"unsupported verb <{verb.tag}>{where}")

    _HANDLERS: ClassVar[dict[str, Callable[..., Fetch | None]]] = {
        "Say": SpeechVerbs._say_main,
        "Play": SpeechVerbs._play_main,
        "Pause": SpeechVerbs._pause_main,
        "Hangup": Control._hangup_verb,
        "Reject": Control._reject,
        "Redirect": Control._redirect,
        "Gather": GatherVerb._gather_main,
        "Enqueue": EnqueueVerb._enqueue,
        "Record": RecordVerb._record,
        "Dial": DialVerb._dial,
        "Leave": Control._leave_main,
    }


def place_call(
    transport: Transport,
    *,
    public_url: str,
    account_sid: str,
    auth_token: str,
    from_: str,
    to: str,
    inputs: Sequence[str | CallerInput] = (),
    hold_seconds: float = 30,
    record_seconds: float = 5,
    dial_result: str = "completed",
    api_url: str | None = None,
    voice_path: str = "/twilio/voice",
    status_callback_url: str | None = "/twilio/status",
    max_steps: int = 100,
    on_event: Callable[[CallEvent], None] | None = None,
    switchboard: Board | None = None,
    **options: Any,
) -> CallResult:
    """Place one simulated inbound call and return what happened.

    ``voice_path`` and ``status_callback_url`` are paths below ``public_url`` or full URLs
    (``status_callback_url=None``: no status callback).  ``api_url`` defaults to
    ``{public_url}/simulator``.  With a ``switchboard`` the call registers itself there, so
    the simulator's REST API can redirect, hang up or conference it, and its conferences
    are shared with the switchboard's other calls.  More keywords (``on_wait``,
    ``call_sid``, ``start_time``, ``dial_talk_seconds``, ``pace``) go to
    :class:`SimulatedCall`.
    """
    call = SimulatedCall(
        transport,
        public_url=public_url,
        account_sid=account_sid,
        auth_token=auth_token,
        from_=from_,
        to=to,
        inputs=inputs,
        hold_seconds=hold_seconds,
        record_seconds=record_seconds,
        dial_result=dial_result,
        api_url=api_url,
        voice_path=voice_path,
        status_callback_url=status_callback_url,
        max_steps=max_steps,
        on_event=on_event,
        switchboard=switchboard,
        **options,
    )
    return call.run()
