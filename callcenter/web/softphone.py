"""The browser softphone's routes: its Access Token and where the agent takes calls.

    GET   /api/voice/token        {token, identity, mode, ttl, expires_at, auto_answer,
                                   takes_calls_on}; 503 {error} when Twilio is configured
                                   but the softphone's API key or TwiML App is not
    GET   /api/voice/preferences  {takes_calls_on, auto_answer, phone}
    PATCH /api/voice/preferences  {takes_calls_on?: "browser"|"phone", auto_answer?: bool,
                                   phone?: "+86..." | null}; 400 {"errors": {field: message}}

`mode` says which softphone the console runs: "twilio" (Twilio's Voice JavaScript SDK) or
"simulator" (the simulator rings the console; docs/agent-protocol.md).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from callcenter.db import get_database
from callcenter.models import CALL_DEVICES, Agent
from callcenter.people.agents import AgentError, call_preferences, set_call_preferences
from callcenter.people.customers import normalize_phone
from callcenter.services import get_services
from callcenter.telephony.voice_token import VoiceTokenUnavailable, voice_token
from callcenter.web.auth import json_error, json_object, login_required
from callcenter.web.i18n import field_errors

bp = Blueprint("softphone", __name__)


def _invalid(errors: dict[str, str]) -> ResponseReturnValue:
    response = jsonify({"errors": field_errors(errors)})
    response.status_code = 400
    return response


@bp.get("/api/voice/token")
@login_required()
def token() -> ResponseReturnValue:
    agent: Agent = g.agent
    try:
        issued = voice_token(get_services().settings, agent.username)
    except VoiceTokenUnavailable as exc:
        return json_error(503, str(exc))
    response = jsonify(
        token=issued.token,
        identity=issued.identity,
        mode=issued.mode,
        ttl=issued.ttl,
        expires_at=issued.expires_at,
        **call_preferences(agent),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/api/voice/preferences")
@login_required()
def preferences() -> ResponseReturnValue:
    return jsonify(call_preferences(g.agent))


@bp.patch("/api/voice/preferences")
@login_required()
def change_preferences() -> ResponseReturnValue:
    body = json_object()
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    unknown = sorted(set(body) - {"takes_calls_on", "auto_answer", "phone"})
    for field in unknown:
        errors[field] = "unknown field"
    if "takes_calls_on" in body:
        if body["takes_calls_on"] not in CALL_DEVICES:
            errors["takes_calls_on"] = " or ".join(CALL_DEVICES)
        else:
            changes["takes_calls_on"] = body["takes_calls_on"]
    if "auto_answer" in body:
        if not isinstance(body["auto_answer"], bool):
            errors["auto_answer"] = "true or false"
        else:
            changes["auto_answer"] = body["auto_answer"]
    if "phone" in body:
        if body["phone"] in (None, ""):
            changes["clear_phone"] = True
        elif not isinstance(body["phone"], str):
            errors["phone"] = "a phone number like +8613912345678"
        else:
            try:
                changes["phone"] = normalize_phone(body["phone"])
            except ValueError as exc:
                errors["phone"] = str(exc)
    if errors:
        return _invalid(errors)
    with get_database().session() as session:
        agent = session.get(Agent, g.agent.id)
        assert agent is not None
        try:
            set_call_preferences(agent, **changes)
        except AgentError as exc:
            field, _, message = str(exc).partition(": ")
            return _invalid({field: message})
        answer = call_preferences(agent)
    return jsonify(answer)
