"""A telephone in the browser: the caller's side of the simulator (``/phone``).

A person opens ``/phone``, dials the hotline and hears the menu: the page speaks each
``<Say>`` with the browser's speech synthesis (in the Say's language) or plays the
prompt audio of a ``<Play>``, sends what they press on the dial pad or type as speech,
and shows the call's transcript.  Behind it, each call is an interactive
:class:`~callcenter.simulator.leg.call.SimulatedCall` running in a thread of its own against
this very app (through :class:`~callcenter.simulator.transports.WsgiTransport` at the public
URL), registered with the simulator's switchboard, so the agent console sees it queue and
can take it into a conference.

**This blueprint exists only with the simulator** (``settings.simulator``: the app mounts
it with :func:`init_app`, handing it a :class:`PhoneSetup`, and nowhere else): with a real
Twilio account callers use real phones.  It needs **no login** on purpose, as it stands
for a member of the public calling the hotline, not for an agent; all it can do is place
calls into this app through the simulator.  It takes JSON only (415 otherwise: no
cross-site form can post here), checks every input, keeps at most ``MAX_CALLS`` calls
going and hangs up a call whose page stopped asking for its events for ``IDLE_SECONDS``
(the tab was closed).

API (``<sid>`` is the call's SID, ``CA`` + 32 hex digits)::

    GET  /phone                          the page
    POST /phone/calls        {"from": "+8613800138000", "to": "+864008001234"}
                                         201 {"call_sid": ...}; 429 when too many calls
    POST /phone/calls/<sid>/keys   {"keys": "12345678#"}       202 (0-9, * and # only)
    POST /phone/calls/<sid>/say    {"text": "repair"}          202 (1-200 characters)
    POST /phone/calls/<sid>/hangup {}                          202 (declines a ringing call)
    POST /phone/calls/<sid>/answer {}  /reject {}              202; 409 unless it rings
    GET  /phone/incoming?number=+8613800138000
         {"number", "calls": [{"call_sid", "from", "to"}, ...]}   the calls ringing for it
    GET  /phone/calls/<sid>/events?after=N
         {"call_sid", "events": [{"index", "kind", "text", "line", "language", "lang",
          "voice", "url", "loop", "seconds", "beep", "finish_on_key", "max_length", "at"},
          ...], "next", "ended", "status", "ended_reason", "held"}
    GET  /phone/messages?number=+8613800138000
         {"number", "messages": [{"sid", "from", "body", "media", "status",
          "date_created"}, ...]}   the text messages the app sent that number, newest
                                   first (at most MAX_MESSAGES)

``url`` is set on ``play`` events whose audio this app serves (a path on the page's own
origin); ``lang`` is ``language`` as a browser's speech synthesis names it. A POST on a
call that has ended answers 409.  ``GET /phone/phone.css`` is the page's stylesheet.

The page shows the messages of the number in its *From* field, as the phone of that
number would: like everything here, with no login (any number can be dialled from, so
any number's messages can be read: the simulator's messages are made up).  Message
bodies are data: the page renders them as text, links only for ``http(s)`` URLs.

``held`` lists the keys (and quoted words) the call keeps for its next ``<Gather>``:
given while no Gather listened, they are not dropped (as Twilio would) but typed ahead.

**Calls to the page's number.** A page that asks for ``/phone/incoming`` of the number
in its *From* field (every second) is that number's phone for ``PRESENT_SECONDS``: a call
the app places to it through the simulator's REST API (a call-back, a party added to a
conference) rings there instead of being answered by the simulator.  The person answers
(the call then follows the app's TwiML like one they placed), rejects it (``busy``) or
lets it ring out (``no-answer`` after the call's ``Timeout``).  A page already on a call
with that number is busy.

The calls run in real time; ``app.config["SIMULATOR_PHONE_PACE"]`` (real seconds per
simulated second, 1.0) speeds them up, for tests.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from flask.typing import ResponseReturnValue

from callcenter.simulator.leg.call import SimulatedCall
from callcenter.simulator.leg.events import CallEvent, format_event
from callcenter.simulator.switchboard import Switchboard
from callcenter.simulator.transports import WsgiTransport, is_under

log = logging.getLogger("callcenter.simulator.phone_page")

bp = Blueprint("phone", __name__)

MAX_CALLS = 20
"""Calls the page may have going at once."""
IDLE_SECONDS = 60.0
"""A call whose events nobody asked for this long is hung up (its page is gone)."""
MAX_TEXT = 200
MAX_MESSAGES = 50
"""Messages the page shows at most (the newest)."""
MAX_KEYS = 64
PRESENT_SECONDS = 5.0
"""Calls to a number ring on the page if it asked for them this recently (else the
simulator answers them)."""
HOLD_SECONDS = 3600
"""How long the person waits in a queue (or for a conference) before giving up."""
TALK_SECONDS = 4 * 3600
"""How long they stay in a conversation: until someone hangs up."""
PACE_CONFIG = "SIMULATOR_PHONE_PACE"
"""``app.config`` key: real seconds per simulated second of the page's calls (1.0)."""
EXTENSION = "callcenter.simulator.phone_page"
DEFAULT_FROM = "+8613800138000"
DEMO_NUMBERS = (
    ("+8613800138000", "王伟 · VIP customer, prefers Chinese"),
    ("+8613912345678", "李娜 · customer, prefers Chinese"),
    ("+8613522334455", "陈静 · VIP customer, prefers Chinese"),
    ("+15005550006", "Unknown caller (English)"),
    ("+447700900123", "Unknown caller (UK)"),
    ("anonymous", "Withheld number"),
)
BROWSER_LANGUAGES = {
    "cmn-CN": "zh-CN",
    "cmn-TW": "zh-TW",
    "yue-CN": "zh-HK",
    "yue-HK": "zh-HK",
    "arb": "ar",
}
"""Twilio/Polly language codes a browser's speech synthesis knows by another name."""

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
"""Where the page's stylesheet (``phone.css``) and script (``phone.js``) are."""

_SID_RE = re.compile(r"^CA[0-9a-f]{32}$")
_NUMBER_RE = re.compile(r"^\+[1-9][0-9]{3,15}$")
_KEYS_RE = re.compile(r"^[0-9*#]+$")

_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass(frozen=True)
class PhoneSetup:
    """What the page needs from the app that mounts it: the simulator's switchboard and
    how to call the app the way Twilio does."""

    board: Switchboard
    public_url: str
    account_sid: str
    auth_token: str
    api_url: str | None = None
    numbers: tuple[str, ...] = ()
    """The app's numbers (the first is dialled unless the page says otherwise)."""


SETUP_EXTENSION = "callcenter.simulator.phone_page.setup"
"""``app.extensions`` key of the app's :class:`PhoneSetup`."""
DEFAULT_NUMBER = "+18005550100"
"""What the page dials when the app has no numbers."""


def init_app(app: Flask, setup: PhoneSetup) -> None:
    """Mount the phone page on ``app`` (a simulator's app only)."""
    app.extensions[SETUP_EXTENSION] = setup
    app.register_blueprint(bp)


def _setup() -> PhoneSetup | None:
    """The app's :class:`PhoneSetup`; None if the simulator is not running."""
    return current_app.extensions.get(SETUP_EXTENSION)


class TooManyCalls(Exception):
    """The page already has ``MAX_CALLS`` calls going."""


class PhoneLine:
    """One call of the page: the simulated call, its thread and its transcript.

    An ``incoming`` call (one the app placed to the page's number) runs in the
    switchboard's thread, so the line has no thread of its own.
    """

    def __init__(
        self, call: SimulatedCall, now: float, script_root: str = "", *, incoming: bool = False
    ) -> None:
        self.call = call
        self.script_root = script_root
        self.last_seen = now
        self.incoming = incoming
        self.error: str | None = None
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None
        if not incoming:
            self.thread = threading.Thread(
                target=self._run, name=f"phone-{call.call_sid[-6:]}", daemon=True
            )

    @property
    def number(self) -> str:
        """The page's number: the one it calls from, or the one called."""
        return self.call.to if self.incoming else self.call.from_

    @property
    def ringing(self) -> bool:
        return self.incoming and self.call.status in ("queued", "ringing") and not self.ended

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def ended(self) -> bool:
        return self.call.done.is_set()

    def add(self, event: CallEvent) -> None:
        """The call's ``on_event`` hook (the call's thread)."""
        with self._lock:
            self._events.append(self._json(len(self._events), event))

    def events(self, after: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._events[after:]

    def _json(self, index: int, event: CallEvent) -> dict[str, Any]:
        details = event.details
        language = details.get("language") if event.kind == "say" else None
        url = None
        if event.kind == "play" and not details.get("digits"):
            url = self._local_path(str(details.get("url") or ""))
        return {
            "index": index,
            "kind": event.kind,
            "text": event.text,
            "line": format_event(event),
            "language": language,
            "lang": BROWSER_LANGUAGES.get(language, language) if language else None,
            "voice": details.get("voice") if event.kind == "say" else None,
            "url": url,
            "loop": details.get("loop", 1) if event.kind in ("say", "play") else None,
            "seconds": details.get("seconds"),
            "beep": details.get("beep") if event.kind == "recording" else None,
            "finish_on_key": details.get("finish_on_key") if event.kind == "recording" else None,
            "max_length": details.get("max_length") if event.kind == "recording" else None,
            "at": round(event.at, 1),
        }

    def _local_path(self, url: str) -> str | None:
        """A URL below the public URL as a path the page can load from its own origin."""
        public_url = self.call.public_url
        if not url or not is_under(public_url, url):
            return None
        parts = urlsplit(url)
        base_path = urlsplit(public_url).path.rstrip("/")
        path = parts.path[len(base_path) :] or "/"
        return self.script_root + path + (f"?{parts.query}" if parts.query else "")

    def _run(self) -> None:
        try:
            self.call.run()
        except Exception as exc:  # a bug: keep the thread quiet, but make it visible
            log.exception("phone call %s failed", self.call_sid)
            self.error = repr(exc)


class Phones:
    """The page's calls of one app: start them, find them, hang up abandoned ones.

    A reaper thread runs while there are calls: every ``sweep_every`` seconds it hangs up
    live calls nobody polled for ``idle_seconds`` and forgets ended ones as stale.
    """

    pace = 1.0
    """Real seconds per simulated second of the calls the page answers."""
    script_root = ""
    """Where the page is served (the audio paths of incoming calls' events)."""

    def __init__(
        self,
        *,
        max_calls: int = MAX_CALLS,
        idle_seconds: float = IDLE_SECONDS,
        sweep_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_calls = max_calls
        self.idle_seconds = idle_seconds
        self.sweep_every = sweep_every
        self.clock = clock
        self._lines: dict[str, PhoneLine] = {}
        self._numbers: dict[str, float] = {}  # number -> when a page last showed it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._closed = False

    def live(self) -> int:
        with self._lock:
            return sum(not line.ended for line in self._lines.values())

    def start(
        self,
        make_call: Callable[[Callable[[CallEvent], None]], SimulatedCall],
        script_root: str = "",
    ) -> PhoneLine:
        """Create a call with ``make_call(on_event)`` and run it; raises TooManyCalls."""
        holder: list[PhoneLine] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the phone is closed")
            if sum(not line.ended for line in self._lines.values()) >= self.max_calls:
                raise TooManyCalls
            call = make_call(lambda event: holder[0].add(event))
            line = PhoneLine(call, self.clock(), script_root)
            holder.append(line)
            self._add(line)
        assert line.thread is not None
        line.thread.start()
        return line

    def _add(self, line: PhoneLine) -> None:
        """Keep a line (and have the reaper watch it); hold ``_lock``."""
        self._lines[line.call_sid] = line
        if self._reaper is None:
            self._stop.clear()
            self._reaper = threading.Thread(target=self._reap, name="phone-reaper", daemon=True)
            self._reaper.start()

    # -- calls to the page's number ---------------------------------------------------------

    def present(self, number: str) -> list[PhoneLine]:
        """A page shows ``number``: calls to it ring there for ``PRESENT_SECONDS``.

        Returns the calls ringing for it now (and keeps them from being reaped).
        """
        now = self.clock()
        with self._lock:
            for stale in [n for n, seen in self._numbers.items() if now - seen > PRESENT_SECONDS]:
                del self._numbers[stale]  # pages that went away (or never came back)
            self._numbers[number] = now
            ringing = [
                line for line in self._lines.values() if line.number == number and line.ringing
            ]
        for line in ringing:
            line.last_seen = now
        return ringing

    def handset(self, number: str) -> Phones | None:
        """The switchboard's ``handsets``: the page if one showed ``number`` lately."""
        with self._lock:
            seen = self._numbers.get(number)
            if self._closed or seen is None or self.clock() - seen > PRESENT_SECONDS:
                return None
        return self

    def ring(self, call: SimulatedCall) -> None:
        """A call to a page's number (:class:`~callcenter.simulator.switchboard.Handset`).

        It rings there; a page already on a call with that number, or with ``max_calls``
        going, is busy.
        """
        line = PhoneLine(call, self.clock(), self.script_root, incoming=True)
        earlier = call.on_event

        def on_event(event: CallEvent) -> None:
            line.add(event)
            if earlier is not None:
                earlier(event)

        call.on_event = on_event
        with self._lock:
            live = [other for other in self._lines.values() if not other.ended]
            busy = len(live) >= self.max_calls or any(other.number == call.to for other in live)
            self._add(line)
        if busy:
            call.decline()

    def get(self, sid: str) -> PhoneLine | None:
        with self._lock:
            return self._lines.get(sid)

    def touch(self, line: PhoneLine) -> None:
        line.last_seen = self.clock()

    def sweep(self) -> None:
        """Hang up abandoned calls; forget ended calls nobody looked at for a while."""
        now = self.clock()
        abandoned: list[PhoneLine] = []
        with self._lock:
            for sid, line in list(self._lines.items()):
                if now - line.last_seen < self.idle_seconds:
                    continue
                if line.ended:
                    del self._lines[sid]
                else:
                    abandoned.append(line)
        for line in abandoned:
            log.info("phone call %s: its page is gone, hanging up", line.call_sid)
            line.call.hangup("the caller's page went away", by="caller")

    def _reap(self) -> None:
        while not self._stop.wait(self.sweep_every):
            self.sweep()
            with self._lock:
                if not self._lines:
                    self._reaper = None
                    return

    def close(self, timeout: float = 10.0) -> None:
        """Hang up every call, wait for their threads and stop the reaper."""
        with self._lock:
            self._closed = True
            lines = list(self._lines.values())
            reaper, self._reaper = self._reaper, None
        for line in lines:
            if not line.ended:
                line.call.hangup("the phone closed", by="caller")
        for line in lines:
            if line.thread is not None:
                line.thread.join(timeout)
            else:
                line.call.done.wait(timeout)
        self._stop.set()
        if reaper is not None:
            reaper.join(timeout)


def phones_of(app: Flask) -> Phones:
    """The :class:`Phones` of an app (created on first use)."""
    with _CREATE_LOCK:
        phones = app.extensions.get(EXTENSION)
        if phones is None:
            phones = app.extensions[EXTENSION] = Phones()
        return phones


_CREATE_LOCK = threading.Lock()


# -- HTTP -----------------------------------------------------------------------------------


def _error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _json_body() -> dict[str, Any]:
    """The request's JSON object; answers 415 or 400 otherwise (aborts)."""
    if not request.is_json:
        abort(_error("send JSON (Content-Type: application/json)", 415))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(_error("the body must be a JSON object", 400))
    return body


def _line(sid: str) -> PhoneLine:
    """The phone line of a call this page placed; answers 404 otherwise (aborts)."""
    line = phones_of(current_app).get(sid) if _SID_RE.fullmatch(sid) else None
    if line is None:
        abort(_error("no such call", 404))
    return line


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "application/json":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.get("/phone")
def phone_page() -> ResponseReturnValue:
    setup = _setup()
    return render_template(
        "phone.html",
        agent=None,
        default_from=DEFAULT_FROM,
        demo_numbers=DEMO_NUMBERS,
        numbers=list(setup.numbers if setup else ()) or [DEFAULT_NUMBER],
        max_text=MAX_TEXT,
    )


@bp.get("/phone/phone.css")
def phone_css() -> ResponseReturnValue:
    return send_from_directory(STATIC_DIR, "phone.css", mimetype="text/css", max_age=3600)


@bp.post("/phone/calls")
def start_call() -> ResponseReturnValue:
    body = _json_body()
    setup = _setup()
    numbers = setup.numbers if setup else ()
    from_ = body.get("from")
    if not isinstance(from_, str) or not (
        _NUMBER_RE.fullmatch(from_.strip()) or from_.strip().lower() == "anonymous"
    ):
        return _error("from: a number like +8613800138000, or anonymous", 400)
    from_ = from_.strip()
    to = body.get("to") or next(iter(numbers), DEFAULT_NUMBER)
    if not isinstance(to, str) or not _NUMBER_RE.fullmatch(to.strip()):
        return _error("to: a number like +864008001234", 400)
    if setup is None:
        return _error("the simulator is not running", 503)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pace = float(app.config.get(PACE_CONFIG, 1.0))

    def make_call(on_event: Callable[[CallEvent], None]) -> SimulatedCall:
        return SimulatedCall(
            WsgiTransport(app, public_url=setup.public_url),
            public_url=setup.public_url,
            account_sid=setup.account_sid,
            auth_token=setup.auth_token,
            from_=from_,
            to=to.strip(),
            api_url=setup.api_url,
            switchboard=setup.board,
            interactive=True,
            pace=pace,
            hold_seconds=HOLD_SECONDS,
            dial_talk_seconds=TALK_SECONDS,
            on_event=on_event,
        )

    try:
        line = phones_of(app).start(make_call, request.script_root)
    except TooManyCalls:
        return _error(f"too many calls from the phone page (at most {MAX_CALLS})", 429)
    log.info("phone call %s from %s to %s", line.call_sid, from_, to)
    return jsonify(call_sid=line.call_sid), 201


@bp.post("/phone/calls/<sid>/keys")
def press_keys(sid: str) -> ResponseReturnValue:
    body = _json_body()
    line = _line(sid)
    keys = body.get("keys")
    if not isinstance(keys, str) or len(keys) > MAX_KEYS or not _KEYS_RE.fullmatch(keys):
        return _error(f"keys: 1 to {MAX_KEYS} of 0-9, * and #", 400)
    if line.ended:
        return _error("the call has ended", 409)
    line.call.press(keys)
    return jsonify(ok=True), 202


@bp.post("/phone/calls/<sid>/say")
def say_text(sid: str) -> ResponseReturnValue:
    body = _json_body()
    line = _line(sid)
    text = body.get("text")
    if isinstance(text, str):
        text = " ".join(text.split())
    if not isinstance(text, str) or not text or len(text) > MAX_TEXT:
        return _error(f"text: 1 to {MAX_TEXT} characters", 400)
    if line.ended:
        return _error("the call has ended", 409)
    line.call.say(text)
    return jsonify(ok=True), 202


@bp.post("/phone/calls/<sid>/hangup")
def hang_up(sid: str) -> ResponseReturnValue:
    _json_body()
    line = _line(sid)
    if line.ended:
        return _error("the call has ended", 409)
    if line.ringing:
        line.call.decline()
    else:
        line.call.hangup("the caller hung up", by="caller")
    return jsonify(ok=True), 202


@bp.post("/phone/calls/<sid>/answer")
def answer_call(sid: str) -> ResponseReturnValue:
    _json_body()
    line = _line(sid)
    if not line.ringing:
        return _error("the call is not ringing", 409)
    line.call.pick_up()
    phones_of(current_app).touch(line)
    return jsonify(ok=True), 202


@bp.post("/phone/calls/<sid>/reject")
def reject_call(sid: str) -> ResponseReturnValue:
    _json_body()
    line = _line(sid)
    if not line.ringing:
        return _error("the call is not ringing", 409)
    line.call.decline()
    return jsonify(ok=True), 202


@bp.get("/phone/incoming")
def incoming_calls() -> ResponseReturnValue:
    number = request.args.get("number", "").strip()
    if not _NUMBER_RE.fullmatch(number):
        return _error("number: a number like +8613800138000", 400)
    setup = _setup()
    if setup is None:
        return _error("the simulator is not running", 503)
    board = setup.board
    phones = phones_of(current_app)
    phones.pace = float(current_app.config.get(PACE_CONFIG, 1.0))
    phones.script_root = request.script_root
    board.handsets = phones.handset
    calls = [
        {"call_sid": line.call_sid, "from": line.call.from_, "to": line.call.to}
        for line in phones.present(number)
    ]
    return jsonify(number=number, calls=calls)


@bp.get("/phone/calls/<sid>/events")
def call_events(sid: str) -> ResponseReturnValue:
    line = _line(sid)
    after = request.args.get("after", "0")
    if not after.isdigit() or len(after) > 9:
        return _error("after: an event index (0, 1, ...)", 400)
    phones_of(current_app).touch(line)
    ended = line.ended  # read first: once set, every event is in
    events = line.events(int(after))
    call = line.call
    return jsonify(
        call_sid=line.call_sid,
        events=events,
        next=int(after) + len(events),
        ended=ended,
        status=call.status,
        ended_reason=call.ended if ended else None,
        held=[] if ended else call.held_input(),
    )


@bp.get("/phone/messages")
def text_messages() -> ResponseReturnValue:
    number = request.args.get("number", "").strip()
    if not _NUMBER_RE.fullmatch(number):
        return _error("number: a number like +8613800138000", 400)
    setup = _setup()
    if setup is None:
        return _error("the simulator is not running", 503)
    board = setup.board
    with board.lock:  # the switchboard's worker updates the statuses
        messages = [
            {
                "sid": message.sid,
                "from": message.from_,
                "body": message.body,
                "media": list(message.media_urls),
                "status": message.status,
                "date_created": message.date_created.isoformat(),
            }
            for message in reversed(board.messages(to=number)[-MAX_MESSAGES:])
        ]
    return jsonify(number=number, messages=messages)
