"""The customer file: the record, its history, every call (recordings, dispositions, CSAT),
tickets, voicemails and the knowledge articles sent — as one viewer may see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from callcenter.calls.records import may_see_call
from callcenter.care.models import Ticket
from callcenter.care.ticket_queries import may_see as may_see_ticket
from callcenter.care.ticket_views import describe as describe_ticket
from callcenter.config import Settings
from callcenter.crm.records import describe, history
from callcenter.knowledge.models import KbArticle, KbLookup
from callcenter.media.call_recordings import describe as describe_recording
from callcenter.media.voicemail import describe as describe_voicemail
from callcenter.media.voicemail import may_play
from callcenter.models import Agent, Call, CallRecording, Customer, Voicemail

CALLS_SHOWN = 100


def customer_calls(session: Session, customer: Customer, limit: int = CALLS_SHOWN) -> list[Call]:
    """The customer's calls (theirs, or from one of their numbers), newest first."""
    numbers = [phone.number for phone in customer.phones]
    condition = Call.customer_id == customer.id
    if numbers:
        condition = or_(condition, Call.caller_number.in_(numbers))
    return list(
        session.scalars(
            select(Call)
            .where(condition)
            .options(selectinload(Call.agent))
            .order_by(Call.started_at.desc(), Call.id.desc())
            .limit(limit)
        )
    )


def customer_file(
    session: Session, settings: Settings, viewer: Agent, customer: Customer, now: datetime
) -> dict[str, Any]:
    """Everything about `customer` that `viewer` may see; recordings and voicemails carry
    ``playable`` only when the viewer may play them (the route adds their URLs)."""
    calls = customer_calls(session, customer)
    sids = [call.call_sid for call in calls]
    recordings: dict[str, list[dict[str, Any]]] = {}
    if sids:
        for recording in session.scalars(
            select(CallRecording).where(CallRecording.call_sid.in_(sids)).order_by(CallRecording.id)
        ):
            recordings.setdefault(recording.call_sid, []).append(describe_recording(recording))
    call_rows = []
    for call in calls:
        visible = may_see_call(session, viewer, call)
        items = recordings.get(call.call_sid, [])
        for item in items:
            item["playable"] = item["playable"] and visible
        call_rows.append(
            {
                "call_sid": call.call_sid,
                "started_at": call.started_at.isoformat(),
                "from": call.from_number,
                "queue": call.queue,
                "outcome": call.outcome,
                "status": call.status,
                "disposition": call.disposition,
                "disposition_label": settings.dispositions.get(
                    call.disposition or "", call.disposition
                ),
                "agent": call.agent.agent_number if call.agent else None,
                "duration": call.duration_seconds,
                "csat": call.csat,
                "resolved": call.resolved,
                "visible": visible,
                "recordings": items,
            }
        )
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(100)
    ).all()
    voicemail_query = select(Voicemail).where(Voicemail.customer_id == customer.id)
    if sids:
        voicemail_query = select(Voicemail).where(
            or_(Voicemail.customer_id == customer.id, Voicemail.call_sid.in_(sids))
        )
    voicemails = []
    for voicemail in session.scalars(voicemail_query.order_by(Voicemail.created_at.desc())):
        item = describe_voicemail(voicemail)
        allowed = may_play(viewer, voicemail)
        item["playable"] = item["playable"] and allowed
        if not allowed:
            item["notes"] = None
        voicemails.append(item)
    articles = []
    if sids:
        for lookup, title in session.execute(
            select(KbLookup, KbArticle.title)
            .outerjoin(KbArticle, KbArticle.id == KbLookup.article_id)
            .where(KbLookup.call_sid.in_(sids), KbLookup.action == "send")
            .order_by(KbLookup.at.desc())
        ):
            articles.append(
                {
                    "at": lookup.at.isoformat(),
                    "call_sid": lookup.call_sid,
                    "article_id": lookup.article_id,
                    "title": title,
                }
            )
    return {
        "customer": describe(customer),
        "history": history(session, customer.id),
        "calls": call_rows,
        "tickets": [
            describe_ticket(session, settings, ticket, now)
            for ticket in tickets
            if may_see_ticket(session, settings, viewer, ticket)
        ],
        "voicemails": voicemails,
        "articles_sent": articles,
    }
