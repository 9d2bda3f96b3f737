"""The screen-pop: everything an agent should know before saying hello (pure domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.calls.outbound import is_outbound
from callcenter.calls.participants import participants
from callcenter.calls.routing import callback_pending
from callcenter.care.followups import event_facts, what_happened
from callcenter.care.models import Followup
from callcenter.care.ticket_queries import intents_of, open_tickets_of_caller
from callcenter.care.ticket_views import brief as ticket_brief
from callcenter.config import Settings
from callcenter.knowledge.usage import suggest
from callcenter.models import Agent, Call, CallEvent, CallOffer, Voicemail

HISTORY_LIMIT = 5
IVR_KINDS = ("ivr.node", "ivr.input", "ivr.no_input", "ivr.language", "ivr.lookup")
OUTCOME_LABELS = {
    "answered": "Answered",
    "abandoned": "Hung up while waiting",
    "overflow": "Moved to another queue",
    "voicemail": "Left a voicemail",
    "callback": "Call-back requested",
    "callback-failed": "Call-back not reached",
    "transferred": "Transferred out",
    "queued": "Waiting",
    "ivr-hangup": "Hung up in the menu",
}


def _humanize(code: str) -> str:
    text = code.replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:]


def outcome_label(outcome: str | None) -> str | None:
    """What a call's outcome code means, in words."""
    return OUTCOME_LABELS.get(outcome, _humanize(outcome)) if outcome else None


def node_label(flows: Any, flow: str | None, node: str | None) -> str:
    """A node's description when its flow file gives one, else its name in words."""
    try:
        description = flows.node(flow, node).description if flows is not None else None
    except (KeyError, LookupError, AttributeError):
        description = None
    return description or _humanize(node or "")


def ivr_path(session: Session, call_sid: str, flows: Any = None) -> list[dict[str, Any]]:
    """The nodes the caller went through (with labels), with what they entered (e.g. an
    order number); `flows` (a FlowSet) supplies the nodes' descriptions."""
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_sid == call_sid, CallEvent.kind.in_(IVR_KINDS))
        .order_by(CallEvent.id)
    ).all()
    path: list[dict[str, Any]] = []
    for event in events:
        if event.kind == "ivr.node":
            label = node_label(flows, event.flow, event.node)
            path.append({"flow": event.flow, "node": event.node, "label": label, "input": None})
        elif event.kind == "ivr.input" and path and path[-1]["node"] == event.node:
            path[-1]["input"] = event.input
        elif event.kind == "ivr.language" and path:
            path[-1]["input"] = (event.detail or {}).get("language")
    return path


def call_history(session: Session, settings: Settings, call: Call) -> list[dict[str, Any]]:
    """The customer's (or this number's) previous calls with their dispositions and the
    caller's survey answers (`csat`, `resolved`)."""
    conditions = []
    if call.customer_id is not None:
        conditions.append(Call.customer_id == call.customer_id)
    if call.caller_number:
        conditions.append(Call.caller_number == call.caller_number)
    if not conditions:
        return []
    previous = session.scalars(
        select(Call)
        .where(or_(*conditions), Call.id != call.id)
        .order_by(Call.started_at.desc())
        .limit(HISTORY_LIMIT)
    ).all()
    return [
        {
            "call_sid": item.call_sid,
            "started_at": item.started_at.isoformat(),
            "queue": item.queue,
            "outcome": item.outcome,
            "outcome_label": outcome_label(item.outcome),
            "disposition": item.disposition,
            "disposition_label": (
                settings.dispositions.get(item.disposition, _humanize(item.disposition))
                if item.disposition
                else None
            ),
            "notes": item.wrapup_notes,
            "agent": item.agent.agent_number if item.agent else None,
            "agent_name": item.agent.display_name if item.agent else None,
            "csat": item.csat,
            "resolved": item.resolved,
        }
        for item in previous
    ]


def _callback(
    session: Session, settings: Settings, call: Call, now: datetime
) -> dict[str, Any] | None:
    """For a call-back still to be dialed: whom accepting dials, and since when they have
    been waiting. None for a live caller (a call-back that reached them and was transferred
    is one too)."""
    context = call.context or {}
    if not callback_pending(call):
        return None
    requested = context.get("callback_requested_at")
    since = datetime.fromisoformat(requested) if requested else call.enqueued_at
    voicemail = None
    if context.get("voicemail") is not None:
        message = session.get(Voicemail, context["voicemail"])
        if message is not None:
            left = message.created_at
            voicemail = {
                "id": message.id,
                "mailbox": message.mailbox,
                "duration_seconds": message.duration_seconds,
                "left_seconds_ago": max(0, int((now - left).total_seconds())) if left else None,
                "call_sid": message.call_sid,
            }
    followup = None
    if context.get("followup") is not None:
        item = session.get(Followup, context["followup"])
        if item is not None:
            followup = {
                "id": item.id,
                "occurrences": item.occurrences,
                "first_seconds_ago": max(0, int((now - item.created_at).total_seconds())),
                "what": [what_happened(settings, event) for event in item.events],
                "events": [event_facts(settings, event) for event in item.events],
            }
    return {
        "number": call.caller_number,
        "requested_seconds_ago": max(0, int((now - since).total_seconds())) if since else None,
        "voicemail": voicemail,
        "followup": followup,
    }


def _voicemail_call(session: Session, call: Call) -> str | None:
    """The call that left the voicemail a call-back answers, if it is one."""
    voicemail_id = (call.context or {}).get("voicemail")
    message = session.get(Voicemail, voicemail_id) if voicemail_id is not None else None
    return message.call_sid if message is not None else None


def _transfer(session: Session, call: Call) -> dict[str, Any] | None:
    """Who transferred the call (the last agent who handed it on), or None."""
    former = (call.context or {}).get("former_agents") or []
    agent = session.get(Agent, former[-1]) if former else None
    if agent is None:
        return None
    return {"from": {"id": agent.id, "name": agent.display_name, "number": agent.agent_number}}


def offer_payload(
    session: Session,
    settings: Settings,
    call: Call,
    now: datetime,
    agent: Agent | None = None,
    flows: Any = None,
) -> dict[str, Any]:
    """The `call:offer` event: what kind of offer (a caller on the line, or a call-back that
    dials the customer on accept), who transferred it, call, customer, history, open
    tickets, IVR path and
    inputs, queue, wait, and the knowledge-base articles that answer the caller's open
    tickets and IVR path. `flows` (a FlowSet) labels the IVR path with the nodes'
    descriptions."""
    offer = None
    if agent is not None:
        offer = session.scalar(
            select(CallOffer)
            .where(CallOffer.call_sid == call.call_sid, CallOffer.agent_id == agent.id)
            .order_by(CallOffer.id.desc())
        )
    return with_expiry(call_pop(session, settings, call, now, flows), offer and offer.expires_at)


def with_expiry(pop: dict[str, Any], expires_at: datetime | None) -> dict[str, Any]:
    """`pop` (from `call_pop`) as the offer of one agent, answerable until `expires_at`."""
    return {**pop, "expires_at": expires_at.isoformat() if expires_at else None}


def call_pop(
    session: Session, settings: Settings, call: Call, now: datetime, flows: Any = None
) -> dict[str, Any]:
    """The screen-pop of `call` without its offer's expiry (`with_expiry` adds it): the
    dispatcher reads it before it writes the offer, so the pop leaves at the commit."""
    queue = settings.queues.get(call.queue or "")
    waited = int((now - call.enqueued_at).total_seconds()) if call.enqueued_at else 0
    callback = _callback(session, settings, call, now)
    # A voicemail call-back is a new call: what the caller did is on the message's call.
    source = _voicemail_call(session, call)
    variables = dict((call.context or {}).get("vars", {}))
    if source is not None:
        original = session.scalar(select(Call).where(Call.call_sid == source))
        variables = {**dict(((original.context or {}) if original else {}).get("vars", {})),
                     **variables}  # fmt: skip
    path = ivr_path(session, source or call.call_sid, flows)
    intents = list(dict.fromkeys(f"{step['flow']}.{step['node']}" for step in path))
    kind = "inbound" if callback is None else "callback"
    transfer = _transfer(session, call)
    # The agent placed it: nothing to accept, the pop is the record. Once they transferred
    # it, whoever is offered it takes it like any caller on the line.
    if is_outbound(call) and transfer is None:
        kind = "outbound"
    tickets = open_tickets_of_caller(session, call.customer_id, call.caller_number)
    # The caller's open tickets (what they probably call about) count before the IVR path,
    # whose later, more specific choices weigh more.
    intents = [*intents_of(tickets), *intents]
    return {
        "call_sid": call.call_sid,
        "kind": kind,
        "direction": call.direction,
        "callback": callback,
        "transfer": transfer,
        "from": call.from_number,
        "caller_number": call.caller_number,
        "caller_kind": call.caller_kind,
        "to": call.to_number,
        "language": call.language,
        "customer": call.customer.summary() if call.customer else None,
        "history": call_history(session, settings, call),
        "tickets": [ticket_brief(settings, ticket, now) for ticket in tickets],
        "ivr": {"path": path, "inputs": variables},
        "queue": {
            "name": call.queue,
            "display_name": queue.display_name if queue else call.queue,
            "priority": call.queue_priority,
            "waited_seconds": max(0, waited),
        },
        "knowledge": [item.public() for item in suggest(session, intents, call.language)],
    }


def consult_payload(
    session: Session, settings: Settings, call: Call, agent: Agent, now: datetime,
    flows: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """The `call:consult` event: the screen-pop of the call another agent offers `agent`,
    with who offers it, until when, and who is on the call now."""
    consult = (call.context or {}).get("consult") or {}
    sender = session.get(Agent, consult.get("from")) if consult.get("from") else None
    payload = offer_payload(session, settings, call, now, agent, flows)
    payload["kind"] = "consult"
    payload["expires_at"] = consult.get("expires_at")
    payload["consult"] = {
        "from": {"id": sender.id, "name": sender.display_name, "number": sender.agent_number}
        if sender
        else None,
        "expires_at": consult.get("expires_at"),
    }
    announce = settings.supervision.announce_monitor
    payload["participants"] = participants(session, call, monitors=announce)
    return payload
