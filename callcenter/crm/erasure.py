"""Erasure on request (personal-information laws): the person goes, the counts stay.

The customer row stays as "erased customer #ID" (so calls still count in the reports); its
name, numbers, account code, notes and history go; every call, event, ticket, voicemail,
follow-up, knowledge look-up and stored answer that held their number or name is scrubbed;
the audio of their calls and voicemails is deleted from ``recordings/`` and the rows are
marked purged, and the deletion of Twilio's copies is queued
(:mod:`callcenter.media.remote_erasure`: the caller commits, then sends them). The audit
log says that it happened (never whose data it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from callcenter.care.models import Followup, Ticket, TicketEvent
from callcenter.crm.models import CustomerChange
from callcenter.crm.records import get_customer, note_change
from callcenter.knowledge.models import KbLookup
from callcenter.media import call_recordings
from callcenter.media.downloads import DONE, FAILED
from callcenter.media.downloads import ERASED as STOPPED
from callcenter.media.remote_erasure import queue_deletions
from callcenter.models import (
    Agent,
    AuditEntry,
    Call,
    CallEvent,
    CallRecording,
    RecordingDownload,
    Voicemail,
    WebhookResponse,
)

ERASED = "[erased]"
WITHHELD = "erased"
"""What a call's or voicemail's ``From`` becomes: not a number, so nobody dials it."""


@dataclass
class ErasureReport:
    """What an erasure did (counts only)."""

    customer_id: int
    calls: int = 0
    tickets: int = 0
    voicemails: int = 0
    followups: int = 0
    audio_files: int = 0
    remote_recordings: list[str] = field(default_factory=list)
    """Recordings whose deletion from Twilio is queued (sent by :class:`RemoteDeleter`)."""

    def counts(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "tickets": self.tickets,
            "voicemails": self.voicemails,
            "followups": self.followups,
            "audio_files": self.audio_files,
            "remote_recordings": len(self.remote_recordings),
        }


def erase_name(customer_id: int) -> str:
    return f"erased customer #{customer_id}"


def number_forms(e164: str) -> list[str]:
    """The ways a number may have been written: E.164, its digits, national and
    international formats, the national number alone."""
    forms = {e164, e164.lstrip("+")}
    try:
        parsed = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return sorted(forms, key=len, reverse=True)
    forms.add(str(parsed.national_number))
    for style in (
        phonenumbers.PhoneNumberFormat.NATIONAL,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    ):
        forms.add(phonenumbers.format_number(parsed, style))
    return sorted((form for form in forms if len(form) >= 5), key=len, reverse=True)


def scrub(value: Any, needles: Sequence[str]) -> Any:
    """`value` (text, or JSON of lists and objects) with every needle replaced by ``[erased]``."""
    if isinstance(value, str):
        for needle in needles:
            if needle and needle.casefold() in value.casefold():
                value = _replace_folded(value, needle)
        return value
    if isinstance(value, list):
        return [scrub(item, needles) for item in value]
    if isinstance(value, dict):
        return {scrub(key, needles): scrub(item, needles) for key, item in value.items()}
    return value


def _replace_folded(text: str, needle: str) -> str:
    lowered, key = text.casefold(), needle.casefold()
    if len(lowered) != len(text):  # casefold changed the length: plain replace only
        return text.replace(needle, ERASED)
    out, start = [], 0
    while (found := lowered.find(key, start)) >= 0:
        out.append(text[start:found])
        out.append(ERASED)
        start = found + len(key)
    out.append(text[start:])
    return "".join(out)


def erase_customer(
    session: Session,
    customer_id: int,
    recordings_dir: Path,
    now: datetime,
    *,
    actor: Agent | None = None,
    actor_name: str = "command line",
    prompt_cache_dir: Path | None = None,
) -> ErasureReport:
    """Erase the person behind `customer_id` (see the module's docstring). Flushes; the
    caller commits. Audio files are deleted before the commit: if the commit then fails,
    the rows say the audio exists but the files are gone (run it again)."""
    customer = get_customer(session, customer_id, lock=True)
    report = ErasureReport(customer.id)
    numbers = [phone.number for phone in customer.phones]
    needles = _needles(customer.name, customer.account_code, numbers)

    calls = session.scalars(
        select(Call).where(
            or_(
                Call.customer_id == customer.id,
                *(
                    [Call.caller_number.in_(numbers), Call.from_number.in_(numbers),
                     Call.to_number.in_(numbers)]
                    if numbers else []
                ),
            )
        )
    ).all()  # fmt: skip
    sids = [call.call_sid for call in calls]
    for call in calls:
        call.customer_id = customer.id
        call.caller_number = None
        call.from_number = (
            WITHHELD if call.from_number in numbers else scrub(call.from_number, needles)
        )
        call.to_number = WITHHELD if call.to_number in numbers else scrub(call.to_number, needles)
        call.context = scrub(dict(call.context or {}), needles)
        call.wrapup_notes = scrub(call.wrapup_notes or "", needles)
    report.calls = len(calls)

    for sid_chunk in _chunks(sids):
        for event in session.scalars(select(CallEvent).where(CallEvent.call_sid.in_(sid_chunk))):
            event.detail = scrub(dict(event.detail or {}), needles)
            event.input = scrub(event.input, needles)
        for answer in session.scalars(
            select(WebhookResponse).where(WebhookResponse.call_sid.in_(sid_chunk))
        ):
            answer.body = scrub(answer.body, needles)
        for lookup in session.scalars(select(KbLookup).where(KbLookup.call_sid.in_(sid_chunk))):
            lookup.detail = scrub(dict(lookup.detail or {}), needles)
            lookup.query = scrub(lookup.query, needles)
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.call_sid.in_(sid_chunk))):
            entry.details = scrub(dict(entry.details or {}), needles)

    tickets = session.scalars(
        select(Ticket).where(
            or_(Ticket.customer_id == customer.id,
                *([Ticket.caller_number.in_(numbers)] if numbers else []))
        )
    ).all()  # fmt: skip
    for ticket in tickets:
        ticket.customer_id = customer.id
        ticket.caller_number = None
        ticket.description = scrub(ticket.description, needles)
        for event in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)):
            event.old_value = scrub(event.old_value, needles)
            event.new_value = scrub(event.new_value, needles)
            event.note = scrub(event.note, needles)
    report.tickets = len(tickets)

    followups = session.scalars(
        select(Followup).where(
            or_(Followup.customer_id == customer.id,
                *([Followup.number.in_(numbers)] if numbers else []))
        )
    ).all()  # fmt: skip
    for followup in followups:
        session.delete(followup)  # a caller we owe a call: after erasure, nobody to call
    report.followups = len(followups)

    voicemails = session.scalars(
        select(Voicemail).where(
            or_(
                Voicemail.customer_id == customer.id,
                *([Voicemail.call_sid.in_(sids)] if sids else []),
                *([Voicemail.from_number.in_(numbers)] if numbers else []),
            )
        )
    ).all()
    for voicemail in voicemails:
        voicemail.customer_id = customer.id
        voicemail.from_number = WITHHELD
        voicemail.notes = scrub(voicemail.notes, needles)
        if voicemail.call_sid not in sids:
            sids.append(voicemail.call_sid)
    report.voicemails = len(voicemails)

    report.audio_files = _delete_audio(session, sids, recordings_dir, now)
    report.remote_recordings = queue_deletions(session, _remote_recordings(session, sids), now)
    if prompt_cache_dir is not None:
        report.audio_files += _delete_prompts(Path(prompt_cache_dir), needles)
    _scrub_histories(session, customer.id, numbers, needles)

    session.execute(delete(CustomerChange).where(CustomerChange.customer_id == customer.id))
    for phone in list(customer.phones):
        customer.phones.remove(phone)
    customer.name = erase_name(customer.id)
    customer.notes = ""
    customer.account_code = None
    customer.updated_at = now
    session.flush()
    note_change(session, customer.id, actor, "erased", None, "personal data erased on request",
                now, actor_name=actor_name)  # fmt: skip
    session.add(
        AuditEntry(
            at=now,
            actor_id=actor.id if actor is not None else None,
            actor=(actor.username if actor is not None else actor_name)[:64],
            action="customer.erase",
            result="ok",
            details={"customer_id": customer.id, **report.counts()},
        )
    )
    session.flush()
    return report


def _needles(name: str, account: str | None, numbers: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for number in numbers:
        found.update(number_forms(number))
    if name and len(name.strip()) >= 2:
        found.add(name.strip())
    if account:
        found.add(account)
    return sorted(found, key=len, reverse=True)


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _delete_audio(
    session: Session, sids: Sequence[str], recordings_dir: Path, now: datetime
) -> int:
    """Delete the stored audio of these calls (recordings and voicemails); rows stay, purged.
    A download not done yet is stopped (failed), so it never fetches the audio later."""
    root = Path(recordings_dir).resolve()
    deleted = 0
    for sid_chunk in _chunks(list(sids)):
        # Locked: a fetcher saving one of them now either finished first (its file is
        # deleted here) or finds the job taken from it (and deletes what it wrote).
        for job in session.scalars(
            select(RecordingDownload)
            .where(RecordingDownload.call_sid.in_(sid_chunk))
            .with_for_update()
        ):
            if job.path:
                path = (root / job.path).resolve()
                if path.is_relative_to(root) and path.is_file():
                    path.unlink()
                    deleted += 1
            if job.status != DONE:
                job.status = FAILED
                job.last_error = STOPPED
            job.purged_at = job.purged_at or now
        for recording in session.scalars(
            select(CallRecording).where(
                CallRecording.call_sid.in_(sid_chunk),
                CallRecording.status.in_((call_recordings.REQUESTED, call_recordings.STARTING)),
            )
        ):  # not started yet: never started (one starting now is deleted once it is)
            recording.status = call_recordings.FAILED
            recording.last_error = STOPPED
    return deleted


def _remote_recordings(session: Session, sids: Sequence[str]) -> list[tuple[str, str]]:
    """(recording SID, call SID) of every recording of these calls Twilio may still hold:
    call recordings and voicemails, downloaded or not, but not those already deleted there."""
    found: list[tuple[str, str]] = []
    deleted: set[str] = set()
    for sid_chunk in _chunks(list(sids)):
        for recording_sid, call_sid, remote_deleted in session.execute(
            select(RecordingDownload.recording_sid, RecordingDownload.call_sid,
                   RecordingDownload.remote_deleted_at)
            .where(RecordingDownload.call_sid.in_(sid_chunk))
        ):  # fmt: skip
            if remote_deleted is not None:
                deleted.add(recording_sid)
            else:
                found.append((recording_sid, call_sid))
        for model in (CallRecording, Voicemail):
            found += [
                (recording_sid, call_sid)
                for recording_sid, call_sid in session.execute(
                    select(model.recording_sid, model.call_sid).where(
                        model.call_sid.in_(sid_chunk), model.recording_sid.is_not(None)
                    )
                )
            ]
    return [(rsid, csid) for rsid, csid in found if rsid not in deleted]


def _delete_prompts(cache_dir: Path, needles: Sequence[str]) -> int:
    """Synthesized prompts that say the person's name or number (``<key>.txt`` holds the
    text beside ``<key>.mp3``)."""
    if not cache_dir.is_dir():
        return 0
    deleted = 0
    for text_file in cache_dir.glob("*.txt"):
        try:
            spoken = text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if scrub(spoken, needles) != spoken:
            text_file.with_suffix(".mp3").unlink(missing_ok=True)
            text_file.unlink(missing_ok=True)
            deleted += 1
    return deleted


def _scrub_histories(
    session: Session, customer_id: int, numbers: Sequence[str], needles: Sequence[str]
) -> None:
    """Other customers' histories that mention one of the numbers (a number moved between
    records) lose it too."""
    if not numbers:
        return
    conditions = []
    for number in numbers:
        conditions += [CustomerChange.old_value.contains(number),
                       CustomerChange.new_value.contains(number)]  # fmt: skip
    for change in session.scalars(
        select(CustomerChange).where(CustomerChange.customer_id != customer_id, or_(*conditions))
    ):
        change.old_value = scrub(change.old_value, needles)
        change.new_value = scrub(change.new_value, needles)
