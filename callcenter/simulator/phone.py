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

import io
import json
import math
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import phonenumbers
import requests
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from callcenter.simulator.switchboard import ConferenceOptions, Participant, Switchboard

API_VERSION = "2010-04-01"
APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
DIAL_RESULTS = ("completed", "busy", "no-answer", "failed")
DEFAULT_PLAY_SECONDS = 10
DEFAULT_FINISH_ON_KEYS_RECORD = "1234567890*#"
SPEECH_CONFIDENCE = "0.92"
DEFAULT_HOLD_MUSIC_CHUNK = 10
ANSWERS = ("answer", "busy", "no-answer", "failed")
"""What the far end of an outbound (REST-created) call does."""
CALL_PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_DIAL_TIME_LIMIT = 14400
USER_AGENT = "TwilioProxy/1.1 (callcenter simulator)"
_DTMF_RE = re.compile(r"^[0-9*#]+$")
_WIDE_RE = re.compile(
    r"[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)
WIDE_CHAR_SECONDS = 0.3
"""How long an interactive call takes to speak one CJK character (1 s per 12 others)."""
HANGUP_BY = ("rest", "caller")
MAX_HELD_INPUT = 32
"""Inputs an interactive call keeps for its next ``<Gather>`` at most (more are dropped)."""
_DEAF: frozenset[str] = frozenset()
"""``_listening`` in a conference: the person's keys go to the other party, not to the app."""
_RECORDING_URL_RE = re.compile(r"/Recordings/(RE[0-9a-f]{32})(?:\.wav)?$")


# -- transports -----------------------------------------------------------------------------


class TransportError(Exception):
    """A request could not be made (connection refused, timeout, ...)."""


class OutsideSimulatorError(TransportError, ValueError):
    """A URL outside the public URL: the simulator never talks to the internet."""


@dataclass
class TransportResponse:
    """What a transport hands back: the parts of a response the simulator reads."""

    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Transport(Protocol):
    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse: ...


def _origin(parts: Any) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a malformed port
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def is_under(base_url: str, url: str) -> bool:
    """Whether ``url`` is ``base_url`` or below it (same scheme, host, port and path prefix)."""
    base = urlsplit(base_url.rstrip("/"))
    parts = urlsplit(url)
    base_path = base.path.rstrip("/")
    return (
        _origin(parts) == _origin(base)
        and not parts.username
        and (not base_path or parts.path == base_path or parts.path.startswith(base_path + "/"))
    )


class _BaseTransport:
    """Maps public URLs (what Twilio would request) onto the simulated server."""

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    def bind(self, public_url: str) -> None:
        """Set the public URL this transport serves (a call does this on start)."""
        public_url = public_url.rstrip("/")
        if self.public_url is None:
            self.public_url = public_url
        elif self.public_url != public_url:
            raise ValueError(
                f"transport serves {self.public_url}, not {public_url}: use one transport "
                "per public URL"
            )

    def _split(self, url: str) -> tuple[Any, str]:
        """The parsed URL and its path+query below the public URL; raise if outside."""
        if self.public_url is None:
            raise ValueError("the transport has no public URL yet: call bind(public_url)")
        if not is_under(self.public_url, url):
            raise OutsideSimulatorError(
                f"refusing to request {url}: it is not under the public URL "
                f"{self.public_url} (the simulator never talks to the internet)"
            )
        parts = urlsplit(url)
        base_path = urlsplit(self.public_url).path.rstrip("/")
        rest = parts.path[len(base_path) :] + (f"?{parts.query}" if parts.query else "")
        return parts, rest


class HttpTransport(_BaseTransport):
    """Real HTTP to a running server at ``base_url`` (the public URL prefix is replaced).

    Adds ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` from the public URL, as a tunnel or
    proxy in front of the app would.  Close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        base_url: str,
        public_url: str | None = None,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(public_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._own_session = session is None
        self.session = session or requests.Session()

    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse:
        parts, rest = self._split(public_url)
        all_headers = {
            "X-Forwarded-Proto": parts.scheme,
            "X-Forwarded-Host": parts.netloc,
            **headers,
        }
        try:
            response = self.session.request(
                method,
                self.base_url + rest,
                data=data,
                headers=all_headers,
                files=files,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method} {public_url} failed: {exc}") from exc
        with response:
            return TransportResponse(response.status_code, response.content, response.headers)

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WsgiTransport(_BaseTransport):
    """An in-process WSGI app through the Flask/werkzeug test client.

    The app sees the public scheme and host, and the request's path and query string.
    """

    def __init__(self, app: Any, public_url: str | None = None) -> None:
        super().__init__(public_url)
        self.app = app
        self._local = threading.local()

    @property
    def client(self) -> Any:
        """This thread's test client (one per thread: calls run in threads of their own)."""
        client = getattr(self._local, "client", None)
        if client is None:
            if hasattr(self.app, "test_client"):
                client = self.app.test_client()
            else:
                from werkzeug.test import Client

                client = Client(self.app)
            self._local.client = client
        return client

    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse:
        parts, _rest = self._split(public_url)
        body: dict[str, Any] | None = dict(data) if data is not None else None
        if files:
            body = body or {}
            for name, (filename, content, content_type) in files.items():
                body[name] = (io.BytesIO(content), filename, content_type)
        response = self.client.open(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            method=method,
            base_url=f"{parts.scheme}://{parts.netloc}",
            data=body,
            headers=headers,
            auth=auth,
        )
        try:
            content = response.get_data()
        finally:
            response.close()
        return TransportResponse(response.status_code, content, response.headers)


# -- what happens on the call ---------------------------------------------------------------


@dataclass(frozen=True)
class Press:
    """The caller presses keys, e.g. ``Press("12345#")``."""

    keys: str

    def __post_init__(self) -> None:
        if not _DTMF_RE.fullmatch(self.keys):
            raise ValueError(f"not DTMF keys: {self.keys!r} (use 0-9, * and #)")


@dataclass(frozen=True)
class Speech:
    """The caller says a phrase, e.g. ``Speech("sales please")``."""

    text: str


CallerInput = Press | Speech


def parse_input(value: str | CallerInput) -> CallerInput:
    """``"123#"`` is a key press, anything else a spoken phrase."""
    if isinstance(value, Press | Speech):
        return value
    text = str(value).strip()
    return Press(text) if _DTMF_RE.fullmatch(text) else Speech(text)


@dataclass
class CallEvent:
    """Something the caller heard or did. ``at`` is simulated seconds since the answer."""

    kind: str
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class Exchange:
    """One HTTP request the simulator made and the status it got (None: no response)."""

    method: str
    url: str
    params: dict[str, str]
    status: int | None
    kind: str = "webhook"
    """``webhook`` (drives the call), ``callback`` (notifications), ``media``, ``api``."""
    body: str = ""


def send_signed(
    transport: Transport,
    validator: RequestValidator,
    url: str,
    method: str,
    params: Mapping[str, str],
    *,
    kind: str,
    exchanges: list[Exchange] | None = None,
) -> TransportResponse:
    """A request signed the way Twilio signs its webhooks; raises :class:`TransportError`.

    GET puts ``params`` in the query string (and signs the URL alone), anything else is a
    form-encoded POST.  The request is written down in ``exchanges`` (its status filled in
    when the answer arrives).
    """
    method = method.upper() if method.upper() in ("GET", "POST") else "POST"
    if method == "GET":
        split = urlsplit(url)
        url = split._replace(fragment="").geturl()
        if params:
            url += ("&" if split.query else "?") + urlencode(params)
        data = None
        signature = validator.compute_signature(url, {})
    else:
        data = dict(params)
        signature = validator.compute_signature(url, data)
    headers = {"X-Twilio-Signature": signature, "User-Agent": USER_AGENT, "Accept": "*/*"}
    exchange = Exchange(method, url, dict(params), None, kind)
    if exchanges is not None:
        exchanges.append(exchange)
    response = transport.request(method, url, data, headers)
    exchange.status = response.status_code
    content_type = str(response.headers.get("Content-Type", ""))
    if not content_type.startswith("audio/"):
        exchange.body = response.text
    return response


HEARD_KINDS = ("say", "play", "error")


@dataclass
class CallResult:
    call_sid: str
    events: list[CallEvent]
    ended: str
    exchanges: list[Exchange]
    status: str = "completed"
    duration: int = 0
    recordings: list[str] = field(default_factory=list)
    unused_inputs: list[CallerInput] = field(default_factory=list)
    """Scripted inputs still waiting when the call ended."""

    def heard(self) -> list[str]:
        """What the caller heard, in order: spoken texts, played transcripts (or URLs)."""
        return [event.text for event in self.events if event.kind in HEARD_KINDS]

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def transcript(self) -> str:
        return "\n".join(format_event(event) for event in self.events)


def _secs(value: float) -> str:
    return f"{value:g}s"


def format_event(event: CallEvent) -> str:
    """One readable line per event, for the CLI."""
    d = event.details
    kind = event.kind
    if kind == "say":
        tags = ", ".join(t for t in (d.get("language"), d.get("voice")) if t)
        loop = f" (x{d['loop']})" if d.get("loop", 1) != 1 else ""
        return f"Say ({tags}): {event.text}{loop}"
    if kind == "play":
        loop = f" (x{d['loop']})" if d.get("loop", 1) != 1 else ""
        if d.get("digits"):
            return f"Play DTMF: {d['digits']}"
        if d.get("transcript"):
            return f'Play: "{event.text}" [{d.get("url")}]{loop}'
        return f"Play: {event.text}{loop}"
    if kind == "pause":
        return f"Pause: {_secs(d.get('seconds', 0))}"
    if kind == "input":
        ahead = " (typed ahead)" if d.get("held") else ""
        if d.get("type") == "speech":
            return f'Said: "{event.text}"{ahead}'
        return f"Pressed: {event.text}{ahead}"
    if kind == "timeout":
        return f"No input: {event.text}"
    if kind == "ignored":
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return f"Not listening, dropped: {event.text}{reason}"
    if kind == "held":
        return f"Kept for the next Gather: {event.text}"
    if kind == "recording":
        keys = d.get("finish_on_key") or ""
        finish = f"press {' or '.join(keys)} or hang up" if 0 < len(keys) <= 2 else "hang up"
        beep = "beep, " if d.get("beep") else ""
        return f"Recording ({beep}{finish} to finish, {_secs(d.get('max_length', 0))} at most)"
    if kind == "enqueue":
        return f'In queue "{event.text}", position {d.get("position", 1)}'
    if kind == "hold":
        return f"Hold: {event.text}"
    if kind == "leave":
        return f'Left queue "{event.text}" after {_secs(d.get("queue_time", 0))}'
    if kind == "bridged":
        return f"Connected: {event.text}"
    if kind == "record":
        return f"Recorded: {event.text}"
    if kind == "dial":
        return f"Dial {event.text}: {d.get('result')} ({_secs(d.get('duration', 0))})"
    if kind == "redirect":
        return f"Redirect: {event.text}"
    if kind == "hangup":
        return f"Hangup: {event.text}"
    if kind == "reject":
        return f"Rejected: {event.text}"
    if kind == "error":
        return f"Application error ({d.get('reason', '')}): {event.text}"
    if kind == "unsupported":
        return f"Unsupported verb: {event.text}"
    if kind == "loop":
        return f"Stopped: {event.text}"
    if kind == "status":
        return f"Call {event.text}"
    if kind == "ringing":
        return f"Ringing: {event.text}"
    if kind == "answered":
        return f"Answered: {event.text}"
    if kind == "conference":
        return f'In conference "{event.text}"'
    if kind == "conference-start":
        return f'Conference "{event.text}" started'
    if kind == "left-conference":
        return (
            f'Left conference "{event.text}" ({d.get("reason")}) after {_secs(d.get("seconds", 0))}'
        )
    if kind == "on-hold":
        return f"On hold: {event.text}"
    if kind == "off-hold":
        return "Off hold"
    if kind == "muted":
        return "Muted"
    if kind == "unmuted":
        return "Unmuted"
    return f"{kind.capitalize()}: {event.text}"


# -- the call -------------------------------------------------------------------------------


@dataclass
class Fetch:
    """Go fetch a TwiML document (and then run ``after``, e.g. a recording callback)."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None
    twiml: str | None = None
    """Inline TwiML (a REST ``Twiml`` parameter): run it instead of requesting ``url``."""


@dataclass
class QueueState:
    """The queue the caller is in, visible to the REST side while they wait."""

    name: str
    sid: str
    entered_at: float
    position: int = 1


@dataclass(frozen=True)
class _Bridge:
    agent: str
    talk_seconds: float


@dataclass(frozen=True)
class _Redirect:
    url: str
    method: str
    twiml: str | None = None


@dataclass(frozen=True)
class _GatherSpec:
    """What an interactive ``<Gather>`` listens for and where it sends the result."""

    input_types: frozenset[str]
    timeout: int
    finish_on_key: str
    num_digits: int
    action: str
    method: str
    on_empty: bool


@dataclass
class _Typed:
    """What the person of an interactive call did, waiting for the call to take it."""

    item: CallerInput
    held: bool = False
    """Kept for the next Gather (announced by a ``held`` event)."""

    def label(self) -> str:
        return self.item.keys if isinstance(self.item, Press) else f'"{self.item.text}"'

    def describe(self) -> str:
        if isinstance(self.item, Press):
            return f"pressed {self.item.keys}"
        return f'said "{self.item.text}"'


@dataclass(frozen=True)
class _HangupRequest:
    reason: str
    by: str = "rest"


class _CallOver(Exception):
    """Ends the call (control flow, not an error)."""

    def __init__(self, ended: str, status: str = "completed") -> None:
        super().__init__(ended)
        self.ended = ended
        self.status = status


def _country(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""


def _absolute(base: str, path_or_url: str) -> str:
    """A path starting with '/' is appended to ``base``; a full URL is kept."""
    if path_or_url.startswith("/"):
        return base.rstrip("/") + path_or_url
    return path_or_url


def _int_attr(element: ET.Element, name: str, default: int) -> int:
    try:
        return int(float(element.get(name, default)))
    except (TypeError, ValueError):
        return default


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


class SimulatedCall:
    """One call: its parameters, script, simulated clock and transcript.

    Create it, optionally hand it to the REST side (``call.call_sid`` is known from the
    start), then :meth:`run` it.  :meth:`bridge`, :meth:`redirect`, :meth:`run_twiml` and
    :meth:`hangup` are thread-safe and take effect at the next verb boundary.

    The clock is simulated and nothing sleeps, unless ``pace`` > 0: then each simulated
    second takes ``pace`` real seconds (1.0: real time), so people or other threads can act
    on the call while it waits; an intervention cuts the current verb short.
    ``on_wait(call)`` is called at each step of a queue or conference wait, in simulated
    time (``call.queue`` / ``call.conference`` tell which).

    By default the call is an inbound call from a caller.  ``direction="outbound-api"``
    makes it a call created through the REST API (what :class:`Switchboard` does): it is
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
        switchboard: Switchboard | None = None,
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
        self._private_board: Switchboard | None = None
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

    # -- the REST side's seam ---------------------------------------------------------------

    def bridge(self, agent: str = "agent", talk_seconds: float = 20) -> None:
        """An agent takes the caller out of the queue and talks for ``talk_seconds``.

        Afterwards the Enqueue ``action`` gets ``QueueResult=bridged`` (as on Twilio).
        Ignored until the caller is in a queue.
        """
        with self._lock:
            self._pending.append(_Bridge(agent, talk_seconds))
        self._wake.set()

    def redirect(self, url: str, method: str = "POST") -> None:
        """Like a REST call update (or queue member dequeue) with a new TwiML URL."""
        with self._lock:
            self._pending.append(_Redirect(_absolute(self.public_url, url), method.upper()))
        self._wake.set()

    def run_twiml(self, twiml: str) -> None:
        """Like a REST call update with ``Twiml``: the call runs this document next."""
        with self._lock:
            self._pending.append(_Redirect(self._doc_url, "POST", twiml))
        self._wake.set()

    def hangup(self, reason: str = "hung up via REST", *, by: str = "rest") -> None:
        """Like a REST call update with ``Status=completed`` (``canceled`` before answer).

        ``by="caller"``: the caller hangs up (an interactive call's person), which Twilio
        reports as the caller's hang-up (``QueueResult=hangup`` in a queue, ...).
        """
        if by not in HANGUP_BY:
            raise ValueError(f"by must be one of {', '.join(HANGUP_BY)}")
        with self._lock:
            self._pending.append(_HangupRequest(reason, by))
        self._wake.set()

    def press(self, keys: str) -> None:
        """The person on an interactive call presses keys (``"1"``, ``"12345678#"``)."""
        self._give(Press(keys))

    def say(self, text: str) -> None:
        """The person on an interactive call says something (to a speech ``<Gather>``)."""
        text = " ".join(str(text).split())
        if not text:
            raise ValueError("say something: the text is empty")
        self._give(Speech(text))

    def _give(self, item: CallerInput) -> None:
        if not self.interactive:
            raise RuntimeError("only an interactive call takes input while it runs")
        with self._lock:
            self._live.append(_Typed(item))
        self._wake.set()

    def pick_up(self) -> None:
        """The person answers the ringing call (``person_answers``)."""
        self._choose("answer")

    def decline(self) -> None:
        """The person rejects the ringing call: Twilio reports it ``busy``."""
        self._choose("busy")

    def _choose(self, choice: str) -> None:
        if not self.person_answers:
            raise RuntimeError("nobody is asked to answer this call")
        with self._lock:
            if self._choice is None:
                self._choice = choice
        self._wake.set()

    def held_input(self) -> list[str]:
        """The keys (and quoted words) kept for the next Gather, oldest first."""
        with self._lock:
            return [typed.label() for typed in self._live if typed.held]

    def poke(self) -> None:
        """Wake a paced call up to look at its state (its conference changed)."""
        self._wake.set()

    @property
    def answered_time(self) -> datetime | None:
        """When the call was answered (None: not, or not yet)."""
        if self._answered_at is None:
            return None
        return self.start_time + timedelta(seconds=math.floor(self._answered_at))

    def _interrupted(self) -> bool:
        """Something for the call to handle: a REST request, a change in its conference
        or (interactive) input for the Gather that listens."""
        if self._take(in_queue=self.queue is not None, peek=True) is not None:
            return True
        membership = self.conference
        if membership is not None and membership.version != self._seen_version:
            return True
        if self.person_answers and self.status == "ringing" and self._choice is not None:
            return True
        return self.interactive and self._sort_input()

    def _sort_input(self) -> bool:
        """Sort the person's input; True if the listening Gather has some.

        A Gather (or Record) that listens drops what it does not listen for.  While none
        listens, input is kept for the next one, like a phone's keypad buffer (at most
        ``MAX_HELD_INPUT``); in a conference (``_DEAF``) it goes to the other party.
        """
        listening = self._listening
        ignored: list[_Typed] = []
        held: list[_Typed] = []
        with self._lock:
            if listening is None:
                kept = sum(typed.held for typed in self._live)
                for typed in list(self._live):
                    if typed.held:
                        continue
                    if kept >= MAX_HELD_INPUT:
                        self._live.remove(typed)
                        ignored.append(typed)
                    else:
                        typed.held, kept = True, kept + 1
                        held.append(typed)
            else:
                while self._live:
                    kind = "dtmf" if isinstance(self._live[0].item, Press) else "speech"
                    if kind in listening:
                        break
                    ignored.append(self._live.popleft())
            ready = listening is not None and bool(self._live)
        for typed in held:
            self._event("held", typed.describe(), type=self._input_type(typed))
        for typed in ignored:
            reason = "too much typed ahead" if listening is None else ""
            self._ignored(typed, reason)
        return ready

    @staticmethod
    def _input_type(typed: _Typed) -> str:
        return "dtmf" if isinstance(typed.item, Press) else "speech"

    def _ignored(self, typed: _Typed, reason: str = "") -> None:
        details: dict[str, Any] = {"type": self._input_type(typed)}
        if isinstance(typed.item, Press):
            details["keys"] = typed.item.keys
        if reason:
            details["reason"] = reason
        self._event("ignored", typed.describe(), **details)

    def _drop_input(self, reason: str) -> None:
        """Drop everything typed so far (a recording starts, a conference is joined)."""
        with self._lock:
            dropped = list(self._live)
            self._live.clear()
        for typed in dropped:
            self._ignored(typed, reason)

    def _keep(self, keys: str) -> None:
        """Keys pressed after the ones a Gather took: first in line for the next one."""
        if keys:
            with self._lock:
                self._live.appendleft(_Typed(Press(keys)))

    def _next_input(self) -> _Typed | None:
        """The person's next input the listening Gather takes (others are dropped)."""
        if not self._sort_input():
            return None
        with self._lock:
            return self._live.popleft() if self._live else None

    def _speaking_seconds(self, text: str) -> float:
        """How long saying ``text`` takes: 1 s per 12 characters, CJK ones (interactive
        calls) 0.3 s each."""
        if not self.interactive:
            return max(1, math.ceil(len(text) / 12))
        wide = len(_WIDE_RE.findall(text))
        return max(1, math.ceil(wide * WIDE_CHAR_SECONDS + (len(text) - wide) / 12))

    def _take_hangup(self) -> _HangupRequest | None:
        with self._lock:
            for item in self._pending:
                if isinstance(item, _HangupRequest):
                    self._pending.remove(item)
                    return item
        return None

    def _take(
        self, *, in_queue: bool, peek: bool = False
    ) -> _Bridge | _Redirect | _HangupRequest | None:
        with self._lock:
            for item in list(self._pending):
                if isinstance(item, _Bridge) and not in_queue:
                    continue
                if not peek:
                    self._pending.remove(item)
                return item
        return None

    def _sleep(self, seconds: float) -> float:
        """With ``pace``, wait in real time; returns the simulated seconds that passed.

        A REST intervention (bridge, redirect, hangup) wakes the call up early, so the
        verb being played is cut short and the intervention handled at once.
        """
        if self.pace <= 0 or seconds <= 0:
            return seconds
        start = time.monotonic()
        end = start + seconds * self.pace
        self._asleep_since = start
        try:
            while (left := end - time.monotonic()) > 0:
                if self._wake.wait(left):
                    self._wake.clear()
                    if self._interrupted():
                        return min(seconds, (time.monotonic() - start) / self.pace)
            return seconds
        finally:
            self._asleep_since = None

    # -- bookkeeping ------------------------------------------------------------------------

    def _event(self, kind: str, text: str = "", **details: Any) -> CallEvent:
        at = self.clock
        if self._asleep_since is not None:  # written down while waiting (dropped input)
            at += (time.monotonic() - self._asleep_since) / self.pace
        event = CallEvent(kind, text, details, at)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _advance(self, seconds: float, deadline: float | None = None) -> bool:
        """Move the clock on; True if ``deadline`` cut it short."""
        cut = False
        if deadline is not None and self.clock + seconds >= deadline:
            cut, seconds = True, max(0.0, deadline - self.clock)
        passed = self._sleep(seconds)
        self.clock += passed
        return cut and passed >= seconds

    def _timestamp(self) -> str:
        return format_datetime(self.start_time + timedelta(seconds=self.clock))

    def call_params(self) -> dict[str, str]:
        """Twilio's standard voice webhook parameters for the call's current state."""
        from_country, to_country = _country(self.from_), _country(self.to)
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.call_sid,
            "CallStatus": self.status,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
            "Caller": self.from_,
            "Called": self.to,
            "FromCountry": from_country,
            "ToCountry": to_country,
            "CallerCountry": from_country,
            "CalledCountry": to_country,
            **({"ParentCallSid": self.parent_call_sid} if self.parent_call_sid else {}),
        }

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return self.validator.compute_signature(url, dict(params))

    # -- HTTP -------------------------------------------------------------------------------

    def _send(
        self,
        url: str,
        method: str,
        params: dict[str, str],
        *,
        kind: str,
    ) -> TransportResponse:
        """A signed Twilio-style request; raises TransportError."""
        return send_signed(
            self.transport, self.validator, url, method, params, kind=kind, exchanges=self.exchanges
        )

    def _notify(self, url: str, method: str, params: dict[str, str]) -> None:
        """A callback whose answer doesn't matter (its failures are only noted)."""
        try:
            response = self._send(url, method, params, kind="callback")
        except TransportError as exc:
            self._event("warning", str(exc), url=url)
            return
        if not 200 <= response.status_code < 300:
            self._event("warning", f"{url} answered HTTP {response.status_code}", url=url)

    def _app_error(self, reason: str, url: str) -> _CallOver:
        self._event("error", APPLICATION_ERROR_MESSAGE, reason=reason, url=url)
        return _CallOver(f"application error: {reason}")

    def _fetch_twiml(self, fetch: Fetch) -> tuple[str, ET.Element]:
        """Request a TwiML document; returns (its URL for relative links, its root)."""
        if self.steps >= self.max_steps:
            self._event(
                "loop",
                f"more than {self.max_steps} webhook requests, the TwiML seems to loop",
                steps=self.steps,
            )
            raise _CallOver(f"stopped after {self.max_steps} requests (loop)")
        self.steps += 1
        if fetch.twiml is not None:
            if self.status in ("ringing", "queued"):
                self.status = "in-progress"
            try:
                root = ET.fromstring(fetch.twiml)
            except ET.ParseError:
                raise self._app_error("the TwiML is not XML", "(inline TwiML)") from None
            if root.tag != "Response":
                raise self._app_error(f"root element is <{root.tag}>, not <Response>", fetch.url)
            return fetch.url, root
        params = {**self.call_params(), **fetch.params}
        try:
            response = self._send(fetch.url, fetch.method, params, kind="webhook")
        except TransportError as exc:
            raise self._app_error(str(exc), fetch.url) from None
        finally:
            if self.status == "ringing":
                self.status = "in-progress"
        if fetch.after is not None:
            fetch.after()
        if response.status_code != 200:
            raise self._app_error(f"HTTP {response.status_code}", fetch.url)
        try:
            root = ET.fromstring(response.content)
        except ET.ParseError:
            raise self._app_error("response is not XML", fetch.url) from None
        if root.tag != "Response":
            raise self._app_error(f"root element is <{root.tag}>, not <Response>", fetch.url)
        self._doc_url = fetch.url
        return fetch.url, root

    # -- running ----------------------------------------------------------------------------

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

    def _progress(self, event: str, call_status: str | None = None, **extra: str) -> None:
        """A call progress event (initiated, ringing, answered, completed), if subscribed."""
        if not self.status_callback_url or event not in self.status_callback_events:
            return
        params = {
            **self.call_params(),
            **extra,
            "Timestamp": self._timestamp(),
            "SequenceNumber": str(self._sequence),
            "CallbackSource": "call-progress-events",
        }
        if call_status is not None:
            params["CallStatus"] = call_status
        self._sequence += 1
        self._notify(self.status_callback_url, self.status_callback_method, params)

    def _ring(self) -> None:
        """An outbound call: initiated, ringing, then answered (or busy, no-answer, ...)."""

        def canceled() -> None:
            request = self._take_hangup()
            if request is not None:
                self._event("hangup", request.reason, by=request.by)
                raise _CallOver(request.reason, "canceled")

        self._progress("initiated", "initiated")
        canceled()
        if self.answer == "failed":
            self._event("ringing", f"{self.to}: the call failed", result="failed")
            raise _CallOver(f"the call to {self.to} failed", "failed")
        self.status = "ringing"
        self._event("ringing", self.to)
        self._progress("ringing")
        answer = self.answer
        if self.person_answers:
            answer = self._wait_for_person(canceled)
        elif answer == "busy":
            self._advance(1)
        elif answer == "no-answer":
            self._advance(self.timeout)
        else:
            self._advance(min(self.ring_seconds, self.timeout))
        canceled()
        if answer == "busy":
            raise _CallOver(f"{self.to} is busy", "busy")
        if answer == "no-answer":
            raise _CallOver(f"no answer from {self.to} after {_secs(self.timeout)}", "no-answer")
        self.status = "in-progress"
        self._answered_at = self.clock
        self._event("answered", self.to)
        self._progress("answered")

    def _wait_for_person(self, canceled: Callable[[], None]) -> str:
        """Ring until the person answers or declines (``busy``), or ``timeout`` passes."""
        deadline = self.clock + self.timeout
        while True:
            canceled()
            with self._lock:
                choice = self._choice
            if choice is not None:
                return choice
            if self.clock >= deadline:
                return "no-answer"
            self._advance(deadline - self.clock, deadline)

    def _board(self) -> Switchboard:
        """The switchboard this call's conferences live on (a private one if none given)."""
        if self.switchboard is not None:
            return self.switchboard
        if self._private_board is None:
            from callcenter.simulator.switchboard import Switchboard

            self._private_board = Switchboard(
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

    def _intervene(self, pending: _Redirect | _HangupRequest | _Bridge) -> Fetch:
        """Act on a REST redirect or hang-up (or the caller's hang-up) between verbs."""
        if isinstance(pending, _Redirect):
            return self._rest_redirect(pending)
        assert isinstance(pending, _HangupRequest)
        self._hung_up(pending)
        raise _CallOver(pending.reason)

    def _hung_up(self, request: _HangupRequest) -> None:
        if request.by == "caller":
            self.caller_hung_up = True
        self._event("hangup", request.reason, by=request.by)

    def _rest_redirect(self, redirect: _Redirect) -> Fetch:
        if redirect.twiml is not None:
            self._event(
                "redirect", "(inline TwiML)", method="", source="rest", twiml=redirect.twiml
            )
        else:
            self._event("redirect", redirect.url, method=redirect.method, source="rest")
        return Fetch(redirect.url, redirect.method, twiml=redirect.twiml)

    def _unsupported(self, verb: ET.Element, where: str = "") -> None:
        self._event("unsupported", f"<{verb.tag}>{where}", verb=verb.tag)
        raise _CallOver(f"unsupported verb <{verb.tag}>{where}")

    # -- Say / Play / Pause -----------------------------------------------------------------

    def _say(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        text = _text(verb)
        loop = _int_attr(verb, "loop", 1) or (1 if barge_in else 0)
        once = self._speaking_seconds(text)
        details = {"language": verb.get("language", "en-US"), "loop": loop}
        if verb.get("voice"):
            details["voice"] = verb.get("voice")
        self._event("say", text, **details)
        return self._repeat(once, loop, deadline, "<Say>")

    def _play(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        loop = _int_attr(verb, "loop", 1) or (1 if barge_in else 0)
        digits = verb.get("digits")
        if digits:
            self._event("play", f"DTMF {digits}", digits=digits, loop=1)
            return self._advance(max(1, len(digits) // 2), deadline)
        url = urljoin(doc_url, _text(verb))
        transcript, seconds = self._media_info(url)
        details: dict[str, Any] = {"url": url, "loop": loop, "seconds": seconds}
        if transcript:
            details["transcript"] = transcript
        self._event("play", transcript or url, **details)
        return self._repeat(seconds, loop, deadline, "<Play>")

    def _repeat(self, once: float, loop: int, deadline: float | None, what: str) -> bool:
        """Play something ``loop`` times (0: forever); True if cut short by ``deadline``."""
        if loop > 0:
            return self._advance(once * loop, deadline)
        if deadline is None:
            # Endless audio outside a queue: the caller gives up after hold_seconds.
            self._advance(self.hold_seconds)
            self._event("hangup", f"caller hung up after {_secs(self.hold_seconds)} of {what}")
            self.caller_hung_up = True
            raise _CallOver(f"caller hung up during endless {what}")
        return self._advance(deadline - self.clock, deadline)

    def _media_info(self, url: str) -> tuple[str | None, float]:
        """(transcript, seconds) of a Play URL, as far as the simulator can know."""
        path = urlsplit(url).path
        recording = _RECORDING_URL_RE.search(path)
        if recording and is_under(self.api_url, url):
            split = urlsplit(url)
            meta_path = path.removesuffix(".wav") + ".json"
            meta_url = split._replace(path=meta_path, query="", fragment="").geturl()
            seconds = self._api_json(meta_url, "duration")
            label = f"recording {recording.group(1)}"
            return label, float(seconds) if seconds is not None else DEFAULT_PLAY_SECONDS
        if not path.lower().endswith(".mp3") or not is_under(self.public_url, url):
            return None, DEFAULT_PLAY_SECONDS
        split = urlsplit(url)
        text_url = split._replace(path=path[:-4] + ".txt", fragment="").geturl()
        try:
            response = self._send(text_url, "GET", {}, kind="media")
        except TransportError:
            return None, DEFAULT_PLAY_SECONDS
        if response.status_code != 200:
            return None, DEFAULT_PLAY_SECONDS
        transcript = " ".join(response.text.split())
        if not transcript:
            return None, DEFAULT_PLAY_SECONDS
        return transcript, self._speaking_seconds(transcript)

    def _api_json(self, url: str, key: str) -> Any:
        self.exchanges.append(Exchange("GET", url, {}, None, "api"))
        try:
            response = self.transport.request(
                "GET", url, None, {}, auth=(self.account_sid, self.auth_token)
            )
        except TransportError:
            return None
        self.exchanges[-1].status = response.status_code
        if response.status_code != 200:
            return None
        try:
            return response.json().get(key)
        except (ValueError, AttributeError):
            return None

    def _pause(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        seconds = max(0, _int_attr(verb, "length", 1))
        self._event("pause", "", seconds=seconds)
        return self._advance(seconds, deadline)

    # -- Hangup / Reject / Redirect ---------------------------------------------------------

    def _hangup_verb(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._event("hangup", "the app hung up", by="app")
        raise _CallOver(self._app_ended("hung up by the app"))

    def _reject(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        reason = verb.get("reason", "rejected")
        self._event("reject", reason, reason=reason)
        raise _CallOver(f"rejected ({reason})", "busy" if reason == "busy" else "no-answer")

    def _redirect(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        url = urljoin(doc_url, _text(verb))
        method = verb.get("method", "POST").upper()
        self._event("redirect", url, method=method)
        return Fetch(url, method)

    # -- Gather -----------------------------------------------------------------------------

    def _gather(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None
    ) -> Fetch | bool | None:
        """A Fetch for the action, None to go on with the next verb, True if ``deadline``
        (the caller's patience in a queue) ran out first."""
        input_types = set(verb.get("input", "dtmf").lower().split())
        timeout = max(0, _int_attr(verb, "timeout", 5))
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = _int_attr(verb, "numDigits", 0)
        action = urljoin(doc_url, verb.get("action") or doc_url)
        method = verb.get("method", "POST").upper()
        on_empty = verb.get("actionOnEmptyResult", "false").lower() == "true"
        if self.interactive:
            return self._gather_live(
                verb,
                doc_url,
                deadline,
                _GatherSpec(
                    frozenset(input_types),
                    timeout,
                    finish_on_key,
                    num_digits,
                    action,
                    method,
                    on_empty,
                ),
            )

        upcoming = self.inputs[0] if self.inputs else None
        fits = (isinstance(upcoming, Press) and "dtmf" in input_types) or (
            isinstance(upcoming, Speech) and "speech" in input_types
        )
        for prompt in verb:
            nested = {"Say": self._say, "Play": self._play, "Pause": self._pause}.get(prompt.tag)
            if nested is None:
                self._unsupported(prompt, " in <Gather>")
            # With an answer ready, the caller barges in on endless prompts.
            if nested(prompt, doc_url, deadline, barge_in=fits):
                return True

        if not fits:
            if self._advance(timeout, deadline):
                return True
            self._event("timeout", f"no input for {_secs(timeout)}", seconds=timeout)
            if on_empty:
                return Fetch(action, method)
            return None

        assert upcoming is not None
        self.inputs.popleft()
        if isinstance(upcoming, Speech):
            self._event("input", upcoming.text, type="speech")
            if self._advance(max(1, math.ceil(len(upcoming.text) / 12)), deadline):
                return True
            params = {"SpeechResult": upcoming.text, "Confidence": SPEECH_CONFIDENCE}
            return Fetch(action, method, params)

        digits, finished_on = "", ""
        for key in upcoming.keys:
            if finish_on_key and key in finish_on_key:
                finished_on = key
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                break
        self._event("input", upcoming.keys, type="dtmf", digits=digits)
        waited = len(digits) + len(finished_on)
        complete = finished_on or (num_digits and len(digits) >= num_digits)
        if not complete:
            waited += timeout  # Twilio waits for more keys before submitting
        if self._advance(max(1, waited), deadline):
            return True
        if not digits and not on_empty:
            return None
        params = {"Digits": digits} if digits else {}
        params["FinishedOnKey"] = finished_on
        return Fetch(action, method, params)

    def _gather_live(
        self, verb: ET.Element, doc_url: str, deadline: float | None, spec: _GatherSpec
    ) -> Fetch | bool | None:
        """An interactive Gather: prompts, then wait for the person (see :meth:`_gather`)."""
        self._listening = spec.input_types
        try:
            for prompt in verb:
                nested = {"Say": self._say, "Play": self._play, "Pause": self._pause}.get(
                    prompt.tag
                )
                if nested is None:
                    self._unsupported(prompt, " in <Gather>")
                if self._interrupted():
                    break  # typed ahead, barged in, or a REST request cut the prompt
                if nested(prompt, doc_url, deadline, barge_in=True):
                    return True
            return self._collect(spec, deadline)
        finally:
            self._listening = None
            if self.status != "completed":
                self._sort_input()  # what it did not take waits for the next Gather

    def _collect(self, spec: _GatherSpec, deadline: float | None) -> Fetch | bool | None:
        """Wait for the person's keys or words, ``spec.timeout`` at a time."""
        digits, finished_on, complete = "", "", False
        until = self.clock + spec.timeout
        while not complete:
            if self._take(in_queue=self.queue is not None, peek=True) is not None:
                return None  # a REST request or a hang-up: handled at the verb boundary
            typed = self._next_input()
            if typed is None:
                if self.clock >= until:
                    break
                if self._advance(until - self.clock, deadline):
                    return True
                continue
            item, ahead = typed.item, {"held": True} if typed.held else {}
            if isinstance(item, Speech):
                if digits:
                    self._ignored(typed)
                    continue
                self._event("input", item.text, type="speech", **ahead)
                params = {"SpeechResult": item.text, "Confidence": SPEECH_CONFIDENCE}
                return Fetch(spec.action, spec.method, params)
            taken = 0
            for key in item.keys:
                taken += 1
                if spec.finish_on_key and key in spec.finish_on_key:
                    finished_on, complete = key, True
                    break
                digits += key
                if spec.num_digits and len(digits) >= spec.num_digits:
                    complete = True
                    break
            self._event("input", item.keys[:taken], type="dtmf", digits=digits, **ahead)
            self._keep(item.keys[taken:])
            until = self.clock + spec.timeout  # Twilio waits ``timeout`` for the next key
        if not digits and not finished_on:
            self._event("timeout", f"no input for {_secs(spec.timeout)}", seconds=spec.timeout)
            return Fetch(spec.action, spec.method) if spec.on_empty else None
        if not digits and not spec.on_empty:
            return None
        params = {"Digits": digits} if digits else {}
        params["FinishedOnKey"] = finished_on
        return Fetch(spec.action, spec.method, params)

    def _gather_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        return self._gather(verb, doc_url)

    # -- Enqueue ----------------------------------------------------------------------------

    def _enqueue(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        name = _text(verb)
        action = urljoin(doc_url, verb.get("action")) if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        wait_url = urljoin(doc_url, verb.get("waitUrl")) if verb.get("waitUrl") else None
        wait_method = verb.get("waitUrlMethod", "POST").upper()
        queue = QueueState(name, "QU" + secrets.token_hex(16), self.clock)
        self.queue = queue
        self._event("enqueue", name, queue_sid=queue.sid, position=queue.position)
        deadline = self.clock + self.hold_seconds
        try:
            outcome = self._wait_in_queue(queue, wait_url, wait_method, deadline)
        finally:
            self.queue = None
        kind, payload = outcome
        queue_time = math.ceil(self.clock - queue.entered_at)
        result_params = {
            "QueueResult": kind,
            "QueueSid": queue.sid,
            "QueueTime": str(queue_time),
        }
        if kind == "hangup":
            self.caller_hung_up = payload == "caller"
            if self.caller_hung_up:
                self.status = "completed"
                self._event(
                    "hangup",
                    f'caller hung up after {_secs(queue_time)} in queue "{name}"',
                    by="caller",
                    queue=name,
                )
            if action:
                self._notify(action, method, {**self.call_params(), **result_params})
            if self.caller_hung_up:
                raise _CallOver(f"hung up in queue {name} after {queue_time}s")
            raise _CallOver(self._app_ended(f"hung up by the app in queue {name}"))
        if kind == "redirected":
            assert isinstance(payload, _Redirect)
            if action:
                self._notify(action, method, {**self.call_params(), **result_params})
            return self._rest_redirect(payload)
        if kind == "leave":
            self._event("leave", name, queue_time=queue_time)
        if action:
            return Fetch(action, method, result_params)
        return None

    def _wait_in_queue(
        self, queue: QueueState, wait_url: str | None, wait_method: str, deadline: float
    ) -> tuple[str, Any]:
        """Play the wait music until something happens: ('hangup'|'leave'|'bridged'|...)."""
        if wait_url is None:
            self._event("hold", "default hold music", queue=queue.name)
        while True:
            outcome = self._queue_checkpoint(queue, deadline)
            if outcome is not None:
                return outcome
            if wait_url is None:
                self._advance(DEFAULT_HOLD_MUSIC_CHUNK, deadline)
                continue
            outcome = self._run_wait_document(queue, Fetch(wait_url, wait_method), deadline)
            if outcome is not None:
                return outcome
            # The wait document ended: Twilio requests the waitUrl again.

    def _queue_checkpoint(self, queue: QueueState, deadline: float) -> tuple[str, Any] | None:
        if self.on_wait is not None and self._last_wait_hook != self.clock:
            self._last_wait_hook = self.clock
            self.on_wait(self)
        pending = self._take(in_queue=True)
        if isinstance(pending, _Bridge):
            self._event(
                "bridged",
                f"{pending.agent} for {_secs(pending.talk_seconds)}",
                agent=pending.agent,
                queue=queue.name,
                talk_seconds=pending.talk_seconds,
            )
            queue_time = self.clock - queue.entered_at
            self._advance(pending.talk_seconds)
            queue.entered_at = self.clock - queue_time  # QueueTime counts waiting only
            return "bridged", pending
        if isinstance(pending, _Redirect):
            return "redirected", pending
        if isinstance(pending, _HangupRequest):
            if pending.by == "caller":
                return "hangup", "caller"
            self._event("hangup", pending.reason, by="rest")
            raise _CallOver(pending.reason)
        if self.clock >= deadline:
            return "hangup", "caller"
        return None

    def _queue_params(self, queue: QueueState) -> dict[str, str]:
        waited = str(math.ceil(self.clock - queue.entered_at))
        return {
            "QueuePosition": str(queue.position),
            "QueueSid": queue.sid,
            "QueueTime": waited,
            "AvgQueueTime": waited,
            "CurrentQueueSize": "1",
        }

    def _run_wait_document(
        self, queue: QueueState, fetch: Fetch | None, deadline: float
    ) -> tuple[str, Any] | None:
        """One pass of waitUrl TwiML (following Redirects and Gather actions)."""
        timed = {"Say": self._say, "Play": self._play, "Pause": self._pause}
        while fetch is not None:
            fetch.params = {**self._queue_params(queue), **fetch.params}
            doc_url, root = self._fetch_twiml(fetch)
            fetch = None
            for verb in root:
                if verb.tag in timed:
                    if timed[verb.tag](verb, doc_url, deadline):
                        return "hangup", "caller"
                elif verb.tag == "Gather":
                    outcome = self._gather(verb, doc_url, deadline)
                    if outcome is True:
                        return "hangup", "caller"
                    if isinstance(outcome, Fetch):
                        fetch = outcome
                        break
                elif verb.tag == "Redirect":
                    fetch = self._redirect(verb, doc_url)
                    break
                elif verb.tag == "Leave":
                    return "leave", None
                elif verb.tag == "Hangup":
                    self._event("hangup", "the app hung up", by="app", queue=queue.name)
                    return "hangup", "app"
                else:
                    self._unsupported(verb, " in the waitUrl")
                outcome = self._queue_checkpoint(queue, deadline)
                if outcome is not None:
                    return outcome
        return None

    # -- Record -----------------------------------------------------------------------------

    def _record(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        max_length = _int_attr(verb, "maxLength", 3600)
        finish_on_key = verb.get("finishOnKey", DEFAULT_FINISH_ON_KEYS_RECORD)
        action = urljoin(doc_url, verb.get("action") or doc_url)
        method = verb.get("method", "POST").upper()
        beep = verb.get("playBeep", "true").lower() != "false"
        started = self._timestamp()
        self._event("recording", "", beep=beep, finish_on_key=finish_on_key, max_length=max_length)
        if self.interactive:
            live = self._record_live(finish_on_key, max_length)
            if isinstance(live, Fetch):
                return live
            seconds, finished = live
        else:
            seconds = (
                min(self.record_seconds, max_length) if max_length > 0 else self.record_seconds
            )
            self._advance(seconds)
            finished = "#" if "#" in finish_on_key else None
        duration = max(0, math.ceil(seconds))
        pressed_hash = finished is not None  # the call goes on (a key, or maxLength)
        digits = "hangup" if finished is None else finished
        sid = self._store_recording(duration)
        recording_url = f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"
        self.recordings.append(sid)
        if finished is None:
            ending = "caller hung up"
        else:
            ending = f"finished with {finished}" if finished else "maximum length reached"
        self._event(
            "record",
            f"{_secs(duration)} voicemail {sid} ({ending})",
            sid=sid,
            url=recording_url,
            duration=duration,
            digits=digits,
            beep=beep,
        )
        params = {
            "RecordingUrl": recording_url,
            "RecordingSid": sid,
            "RecordingDuration": str(duration),
            "Digits": digits,
        }
        callback = verb.get("recordingStatusCallback")

        def recording_status() -> None:
            if not callback:
                return
            self._notify(
                urljoin(doc_url, callback),
                verb.get("recordingStatusCallbackMethod", "POST"),
                {
                    "AccountSid": self.account_sid,
                    "CallSid": self.call_sid,
                    "RecordingSid": sid,
                    "RecordingUrl": recording_url,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(duration),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                    "RecordingStartTime": started,
                },
            )

        if not pressed_hash:
            # The caller hung up: Twilio still requests the action, but the call is over.
            self.caller_hung_up = True
            self.status = "completed"
            self._notify(action, method, {**self.call_params(), **params})
            recording_status()
            raise _CallOver(f"recorded voicemail {sid} (caller hung up)")
        return Fetch(action, method, params, after=recording_status)

    def _record_live(self, finish_on_key: str, max_length: int) -> tuple[float, str | None] | Fetch:
        """An interactive recording: (seconds, the key that ended it, ``""`` at maxLength,
        None if the call hung up), or the Fetch of a REST redirect that cut it short."""
        self._drop_input("typed before the beep")
        self._listening = frozenset({"dtmf", "speech"})
        start = self.clock
        limit = start + max_length if max_length > 0 else None
        try:
            while True:
                pending = self._take(in_queue=False, peek=True)
                if isinstance(pending, _Redirect):
                    self._take(in_queue=False)
                    return self._rest_redirect(pending)
                if isinstance(pending, _HangupRequest):
                    self._take(in_queue=False)
                    if pending.by != "caller":
                        self._event("hangup", pending.reason, by=pending.by)
                    return self.clock - start, None
                typed = self._next_input()
                item = typed.item if typed is not None else None
                if isinstance(item, Press):
                    self._event("input", item.keys, type="dtmf", recording=True)
                    for key in item.keys:
                        if finish_on_key and key in finish_on_key:
                            return self.clock - start, key
                elif isinstance(item, Speech):
                    self._event("input", item.text, type="speech", recording=True)
                elif limit is not None and self.clock >= limit:
                    return self.clock - start, ""
                else:
                    self._advance(limit - self.clock if limit is not None else 60, limit)
        finally:
            self._listening = None

    def _store_recording(self, duration: int) -> str:
        from callcenter.simulator.recordings import wav_bytes

        url = f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings.json"
        fields = {"CallSid": self.call_sid, "Duration": str(duration)}
        exchange = Exchange("POST", url, dict(fields), None, "api")
        self.exchanges.append(exchange)
        try:
            response = self.transport.request(
                "POST",
                url,
                fields,
                {"Accept": "application/json"},
                files={"media": ("recording.wav", wav_bytes(duration), "audio/x-wav")},
                auth=(self.account_sid, self.auth_token),
            )
        except TransportError as exc:
            raise self._app_error(f"could not store the recording: {exc}", url) from None
        exchange.status = response.status_code
        exchange.body = response.text
        sid = None
        if response.status_code == 201:
            try:
                sid = response.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
        if not sid:
            raise self._app_error(
                f"could not store the recording (HTTP {response.status_code})", url
            )
        return str(sid)

    # -- Dial -------------------------------------------------------------------------------

    def _dial(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        conference = verb.find("Conference")
        if conference is not None:
            return self._dial_conference(verb, conference, doc_url)
        targets: list[dict[str, str]] = []
        if verb.text and verb.text.strip():
            targets.append({"type": "number", "value": verb.text.strip()})
        for noun in verb:
            if noun.tag not in ("Number", "Client", "Sip", "Queue", "Conference"):
                self._unsupported(noun, " in <Dial>")
            targets.append({"type": noun.tag.lower(), "value": _text(noun)})
        timeout = max(0, _int_attr(verb, "timeout", 30))
        result = self.dial_result
        talked = 0
        if result == "completed":
            talked = math.ceil(self.dial_talk_seconds)
        elif result == "no-answer":
            self._advance(timeout)
        else:
            self._advance(1)
        dial_sid = "CA" + secrets.token_hex(16)
        label = ", ".join(
            t["value"] if t["type"] == "number" else f"{t['type']}:{t['value']}" for t in targets
        )
        self._event(
            "dial",
            label or "(nobody)",
            targets=targets,
            result=result,
            duration=talked,
            dial_call_sid=dial_sid,
            caller_id=verb.get("callerId"),
        )
        self._advance(talked)
        if not verb.get("action"):
            return None
        params = {
            "DialCallStatus": result,
            "DialCallSid": dial_sid,
            "DialCallDuration": str(talked),
        }
        return Fetch(urljoin(doc_url, verb.get("action")), verb.get("method", "POST"), params)

    # -- Dial Conference --------------------------------------------------------------------

    def _dial_conference(self, verb: ET.Element, noun: ET.Element, doc_url: str) -> Fetch | None:
        """Join a switchboard conference and stay until it ends (or the call leaves it)."""
        from callcenter.simulator.switchboard import ConferenceOptions

        name = _text(noun)
        options = ConferenceOptions.from_twiml(noun, doc_url)
        board = self._board()
        action = urljoin(doc_url, verb.get("action")) if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        time_limit = max(1, _int_attr(verb, "timeLimit", DEFAULT_DIAL_TIME_LIMIT))
        participant = board.join(self, name, options)
        self.conference = participant
        if self.interactive:  # keys in a conversation go to the other party
            self._drop_input("joined a conference")
            self._listening = _DEAF
        joined = self.clock
        self._event(
            "conference",
            name,
            conference_sid=participant.conference_sid,
            start_conference_on_enter=options.start_conference_on_enter,
            end_conference_on_exit=options.end_conference_on_exit,
            muted=options.muted,
        )
        left = False
        try:
            outcome = self._in_conference(participant, options, joined, joined + time_limit)
            left = True
        finally:
            if not left:  # the call ended (hung up, error): it leaves the conference
                board.leave(participant, "hangup")
            self.conference = None
            self._listening = None
        if outcome == "redirected":
            pending = self._take(in_queue=False)
            assert isinstance(pending, _Redirect)
            return self._rest_redirect(pending)
        params = {"DialCallStatus": "completed"}
        if outcome == "caller":
            spent = math.ceil(self.clock - joined)
            self.caller_hung_up = True
            self.status = "completed"
            self._event(
                "hangup", f'caller hung up after {_secs(spent)} in conference "{name}"', by="caller"
            )
            if action:
                self._notify(action, method, {**self.call_params(), **params})
            raise _CallOver(f"hung up in conference {name} after {spent}s")
        if action is None:
            return None
        return Fetch(action, method, params)

    def _in_conference(
        self, participant: Participant, options: ConferenceOptions, joined: float, limit: float
    ) -> str:
        """Stay in the conference; returns how it ended for the call.

        ``removed`` (the conference ended, or the call was removed from it), ``redirected``
        (a REST redirect is pending; the call already left), ``caller`` (the caller's
        patience or talk time ran out; the call already left) or ``time-limit``.
        """
        board = participant.board
        name = participant.conference.friendly_name
        seen = None
        talk_until: float | None = None
        waiting_logged = False
        while True:
            if self.on_wait is not None and self._last_wait_hook != self.clock:
                self._last_wait_hook = self.clock
                self.on_wait(self)
            pending = self._take(in_queue=False, peek=True)
            if isinstance(pending, _Redirect):
                board.leave(participant, "redirected")
                return "redirected"
            if isinstance(pending, _HangupRequest):
                self._take(in_queue=False)
                if pending.by == "caller":
                    board.leave(participant, "hangup")
                    return "caller"
                self._event("hangup", pending.reason, by="rest")
                raise _CallOver(pending.reason)
            state = board.state(participant)
            self._seen_version = state.version
            self._conference_changes(seen, state, name)
            seen = state
            if state.removed is not None:
                self._event(
                    "left-conference",
                    name,
                    reason=state.removed,
                    seconds=math.ceil(self.clock - joined),
                )
                return "removed"
            if state.status == "in-progress" and talk_until is None:
                talk_until = self.clock + self.dial_talk_seconds
            patience = talk_until if talk_until is not None else joined + self.hold_seconds
            deadline = min(patience, limit)
            if self.clock >= deadline:
                if limit <= patience:
                    board.leave(participant, "time-limit")
                    self._event(
                        "left-conference",
                        name,
                        reason="time limit",
                        seconds=math.ceil(self.clock - joined),
                    )
                    return "time-limit"
                board.leave(participant, "hangup")
                return "caller"
            if state.hold:
                self._conference_music(state.hold_url, state.hold_method, "holdUrl", deadline)
            elif state.status == "init" and options.wait_url:
                self._conference_music(options.wait_url, options.wait_method, "waitUrl", deadline)
            else:
                if state.status == "init" and options.wait_url is None and not waiting_logged:
                    waiting_logged = True
                    self._event("hold", "default conference wait music", conference=name)
                self._advance(min(DEFAULT_HOLD_MUSIC_CHUNK, deadline - self.clock), deadline)

    def _conference_changes(self, old: Any, new: Any, name: str) -> None:
        """Write down what changed in the call's conference membership."""
        if new.status == "in-progress" and (old is None or old.status != "in-progress"):
            self._event("conference-start", name, conference_sid=new.conference_sid)
        if new.hold and (old is None or not old.hold):
            self._event("on-hold", new.hold_url or "default hold music", url=new.hold_url)
        elif old is not None and old.hold and not new.hold:
            self._event("off-hold")
        if new.muted and (old is None or not old.muted):
            self._event("muted")
        elif old is not None and old.muted and not new.muted:
            self._event("unmuted")

    def _conference_music(self, url: str | None, method: str, label: str, deadline: float) -> None:
        """Wait or hold music: one pass of the TwiML at ``url`` (None: Twilio's default
        music), cut short by any change for the call to look at."""
        start = self.clock
        fetch: Fetch | None = Fetch(url, method) if url else None
        timed = {"Say": self._say, "Play": self._play, "Pause": self._pause}
        while fetch is not None:
            doc_url, root = self._fetch_twiml(fetch)
            fetch = None
            for verb in root:
                if self._interrupted() or self.clock >= deadline:
                    return
                if verb.tag in timed:
                    if timed[verb.tag](verb, doc_url, deadline):
                        return
                elif verb.tag == "Redirect":
                    fetch = self._redirect(verb, doc_url)
                    break
                else:
                    self._unsupported(verb, f" in the {label}")
        if self.clock == start and not self._interrupted():
            # Default music, or a document that took no time: wait a while.
            self._advance(min(DEFAULT_HOLD_MUSIC_CHUNK, deadline - self.clock), deadline)

    def _say_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._say(verb, doc_url)
        return None

    def _play_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._play(verb, doc_url)
        return None

    def _pause_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._pause(verb, doc_url)
        return None

    def _leave_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        return None  # <Leave> outside a queue does nothing

    _HANDLERS: ClassVar[dict[str, Callable[..., Fetch | None]]] = {
        "Say": _say_main,
        "Play": _play_main,
        "Pause": _pause_main,
        "Hangup": _hangup_verb,
        "Reject": _reject,
        "Redirect": _redirect,
        "Gather": _gather_main,
        "Enqueue": _enqueue,
        "Record": _record,
        "Dial": _dial,
        "Leave": _leave_main,
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
    switchboard: Switchboard | None = None,
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
