"""Browser softphones registered with the simulator: what Twilio's Voice SDK does for a
``client:`` identity, for the agent console when no Twilio account is configured.

The console's softphone registers by asking for its ringing calls every second with its
Access Token (``Authorization: Bearer ...``, signed with the simulator's auth token, as the
app's ``/api/voice/token`` issues it in simulator mode). While it does, a call the app
places to ``client:<identity>`` rings there (the phone page's handsets, keyed by the
address); the softphone answers, rejects, mutes, sends digits or hangs up through the
routes below. Once registered, an identity whose softphone went away lets its calls ring
out unanswered (``no-answer``), as on Twilio; one that never registered is answered by the
simulator (consoles without a browser: tests, ``callcenter simulate busy-hour``).

API (``<sid>``: a call ringing or connected to the token's identity; else 404)::

    GET  /phone/client/incoming          {"identity", "calls": [{"call_sid", "from", "to"}]}
    GET  /phone/client/calls/<sid>       {"call_sid", "status", "ringing", "ended",
                                          "ended_reason", "muted", "from", "to"}
    POST /phone/client/calls/<sid>/answer {}   /reject {}   (409 unless it rings)
    POST /phone/client/calls/<sid>/hangup {}   (declines a ringing call)
    POST /phone/client/calls/<sid>/mute  {"muted": true}
    POST /phone/client/calls/<sid>/keys  {"keys": "1#"}   (0-9, * and # only)

401 without a valid token (signature, expiry, account, an incoming voice grant).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from twilio.jwt import JwtDecodeError
from twilio.jwt.access_token import AccessToken

from callcenter.simulator.phones import PhoneLine, phones_of

bp = Blueprint("simulator_softphones", __name__)

SETUP_EXTENSION = "callcenter.simulator.phone_page.setup"  # the phone page's PhoneSetup
MAX_KEYS = 32


def _error(message: str, status: int) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _identity() -> str:
    """The ``client:`` address of the request's Access Token; answers 401 otherwise."""
    setup = current_app.extensions.get(SETUP_EXTENSION)
    if setup is None:
        abort(_error("the simulator is not running", 503))
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        abort(_error("send the softphone's Access Token (Authorization: Bearer ...)", 401))
    try:
        payload = AccessToken.from_jwt(token.strip(), setup.auth_token).payload
    except JwtDecodeError:
        abort(_error("the Access Token is not valid (expired, or not signed for here)", 401))
    grants = payload.get("grants") or {}
    identity = grants.get("identity")
    incoming = ((grants.get("voice") or {}).get("incoming") or {}).get("allow")
    if payload.get("sub") != setup.account_sid or not identity or incoming is not True:
        abort(_error("the Access Token grants no incoming calls", 401))
    return f"client:{identity}"


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        abort(_error("send a JSON object (Content-Type: application/json)", 415))
    return body


def _line(sid: str, address: str) -> PhoneLine:
    line = phones_of(current_app).get(sid)
    if line is None or not line.incoming or line.number != address:
        abort(_error("no such call", 404))
    return line


def _state(line: PhoneLine) -> dict[str, Any]:
    ended = line.ended
    return {
        "call_sid": line.call_sid,
        "status": line.call.status,
        "ringing": line.ringing,
        "ended": ended,
        "ended_reason": line.call.ended if ended else None,
        "muted": line.muted,
        "from": line.call.from_,
        "to": line.call.to,
    }


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.get("/phone/client/incoming")
def incoming() -> ResponseReturnValue:
    address = _identity()
    setup = current_app.extensions[SETUP_EXTENSION]
    phones = phones_of(current_app)
    phones.pace = float(current_app.config.get("SIMULATOR_PHONE_PACE", 1.0))
    setup.board.handsets = phones.handset
    calls = [
        {"call_sid": line.call_sid, "from": line.call.from_, "to": line.call.to}
        for line in phones.present(address)
    ]
    return jsonify(identity=address.removeprefix("client:"), calls=calls)


@bp.get("/phone/client/calls/<sid>")
def call_state(sid: str) -> ResponseReturnValue:
    line = _line(sid, _identity())
    phones_of(current_app).touch(line)
    return jsonify(_state(line))


@bp.post("/phone/client/calls/<sid>/<any(answer, reject, hangup):action>")
def act(sid: str, action: str) -> ResponseReturnValue:
    line = _line(sid, _identity())
    _body()
    if line.ended:
        return _error("the call has ended", 409)
    if action == "hangup":
        if line.ringing:
            line.call.decline()
        else:
            line.call.hangup("the agent hung up", by="caller")
    elif not line.ringing:
        return _error("the call is not ringing", 409)
    elif action == "answer":
        line.call.pick_up()
    else:
        line.call.decline()
    phones_of(current_app).touch(line)
    return jsonify(_state(line)), 202


@bp.post("/phone/client/calls/<sid>/mute")
def mute(sid: str) -> ResponseReturnValue:
    line = _line(sid, _identity())
    muted = _body().get("muted")
    if not isinstance(muted, bool):
        return _error("muted: true or false", 400)
    if line.ended:
        return _error("the call has ended", 409)
    line.muted = muted
    return jsonify(_state(line))


@bp.post("/phone/client/calls/<sid>/keys")
def keys(sid: str) -> ResponseReturnValue:
    line = _line(sid, _identity())
    pressed = _body().get("keys")
    if (
        not isinstance(pressed, str)
        or not 0 < len(pressed) <= MAX_KEYS
        or pressed.strip("0123456789*#")
    ):
        return _error(f"keys: 1 to {MAX_KEYS} of 0-9, * and #", 400)
    if line.ended or line.ringing:
        return _error("the call is not connected", 409)
    line.call.press(pressed)
    return jsonify(ok=True), 202
