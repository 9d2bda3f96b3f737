"""Merging two records of the same person into one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from callcenter.care.models import Followup, Ticket
from callcenter.crm.models import CustomerChange
from callcenter.crm.records import CustomerError, get_customer, note_change
from callcenter.models import Agent, Call, CallRecording, Customer, CustomerPhone, Voicemail
from callcenter.supervision import audit


def merge_customers(
    session: Session, actor: Agent, keep_id: int, other_id: int, now: datetime
) -> Customer:
    """Move everything of customer `other_id` to `keep_id` and remove `other_id`.

    Phones, calls, recordings, tickets, voicemails and follow-ups move (knowledge articles
    sent follow their calls). The kept record's fields stay; its blank language, account
    code and notes are filled from the other, and the other's notes are appended. Both
    records' histories are kept on the survivor. One flush: the caller's commit makes it
    all or nothing.
    """
    if keep_id == other_id:
        raise CustomerError("a customer cannot be merged with itself", 409)
    # Lock both rows in id order, so two opposite merges cannot deadlock.
    first, second = sorted((keep_id, other_id))
    locked = {first: get_customer(session, first, lock=True)}
    locked[second] = get_customer(session, second, lock=True)
    keep, other = locked[keep_id], locked[other_id]

    moved_numbers = [phone.number for phone in other.phones]
    for phone in list(other.phones):
        other.phones.remove(phone)
    session.flush()
    for number in moved_numbers:
        keep.phones.append(CustomerPhone(number=number))
    for table in (Call, CallRecording, Voicemail, Ticket, Followup):
        session.execute(
            update(table)
            .where(table.customer_id == other.id)
            .values(customer_id=keep.id)
            .execution_options(synchronize_session=False)
        )
    if keep.language is None and other.language is not None:
        note_change(session, keep.id, actor, "language", None, other.language, now)
        keep.language = other.language
    code = other.account_code
    if other.notes:
        joined = f"{keep.notes}\n{other.notes}".strip()
        note_change(session, keep.id, actor, "notes", keep.notes, joined, now)
        keep.notes = joined
    if moved_numbers:
        old = ", ".join(p.number for p in keep.phones if p.number not in moved_numbers)
        new = ", ".join(p.number for p in keep.phones)
        note_change(session, keep.id, actor, "phones", old, new, now)
    # The other record's history comes along, and a line says where it came from.
    session.execute(
        update(CustomerChange)
        .where(CustomerChange.customer_id == other.id)
        .values(customer_id=keep.id)
        .execution_options(synchronize_session=False)
    )
    note_change(session, keep.id, actor, "merged", f"customer #{other.id}",
                f"customer #{keep.id}", now)  # fmt: skip
    audit.record(session, actor, "customer.merge", now, customer_id=keep.id, merged_id=other.id)
    session.delete(other)
    session.flush()
    if code is not None and keep.account_code is None:
        note_change(session, keep.id, actor, "account", None, code, now)
        keep.account_code = code
    keep.updated_at = now
    session.flush()
    return keep
