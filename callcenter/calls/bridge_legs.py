"""The two legs of a bridge on their way to the conference (pure domain).

An accepted caller hears the agent's number (about 3 s) before their `<Dial><Conference>`
joins; the agent's leg rings, answers and joins meanwhile. Either leg can end before the
other one is in: the one left would wait alone in the conference. The legs that have met
(both in the conference at once) are kept in `context["met"]`, which a conference's end
does not reset, so a leg's end can tell whether the two ever talked.
"""

from __future__ import annotations

from callcenter.models import Call

UNANSWERED = frozenset({"busy", "no-answer", "failed", "canceled"})
ENDED = UNANSWERED | {"completed"}
IN_CONFERENCE = ("connected", "on hold")


def note_met(call: Call, member: str) -> None:
    """`member` joined the call's conference: if another party (not a supervisor) is in it
    already, the two have met. A flag saying the agent's leg ended unheard (its status
    callback came before this join event) is then dropped."""
    context = dict(call.context or {})
    present = {
        leg
        for leg, entry in context.get("legs", {}).items()
        if entry.get("state") in IN_CONFERENCE and entry.get("role") != "supervisor"
    }
    others = present - {member}
    if not others:
        return
    context["met"] = sorted({*context.get("met", []), member, *others})
    context.pop("agent_leg_failed", None)
    call.context = context


def has_met(call: Call, leg: str) -> bool:
    """Has `leg` ever been in the call's conference together with another party?"""
    return leg in (call.context or {}).get("met", [])


def agent_leg_ended(call: Call | None, leg: str, status: str) -> bool:
    """The agent's leg `leg` of `call` ended with `status` before it ever met the caller
    (unanswered, or answered and hung up during the caller's announcement): flag the call
    for the dispatcher, which moves the caller back to the queue (a REST request, after the
    commit) and undoes the accept (`agent_missed_bridge`). True when flagged."""
    if status not in ENDED or call is None or call.agent_id is None or call.ended_at is not None:
        return False
    context = call.context or {}
    if context.get("connected") or has_met(call, leg):
        return False
    # A leg of an earlier bridge of this call (the agent who transferred it) is not this one.
    if status == "completed" and call.agent_leg_sid not in (None, leg):
        return False
    call.context = {**context, "agent_leg_failed": status}
    return True


def agent_leg_gone(call: Call) -> bool:
    """The current agent's leg is over without having met the caller (flagged, not yet
    undone by the dispatcher): nobody is coming to the conference."""
    return call.agent_id is not None and bool((call.context or {}).get("agent_leg_failed"))


def unmet_agent_leg(call: Call) -> str | None:
    """The agent's leg of a call that ended before its caller met them: it is alone in
    the conference (or on its way there) and is to be hung up."""
    leg = call.agent_leg_sid
    # Without an agent the accept was undone (`requeue`): that leg is over already.
    if leg is None or call.agent_id is None or has_met(call, leg):
        return None
    return leg
