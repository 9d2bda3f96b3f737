"""The browser softphone's routes: its Access Token and where the agent takes calls.

    GET   /api/voice/token        {token, identity, mode, ttl, expires_at, auto_answer,
                                   takes_calls_on}; 503 {error} when Twilio is configured
                                   but the softphone's API key or TwiML App is not
    GET   /api/voice/preferences  {takes_calls_on, auto_answer, phone}
    PATCH /api/voice/preferences  {takes_calls_on?: "browser"|"phone", auto_answer?: bool,
                                   phone?: "+86..." | null}; 400 {"errors": {field: message}}

`mode` says which softphone the console runs: "twilio" (Twilio's Voice JavaScript SDK) or
"simulator" (the simulator rings the console; docs/agent-protocol.md).

On `/agent` the console says when its softphone is ready or cannot register
(`softphone:state`, :func:`register_softphone_events`): an agent who takes calls in the
browser is not offered calls while it cannot ring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from callcenter.calls.changes import Changes
from callcenter.db import get_database
from callcenter.models import CALL_DEVICES, Agent, utcnow
from callcenter.people.agents import (
    AgentError,
    call_preferences,
    set_call_preferences,
    set_softphone_state,
)
from callcenter.people.customers import normalize_phone
from callcenter.services import get_services
from callcenter.supervision.audit import record
from callcenter.telephony.voice_token import VoiceTokenUnavailable, voice_token
from callcenter.web.auth import json_error, json_object, login_required
from callcenter.web.i18n import field_errors
from callcenter.web.rooms import AGENT_NS
from callcenter.web.socket_schemas import SoftphoneState

bp = Blueprint("softphone", __name__)
log = logging.getLogger("callcenter.softphone")


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


def register_softphone_events(on: Any, commit_and_publish: Callable[[Any], Any]) -> None:
    """`softphone:state` on `/agent`: the console's softphone is ready or unreachable.

    Kept on the agent's row (every process routes by it), audited (`agent.softphone`) and
    logged when it changes; the agent's state goes to their consoles and the wallboards.
    Acked `{ok, state, offered}` (`offered`: whether routing offers this agent calls now).
    """

    def on_state(agent_id: int, data: SoftphoneState) -> dict[str, Any]:
        offered: list[bool] = []

        def note(session: Session) -> Changes:
            agent = session.get(Agent, agent_id)
            assert agent is not None
            now = utcnow()
            changed = set_softphone_state(agent, data.state, now)
            offered.append(agent.can_ring)
            if not changed:
                return Changes()
            record(session, agent, "agent.softphone", now, agent_id=agent.id,
                   state=data.state, reason=data.reason,
                   takes_calls_on=agent.takes_calls_on)  # fmt: skip
            routing = "offered calls" if agent.can_ring else "not offered calls"
            log.info("agent %s: softphone %s (%s): %s", agent.username, data.state,
                     data.reason or "-", routing)  # fmt: skip
            return Changes(agents={agent.id})

        commit_and_publish(note)
        return {"ok": True, "state": data.state, "offered": offered[0]}

    on(AGENT_NS, "softphone:state", SoftphoneState, on_state)


def clear_softphone_state(session: Session, agent_id: int) -> bool:
    """Forget what a closed console said of its softphone: the agent is routable again
    once a console without a softphone (or a new one, which reports afresh) connects."""
    agent = session.get(Agent, agent_id)
    return agent is not None and set_softphone_state(agent, "ready", utcnow())
