"""Who is on a call: the caller, agents and added parties, with their state (pure domain).

The legs in the call's conference are kept in the call's `context["legs"]` (leg SID →
role, agent, number, state; a supervisor's leg also its mode), updated from the
conference's join/leave events and from the REST requests the app makes (hold, consult,
add a party, supervise). An agent invited to a warm transfer who has not accepted yet is
listed too, without a leg. Supervisors are listed with their mode (`monitor`, `coach`,
`barge`); a silent monitor only where `monitors` says so (agents see one only when
`supervision.announce_monitor` is set).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callcenter.models import Agent, Call

STATES = ("invited", "connecting", "connected", "on hold", "left")


def caller_leg(call: Call) -> str:
    """The caller's leg in the conference: their own call, or the call-back leg."""
    return str((call.context or {}).get("caller_leg") or call.call_sid)


def note_leg(
    call: Call,
    leg: str,
    *,
    state: str | None = None,
    role: str | None = None,
    agent_id: int | None = None,
    number: str | None = None,
    mode: str | None = None,
) -> None:
    """Record what is known about one leg (only the fields given change)."""
    context = dict(call.context or {})
    legs = dict(context.get("legs", {}))
    entry = dict(legs.get(leg, {}))
    if state is not None:
        if state not in STATES:
            raise ValueError(f"unknown participant state {state!r}")
        entry["state"] = state
    if role is not None:
        entry["role"] = role
    if agent_id is not None:
        entry["agent_id"] = agent_id
    if number is not None:
        entry["number"] = number
    if mode is not None:
        entry["mode"] = mode
    if "role" not in entry:
        # Joined before anyone said who it is: the call's agent leg, else a third party.
        if leg == call.agent_leg_sid and call.agent_id is not None:
            entry.update(role="agent", agent_id=call.agent_id)
        elif leg != caller_leg(call):
            entry["role"] = "party"
    legs[leg] = entry
    context["legs"] = legs
    call.context = context


def conference_ended(call: Call) -> None:
    """Everyone still listed has left."""
    for leg, entry in (call.context or {}).get("legs", {}).items():
        if entry.get("state") != "left":
            note_leg(call, leg, state="left")


def participants(session: Session, call: Call, *, monitors: bool = True) -> list[dict[str, Any]]:
    """The call's participants, caller first: `{call_sid, role, agent_id, name, number,
    state}` (`call_sid` is the leg, `null` for an invited agent); supervisors also have a
    `mode`. Without `monitors`, supervisors listening silently are left out."""
    context = call.context or {}
    legs: dict[str, dict[str, Any]] = dict(context.get("legs", {}))
    caller = caller_leg(call)
    default = "left" if call.ended_at is not None else "connecting"
    legs.setdefault(caller, {})
    if call.agent_leg_sid and call.agent_id is not None:
        legs.setdefault(call.agent_leg_sid, {"role": "agent", "agent_id": call.agent_id})
    listed: list[dict[str, Any]] = []
    for leg, entry in legs.items():
        state = entry.get("state") or default
        if leg == caller:
            name = call.customer.name if call.customer else None
            listed.append(_entry(leg, "caller", None, name, call.caller_number, state))
        elif entry.get("role") == "agent":
            listed.append(_agent(session, leg, entry.get("agent_id"), state))
        elif entry.get("role") == "supervisor":
            if entry.get("mode") == "monitor" and not monitors:
                continue
            listed.append(
                {**_agent(session, leg, entry.get("agent_id"), state), "role": "supervisor",
                 "mode": entry.get("mode")}
            )  # fmt: skip
        else:
            listed.append(_entry(leg, "party", None, None, entry.get("number"), state))
    consult = context.get("consult") or {}
    if consult.get("status") == "offered":
        listed.append(_agent(session, None, consult.get("to"), "invited"))
    listed.sort(key=lambda item: item["role"] != "caller")
    return listed


def _agent(session: Session, leg: str | None, agent_id: Any, state: str) -> dict[str, Any]:
    agent = session.get(Agent, agent_id) if isinstance(agent_id, int) else None
    name = agent.display_name if agent else None
    return _entry(leg, "agent", agent_id, name, agent.agent_number if agent else None, state)


def _entry(
    leg: str | None, role: str, agent_id: Any, name: str | None, number: str | None, state: str
) -> dict[str, Any]:
    return {"call_sid": leg, "role": role, "agent_id": agent_id, "name": name,
            "number": number, "state": state}  # fmt: skip
