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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

from callcenter.simulator import softphones
from callcenter.simulator.leg.call import SimulatedCall
from callcenter.simulator.leg.events import CallEvent
from callcenter.simulator.phones import MAX_CALLS, PhoneLine, TooManyCalls, phones_of
from callcenter.simulator.switchboard import Switchboard
from callcenter.simulator.transports import WsgiTransport

log = logging.getLogger("callcenter.simulator.phone_page")

bp = Blueprint("phone", __name__)

MAX_TEXT = 200
MAX_MESSAGES = 50
"""Messages the page shows at most (the newest)."""
MAX_KEYS = 64
HOLD_SECONDS = 3600
"""How long the person waits in a queue (or for a conference) before giving up."""
TALK_SECONDS = 4 * 3600
"""How long they stay in a conversation: until someone hangs up."""
PACE_CONFIG = "SIMULATOR_PHONE_PACE"
"""``app.config`` key: real seconds per simulated second of the page's calls (1.0)."""
DEFAULT_FROM = "+8613800138000"


def N_(message: str) -> str:
    """Marks `message` for the catalogs; the page translates it when it shows it."""
    return message


DEMO_NUMBERS = (
    ("+8613800138000", N_("王伟 · VIP customer, prefers Chinese")),
    ("+8613912345678", N_("李娜 · customer, prefers Chinese")),
    ("+8613522334455", N_("陈静 · VIP customer, prefers Chinese")),
    ("+15005550006", N_("Unknown caller (English)")),
    ("+447700900123", N_("Unknown caller (UK)")),
    ("anonymous", N_("Withheld number")),
)

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
    app.register_blueprint(softphones.bp)


def _setup() -> PhoneSetup | None:
    """The app's :class:`PhoneSetup`; None if the simulator is not running."""
    return current_app.extensions.get(SETUP_EXTENSION)


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
