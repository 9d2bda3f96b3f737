"""The screen-pop: everything an agent should know before saying hello (pure domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.kb_usage import suggest
from callcenter.models import Agent, Call, CallEvent, CallOffer

HISTORY_LIMIT = 5
IVR_KINDS = ("ivr.node", "ivr.input", "ivr.no_input", "ivr.language", "ivr.lookup")


def ivr_path(session: Session, call_sid: str) -> list[dict[str, Any]]:
    """The nodes the caller went through, with what they entered (e.g. an order number)."""
    events = session.scalars(
        select(CallEvent)
        .where(CallEvent.call_sid == call_sid, CallEvent.kind.in_(IVR_KINDS))
        .order_by(CallEvent.id)
    ).all()
    path: list[dict[str, Any]] = []
    for event in events:
        if event.kind == "ivr.node":
            path.append({"flow": event.flow, "node": event.node, "input": None})
        elif event.kind == "ivr.input" and path and path[-1]["node"] == event.node:
            path[-1]["input"] = event.input
        elif event.kind == "ivr.language" and path:
            path[-1]["input"] = (event.detail or {}).get("language")
    return path


def call_history(session: Session, call: Call) -> list[dict[str, Any]]:
    """The customer's (or this number's) previous calls with their dispositions."""
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
            "disposition": item.disposition,
            "notes": item.wrapup_notes,
            "agent": item.agent.agent_number if item.agent else None,
        }
        for item in previous
    ]


def offer_payload(
    session: Session, settings: Settings, call: Call, now: datetime, agent: Agent | None = None
) -> dict[str, Any]:
    """The `call:offer` event: call, customer, history, IVR path and inputs, queue, wait,
    and the knowledge-base articles that answer the caller's IVR path."""
    queue = settings.queues.get(call.queue or "")
    offer = None
    if agent is not None:
        offer = session.scalar(
            select(CallOffer)
            .where(CallOffer.call_sid == call.call_sid, CallOffer.agent_id == agent.id)
            .order_by(CallOffer.id.desc())
        )
    waited = int((now - call.enqueued_at).total_seconds()) if call.enqueued_at else 0
    variables = dict((call.context or {}).get("vars", {}))
    path = ivr_path(session, call.call_sid)
    intents = list(dict.fromkeys(f"{step['flow']}.{step['node']}" for step in path))
    return {
        "call_sid": call.call_sid,
        "from": call.from_number,
        "caller_number": call.caller_number,
        "caller_kind": call.caller_kind,
        "to": call.to_number,
        "language": call.language,
        "customer": call.customer.summary() if call.customer else None,
        "history": call_history(session, call),
        "tickets": [],
        "ivr": {"path": path, "inputs": variables},
        "queue": {
            "name": call.queue,
            "display_name": queue.display_name if queue else call.queue,
            "priority": call.queue_priority,
            "waited_seconds": max(0, waited),
        },
        "knowledge": [item.public() for item in suggest(session, intents, call.language)],
        "expires_at": offer.expires_at.isoformat() if offer else None,
    }
