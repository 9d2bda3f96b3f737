"""`call:dial` on `/agent`: the agent places a call now (click-to-call, the dial pad).

`{number}`, `{customer_id}`, `{voicemail_id}` or `{followup_id}`: the call is created as a
call-back (callcenter.calls.outbound), taken at once by the agent (the screen-pop comes as a
`call:offer` of `kind` "outbound", nothing to accept) and bridged as an accepted call-back:
the agent's leg first, then the customer's. Acked `{ok: true, call_sid}`, or `{error}` with
the reason (not available, a number not allowed, a voicemail someone else has, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from callcenter.calls.callbacks import call_back_voicemail
from callcenter.calls.outbound import call_out, dial_now, ready_to_dial
from callcenter.calls.routing import Changes, RoutingError, requeue
from callcenter.care.followups import FollowupError, call_back_followup
from callcenter.care.followups import assign as take_followup
from callcenter.media.voicemail import InboxError
from callcenter.media.voicemail import assign as take_voicemail
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, utcnow
from callcenter.services import Services
from callcenter.telephony.bridge import BridgeError
from callcenter.web.bridging import accepted_call, bridge_accepted
from callcenter.web.i18n import refusal_text
from callcenter.web.rooms import AGENT_NS
from callcenter.web.socket_schemas import Dial, describe


def dial_step(
    services: Services, agent_id: int, data: Dial, placed: list[str]
) -> Callable[[Session], Changes]:
    """The step placing `data`'s call for `agent_id` (in one transaction): the call created
    and taken; its SID is appended to `placed`. Refusals raise RoutingError."""

    def step(session: Session) -> Changes:
        settings, now = services.settings, utcnow()
        agent = session.get(Agent, agent_id)
        assert agent is not None
        ready_to_dial(agent)
        try:
            if data.voicemail_id is not None:
                voicemail = take_voicemail(session, data.voicemail_id, agent, now)
                changes, call_sid = call_back_voicemail(session, settings, voicemail,
                                                        agent, now)  # fmt: skip
            elif data.followup_id is not None:
                followup = take_followup(session, data.followup_id, agent, now)
                changes, call_sid = call_back_followup(session, settings, followup,
                                                       agent, now)  # fmt: skip
                changes.followups.add(followup.id)
            else:
                changes, call_sid = call_out(
                    session, settings, agent, now,
                    number=data.number, customer_id=data.customer_id,
                )  # fmt: skip
        except (InboxError, FollowupError) as exc:
            raise RoutingError(str(exc)) from exc
        placed.append(call_sid)
        return changes.merge(dial_now(session, settings, agent_id, call_sid, now))

    return step


def register_dial_events(
    on: Callable[..., None],
    services: Services,
    commit_and_publish: Callable[[Callable[[Session], Changes]], Any],
    bridge_taken: Callable[[int, str], dict[str, Any]],
) -> None:
    """Attach `call:dial` through the console's `on` (validated, actor checked, acked)."""

    def on_dial(agent_id: int, data: Dial) -> dict[str, Any]:
        placed: list[str] = []
        commit_and_publish(dial_step(services, agent_id, data, placed))
        return bridge_taken(agent_id, placed[0])

    on(AGENT_NS, "call:dial", Dial, on_dial)


def dial_over_http(services: Services, agent_id: int, payload: Any) -> tuple[dict[str, Any], int]:
    """`POST /api/calls/dial` (pages other than the console, e.g. a customer's record):
    `call:dial` over HTTP, its payload and refusals the same; (answer, HTTP status)."""
    try:
        data = Dial.model_validate(payload, strict=True)
    except ValidationError as exc:
        return {"error": describe(exc)}, 400
    placed: list[str] = []
    try:
        with services.database.session() as session:
            changes = dial_step(services, agent_id, data, placed)(session)
    except RoutingError as exc:
        return {"error": refusal_text(exc)}, 409
    services.announcer.publish(changes)
    bridge = services.extras["bridge"]
    try:
        bridge_accepted(services, bridge, accepted_call(services, agent_id, placed[0]))
    except BridgeError as exc:
        with services.database.session() as session:
            undone = requeue(session, placed[0], agent_id, utcnow())
        services.announcer.publish(undone)  # after the commit: publishing reads in a session
        failure = Refusal(N_("could not connect the call: {reason}"), reason=str(exc))
        return {"error": refusal_text(failure)}, 502
    return {"ok": True, "call_sid": placed[0]}, 200
