"""A supervisor steps into a call: monitor, coach, barge, leave (pure domain).

A supervisor's leg is one participant of the call's conference, kept with the other legs
in the call's `context["legs"]` (role `supervisor`, their agent id, the `mode`). Moving
between modes changes that participant; it is never a second leg. The leg never ends the
conference, is not one of the two parties whose meeting connects the call, never
changes the supervisor's own status (so it is never an agent's part in the call), and is
hung up when the call ends.

Modes: `monitor` (listen, muted), `coach` (heard by the agent only), `barge` (heard by
everyone). The agent is told of a coach or a barge, and of a monitor only when
`supervision.announce_monitor` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.participants import note_leg
from callcenter.calls.records import FINAL_STATUSES, get_call, log_event
from callcenter.calls.routing import Changes
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, Call

MODES = ("monitor", "coach", "barge")
ALREADY = {
    "monitor": N_("you are already monitoring on this call"),
    "coach": N_("you are already coaching on this call"),
    "barge": N_("you are already in on this call"),
}
LABEL_PREFIX = "supervisor-"
"""Conference participant labels of supervisors' legs (`supervisor-<agent number>`)."""


class SupervisionError(Refusal):
    """A supervisor's action that cannot be done; the message says why."""


@dataclass(frozen=True)
class Step:
    """What a monitor/coach/barge request means for the call's conference."""

    call_sid: str
    mode: str
    leg: str | None
    """The supervisor's leg already in the call (to update), None: dial one."""
    previous: str | None
    """The mode that leg was in."""
    agent_id: int
    agent_leg: str


def require_supervisor(actor: Agent | None) -> Agent:
    """The actor, if they may supervise (a supervisor or an admin, still active)."""
    if actor is None or not actor.active or not actor.is_supervisor:
        raise SupervisionError(N_("only supervisors can do this"))
    return actor


def call_over(call: Call) -> bool:
    """Whether the call has ended (as far as its record says)."""
    return call.ended_at is not None or call.status in FINAL_STATUSES


def _live_call(session: Session, call_sid: str, lock: bool = False) -> Call:
    query = select(Call).where(Call.call_sid == call_sid)
    call = session.scalar(query.with_for_update() if lock else query)
    if call is None:
        raise SupervisionError(N_("no such call"))
    if call_over(call):
        raise SupervisionError(N_("the call has ended"))
    return call


def supervisor_legs(call: Call) -> dict[str, dict[str, Any]]:
    """The call's supervisors' legs still on the call: leg SID → `{agent_id, mode, state}`."""
    return legs_in(call.context)


def legs_in(context: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """:func:`supervisor_legs` from a call's `context` (as the wallboard reads it)."""
    legs = (context or {}).get("legs", {})
    return {
        leg: dict(entry)
        for leg, entry in legs.items()
        if entry.get("role") == "supervisor" and entry.get("state") != "left"
    }


def leg_of(call: Call, supervisor_id: int) -> tuple[str, dict[str, Any]] | None:
    """The supervisor's leg on the call and what is known of it, if they are on it."""
    for leg, entry in supervisor_legs(call).items():
        if entry.get("agent_id") == supervisor_id:
            return leg, entry
    return None


def plan_step(session: Session, supervisor: Agent, call_sid: str, mode: str) -> Step:
    """Check that `supervisor` may go into `mode` on the call; say what that takes."""
    require_supervisor(supervisor)
    if mode not in MODES:
        raise SupervisionError(N_("mode must be one of {choices}"), choices=", ".join(MODES))
    call = _live_call(session, call_sid)
    if call.agent_id == supervisor.id:
        raise SupervisionError(N_("this is your own call"))
    if call.agent_id is None or not call.agent_leg_sid or not (call.context or {}).get("connected"):
        raise SupervisionError(N_("the caller is not talking to an agent yet"))
    found = leg_of(call, supervisor.id)
    if found is not None and found[1].get("mode") == mode:
        raise SupervisionError(ALREADY[mode])
    return Step(
        call_sid=call.call_sid,
        mode=mode,
        leg=found[0] if found else None,
        previous=found[1].get("mode") if found else None,
        agent_id=call.agent_id,
        agent_leg=call.agent_leg_sid,
    )


def stepped_in(session: Session, supervisor: Agent, step: Step, leg: str, now: datetime) -> Changes:
    """The supervisor's leg was dialed in, or moved to `step.mode`: note it on the call."""
    call = session.scalar(select(Call).where(Call.call_sid == step.call_sid).with_for_update())
    if call is None:
        return Changes()
    known = (call.context or {}).get("legs", {}).get(leg, {})
    note_leg(
        call, leg, role="supervisor", agent_id=supervisor.id, mode=step.mode,
        state=None if known.get("state") else "connecting",
    )  # fmt: skip
    log_event(session, step.call_sid, f"supervisor.{step.mode}", supervisor=supervisor.username,
              leg=leg, previous=step.previous)  # fmt: skip
    return Changes(participants={step.call_sid})


def plan_leave(session: Session, supervisor: Agent, call_sid: str) -> tuple[str, str]:
    """(the supervisor's leg, its mode) to hang up; the call goes on."""
    require_supervisor(supervisor)
    call = _live_call(session, call_sid)
    found = leg_of(call, supervisor.id)
    if found is None:
        raise SupervisionError(N_("you are not on this call"))
    return found[0], str(found[1].get("mode") or "")


def left(session: Session, call_sid: str, leg: str, reason: str, *, ended: bool) -> Changes:
    """A supervisor's leg is off the call (they left, or the call ended); `ended`: its call
    is over too (hung up, or reported completed), nothing is left to hang up."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    entry = (call.context or {}).get("legs", {}).get(leg) if call is not None else None
    if call is None or entry is None or entry.get("role") != "supervisor":
        return Changes()
    if entry.get("state") != "left":
        note_leg(call, leg, state="left")
        log_event(session, call_sid, "supervisor.left", leg=leg, reason=reason)
    if ended and not entry.get("ended"):
        context = dict(call.context or {})
        legs = dict(context.get("legs", {}))
        legs[leg] = {**legs[leg], "ended": True}
        call.context = {**context, "legs": legs}
    return Changes(participants={call_sid})


def legs_to_release(session: Session, call_sid: str) -> list[str]:
    """Supervisors' legs of a call that has ended whose own call may still be up (not
    reported ended): they are to be hung up."""
    call = get_call(session, call_sid)
    if call is None or not call_over(call):
        return []
    legs = (call.context or {}).get("legs", {})
    return [
        leg
        for leg, entry in legs.items()
        if entry.get("role") == "supervisor" and not entry.get("ended")
    ]


def agent_notice(
    supervisor: Agent, call: Call, mode: str | None, previous: str | None, announce_monitor: bool
) -> dict[str, Any] | None:
    """The `call:supervisor` event for the call's agent, if they are to hear of this step
    (`mode` None: the supervisor left). The agent hears `coach`, `barge`, `monitor` when
    monitors are announced, and `left` when one they knew of is no longer heard."""

    def shown(which: str | None) -> bool:
        return which in ("coach", "barge") or (which == "monitor" and announce_monitor)

    if shown(mode):
        told = mode
    elif shown(previous):
        told = "left"
    else:
        return None
    return {
        "call_sid": call.call_sid,
        "supervisor": {"id": supervisor.id, "name": supervisor.display_name,
                       "number": supervisor.agent_number},
        "mode": told,
    }  # fmt: skip
