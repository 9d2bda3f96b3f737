"""Voicemail: store a message left by a caller, schedule its download, work the inbox.

Pure domain: functions take a session, flush at most and never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls.records import get_call, log_event
from callcenter.care.followups import FOLLOWUP_CLOSED, close_with_voicemail, voicemail_ids
from callcenter.care.models import Followup
from callcenter.media.downloads import enqueue_download
from callcenter.messages import N_, Refusal
from callcenter.models import Agent, Voicemail
from callcenter.people.worklist import Worklist


def store_voicemail(
    session: Session,
    *,
    call_sid: str,
    mailbox: str,
    recording_sid: str,
    recording_url: str,
    duration: int | None,
) -> Voicemail:
    """Create the voicemail for a finished recording; a repeated callback changes nothing."""
    existing = session.scalar(select(Voicemail).where(Voicemail.recording_sid == recording_sid))
    if existing is not None:
        return existing
    call = get_call(session, call_sid)
    voicemail = Voicemail(
        mailbox=mailbox,
        call_sid=call_sid,
        recording_sid=recording_sid,
        customer_id=call.customer_id if call else None,
        from_number=call.from_number if call else "",
        duration_seconds=duration,
    )
    try:
        with session.begin_nested():
            session.add(voicemail)
    except IntegrityError:
        return session.scalars(
            select(Voicemail).where(Voicemail.recording_sid == recording_sid)
        ).one()
    if call is not None:
        call.outcome = "voicemail"
    enqueue_download(
        session,
        recording_sid=recording_sid,
        call_sid=call_sid,
        source_url=recording_url,
        expected_duration=duration,
        purpose="voicemail",
    )
    log_event(session, call_sid, "voicemail.stored", mailbox=mailbox, recording_sid=recording_sid,
              duration=duration)  # fmt: skip
    return voicemail


# -- the inbox ------------------------------------------------------------------------------

OPEN = ("new", "assigned")
STATUS_FILTERS = {"open": OPEN, "handled": ("handled",), "all": ("new", "assigned", "handled")}


class InboxError(Refusal):
    """An inbox action that cannot be done (taken by someone else, already handled...)."""


def inbox(
    session: Session, *, mailboxes: Sequence[str] | None = None, status: str = "open",
    limit: int = 100,
) -> list[Voicemail]:  # fmt: skip
    """Voicemails to work through, oldest first (handled ones: newest first)."""
    wanted = STATUS_FILTERS.get(status)
    if wanted is None:
        raise InboxError(N_("status must be one of {choices}"), choices=", ".join(STATUS_FILTERS))
    query = select(Voicemail).where(Voicemail.status.in_(wanted))
    if mailboxes is not None:
        query = query.where(Voicemail.mailbox.in_(list(mailboxes)))
    order = Voicemail.created_at.desc() if status == "handled" else Voicemail.created_at
    return list(session.scalars(query.order_by(order, Voicemail.id).limit(limit)))


def _locked(session: Session, voicemail_id: int) -> Voicemail:
    voicemail = session.scalar(
        select(Voicemail).where(Voicemail.id == voicemail_id).with_for_update()
    )
    if voicemail is None:
        raise InboxError(N_("no such voicemail"))
    return voicemail


VOICEMAILS = Worklist("voicemail", "voicemails", "new", "handled", InboxError)


def assign(
    session: Session, voicemail_id: int, agent: Agent, now: datetime, *,
    to_agent_id: int | None = None,
) -> Voicemail:  # fmt: skip
    """Take a voicemail (or, for supervisors, give it to `to_agent_id`)."""
    voicemail = _locked(session, voicemail_id)
    target = VOICEMAILS.take(session, voicemail, agent, now, to_agent_id)
    log_event(session, voicemail.call_sid, "voicemail.assigned", voicemail=voicemail.id,
              agent_id=target, by=agent.id)  # fmt: skip
    return voicemail


def release(session: Session, voicemail_id: int, agent: Agent) -> Voicemail:
    """Give a voicemail back to the inbox."""
    voicemail = _locked(session, voicemail_id)
    VOICEMAILS.give_back(voicemail, agent)
    log_event(session, voicemail.call_sid, "voicemail.released", voicemail=voicemail.id,
              by=agent.id)  # fmt: skip
    return voicemail


def mark_handled(
    session: Session, voicemail_id: int, agent: Agent, notes: str, now: datetime
) -> Voicemail:
    """Close a voicemail with what was done about it."""
    voicemail = _locked(session, voicemail_id)
    VOICEMAILS.check_open(voicemail)
    VOICEMAILS.check_not_taken(voicemail, agent, agent.id)
    close_voicemail(session, voicemail, agent, notes, now)
    close_with_voicemail(session, voicemail, agent, now)
    return voicemail


# A voicemail and the follow-up it is on (care/followups.py) are one piece of work, closed
# together whichever is closed first: handling the voicemail closes the follow-up (above),
# closing the follow-up handles its voicemails still open (below).


def handle_followup_voicemails(
    session: Session, followup: Followup, agent: Agent, why: str, now: datetime
) -> None:
    """A follow-up was closed: its voicemails still open are handled with it."""
    ids = voicemail_ids(followup)
    if not ids:
        return
    notes = f"{why}. {followup.notes}" if followup.notes else f"{why}."
    for voicemail in session.scalars(
        select(Voicemail).where(Voicemail.id.in_(ids), Voicemail.status != "handled")
    ):
        close_voicemail(session, voicemail, agent, notes, now, followup=followup.id)


FOLLOWUP_CLOSED.append(handle_followup_voicemails)


def close_voicemail(
    session: Session, voicemail: Voicemail, agent: Agent, notes: str, now: datetime, **logged: Any
) -> None:
    """Mark the voicemail handled by `agent` (no checks: see :func:`mark_handled`)."""
    voicemail.status = "handled"
    voicemail.handled_at = now
    voicemail.handled_by_id = agent.id
    voicemail.assigned_agent_id = voicemail.assigned_agent_id or agent.id
    voicemail.notes = notes[:4000]
    log_event(session, voicemail.call_sid, "voicemail.handled", voicemail=voicemail.id,
              by=agent.id, **logged)  # fmt: skip


def may_play(agent: Agent, voicemail: Voicemail) -> bool:
    """Supervisors, and agents while the voicemail is unassigned or theirs."""
    if agent.is_supervisor:
        return True
    return voicemail.assigned_agent_id in (None, agent.id)


def describe(voicemail: Voicemail) -> dict[str, Any]:
    """A voicemail for the inbox, with the caller's record beside it."""
    download = voicemail.download
    playable = download is not None and download.playable
    return {
        "id": voicemail.id,
        "mailbox": voicemail.mailbox,
        "call_sid": voicemail.call_sid,
        "recording_sid": voicemail.recording_sid,
        "from": voicemail.from_number,
        "customer": voicemail.customer.summary() if voicemail.customer else None,
        "duration": voicemail.duration_seconds,
        "status": voicemail.status,
        "created_at": voicemail.created_at.isoformat(),
        "assigned_to": voicemail.assigned_agent.public() if voicemail.assigned_agent else None,
        "handled_at": voicemail.handled_at.isoformat() if voicemail.handled_at else None,
        "handled_by": voicemail.handled_by.agent_number if voicemail.handled_by else None,
        "callback_call_sid": voicemail.callback_call_sid,
        "notes": voicemail.notes,
        "download": download.status if download else None,
        "playable": playable,
    }
