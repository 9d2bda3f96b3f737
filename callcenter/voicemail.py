"""Voicemail: store a message left by a caller and schedule its audio download."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.calls import get_call, log_event
from callcenter.models import Voicemail
from callcenter.recordings import enqueue_download


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
