"""Writes the metric facts (see facts.py) where the things they describe happen.

- Agent status spans and call handles: :func:`presence_changed`, called by
  :func:`callcenter.people.agents.set_presence` (the one place an agent's status changes) just
  before the status moves on.
- Hold time: :func:`record_hold`, called by the console's hold handler.
- Survey scores: :func:`record_survey_score`, called when a caller rates a call.
- Repeat calls: each new inbound call (not one of our call-backs) is the next call
  (``Call.next_call_at``) of the earlier calls from its number, and takes its own from any
  later one already recorded (:func:`_record_repeat`, in the same listener as below).
- Queue entries: a ``before_flush`` listener watching the queue fields of calls
  (``enqueued_at``, ``dequeued_at``, ``outcome``, ``agent_id``...), so every path that puts
  a caller in a queue or takes them out (IVR, transfers, overflow, accept, hang-up, late
  status callbacks, call-backs, a supervisor moving a waiting caller to another queue) is
  recorded without each having to remember it.
- Fact stamps: every transaction that writes a queue entry or a handle bumps the revision
  of the 15-minute buckets it touched (:class:`FactStamp`, in ``before_commit``, in bucket
  order), so a reader in any process can tell which buckets' figures changed; likewise
  ``AGENTS_STAMP`` for a change to what the wallboard shows of an agent, and
  ``HANDLES_STAMP`` for any handle written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, event, func, inspect, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, UOWTransaction, object_session

from callcenter.metrics.facts import (
    AGENT_BOARD_COLUMNS,
    AGENTS_STAMP,
    HANDLES_STAMP,
    STAMPS_NOTED,
    AgentStatusSpan,
    CallHandle,
    FactStamp,
    QueueEntry,
    bucket_number,
    noted_stamps,
)
from callcenter.models import Agent, Call, utcnow

_CREATED = "callcenter.metrics.created_entries"


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


def _open_handle(session: Session, agent_id: int, call_sid: str | None) -> CallHandle | None:
    if call_sid is None:
        return None
    return session.scalar(
        select(CallHandle)
        .where(
            CallHandle.agent_id == agent_id,
            CallHandle.call_sid == call_sid,
            CallHandle.ended_at.is_(None),
            CallHandle.voided.is_(False),
        )
        .order_by(CallHandle.id.desc())
        .limit(1)
    )


def _latest_handle(session: Session, agent_id: int, call_sid: str) -> CallHandle | None:
    return session.scalar(
        select(CallHandle)
        .where(
            CallHandle.agent_id == agent_id,
            CallHandle.call_sid == call_sid,
            CallHandle.voided.is_(False),
        )
        .order_by(CallHandle.id.desc())
        .limit(1)
    )


_LATEST_ENTRY = (
    select(QueueEntry)
    .where(QueueEntry.call_sid == bindparam("sid"))
    .order_by(QueueEntry.id.desc())
    .limit(1)
)  # built once: a hang-up or a caller entering a queue reads it


def latest_entry(session: Session, call_sid: str) -> QueueEntry | None:
    """The call's latest queue entry: the one created or read earlier in this transaction
    (only this recorder adds entries), else read (once per transaction, not per change).
    Flush first to see the entry as the session's changes leave it."""
    known = session.info.get(_CREATED, {}).get(call_sid)
    if known is not None:
        return known  # type: ignore[no-any-return]
    latest = session.scalar(_LATEST_ENTRY, {"sid": call_sid})
    if latest is not None:
        session.info.setdefault(_CREATED, {})[call_sid] = latest
    return latest


def close_handle(handle: CallHandle, now: datetime) -> None:
    """End an agent's talk on a call: hold still running ends too."""
    if handle.hold_started_at is not None:
        handle.hold_seconds = (handle.hold_seconds or 0.0) + _seconds(handle.hold_started_at, now)
        handle.hold_started_at = None
    handle.ended_at = max(now, handle.started_at)
    handle.talk_seconds = max(
        0.0, _seconds(handle.started_at, handle.ended_at) - (handle.hold_seconds or 0.0)
    )


def presence_changed(agent: Agent, status: str, reason: str | None, now: datetime) -> None:
    """Record the end of the agent's current status (a span) and what it means for their
    part in a call: talk ends when they leave on-call, wrap-up time is added when they
    leave wrap-up, and a new handle starts when they go on-call for a call (not a consult).

    Called with the agent's row still showing the status being left.
    """
    session = object_session(agent)
    if session is None or agent.id is None:
        return
    since = agent.status_since or now
    call_sid = agent.current_call_sid
    with session.no_autoflush:
        session.add(
            AgentStatusSpan(
                agent_id=agent.id,
                status=agent.status,
                reason=agent.status_reason,
                call_sid=call_sid,
                started_at=min(since, now),
                ended_at=now,
                seconds=_seconds(since, now),
            )
        )
    with session.no_autoflush:
        if agent.status == "on-call":
            handle = _open_handle(session, agent.id, call_sid)
            if handle is not None:
                close_handle(handle, now)
        elif agent.status == "wrap-up" and call_sid is not None:
            handle = _latest_handle(session, agent.id, call_sid)
            if handle is not None:
                handle.wrapup_seconds = (handle.wrapup_seconds or 0.0) + _seconds(since, now)
        if status == "on-call" and reason is None and call_sid is not None:
            entry = latest_entry(session, call_sid)
            session.add(
                CallHandle(
                    call_sid=call_sid,
                    agent_id=agent.id,
                    entry_id=entry.id if entry is not None else None,
                    queue=entry.queue if entry is not None else None,
                    via="transfer" if agent.status == "on-call" else "queue",
                    started_at=now,
                    hold_seconds=0.0,
                    wrapup_seconds=0.0,
                    transferred_out=False,
                    voided=False,
                )
            )


def record_survey_score(session: Session, call: Call, score: int) -> None:
    """The caller rated the call: the score goes on the handle of the agent they rated
    (the call's agent, their latest part in it), so reports average it per queue and agent."""
    if call.agent_id is None:
        return
    handle = _latest_handle(session, call.agent_id, call.call_sid)
    if handle is not None:
        handle.csat = score


def record_hold(session: Session, call_sid: str, held: bool, now: datetime) -> None:
    """The agent put the caller on hold (`held`) or took them off it."""
    handle = session.scalar(
        select(CallHandle)
        .where(
            CallHandle.call_sid == call_sid,
            CallHandle.ended_at.is_(None),
            CallHandle.voided.is_(False),
        )
        .order_by(CallHandle.id.desc())
        .limit(1)
    )
    if handle is None:
        return
    if held and handle.hold_started_at is None:
        handle.hold_started_at = max(now, handle.started_at)
    elif not held and handle.hold_started_at is not None:
        handle.hold_seconds = (handle.hold_seconds or 0.0) + _seconds(handle.hold_started_at, now)
        handle.hold_started_at = None


# -- queue entries, from the changes made to calls ----------------------------------------


def _changed(call: Call, name: str) -> tuple[bool, Any]:
    """(changed, old value) of one attribute since the last flush."""
    history = inspect(call).attrs[name].history
    if not history.added and not history.deleted:
        return False, None
    old = history.deleted[0] if history.deleted else None
    new = history.added[0] if history.added else None
    return old != new, old


def _close_entry(entry: QueueEntry, call: Call) -> None:
    entry.left_at = call.dequeued_at
    entry.outcome = call.outcome
    entry.wait_seconds = call.queue_wait_seconds
    entry.agent_id = call.agent_id if call.outcome == "answered" else None


def _start_entry(session: Session, call: Call, new: bool, agent_changed: bool) -> None:
    assert call.enqueued_at is not None
    previous = latest_entry(session, call.call_sid)
    context = call.context or {}
    if new and (context.get("voicemail") is not None or context.get("followup") is not None):
        kind = "callback"
    elif new and call.direction == "outbound":
        return  # an agent's outbound call never waited in a queue: it is no queue entry
    elif previous is not None and previous.left_at is None:
        # Moved on without leaving (overflow after the maximum wait): that wait ends here.
        previous.left_at = call.enqueued_at
        previous.outcome = "overflow"
        previous.wait_seconds = int(_seconds(previous.entered_at, call.enqueued_at))
        kind = "overflow"
    elif agent_changed:
        kind = "transfer"
    else:
        kind = "inbound"
    entry = QueueEntry(
        call_sid=call.call_sid,
        queue=call.queue or "",
        kind=kind,
        entered_at=call.enqueued_at,
        callback_requested=False,
        voicemail=False,
    )
    session.add(entry)
    session.info.setdefault(_CREATED, {})[call.call_sid] = entry
    if call.dequeued_at is not None:
        _close_entry(entry, call)


_TRACKED = frozenset({"enqueued_at", "dequeued_at", "agent_id", "answered_at", "queue",
                      "queue_wait_seconds", "outcome"})  # fmt: skip
"""The call's attributes :func:`_track_call` looks at."""


def _track_call(session: Session, call: Call) -> None:
    new = call in session.new
    if not new and _TRACKED.isdisjoint(inspect(call).committed_state):
        # None of them set since the last flush (an attribute's history is read from the
        # same record): nothing below would see a change. Most flushes of a call (an IVR
        # step) are these.
        return
    enqueued, _ = _changed(call, "enqueued_at")
    dequeued, _ = _changed(call, "dequeued_at")
    agent_changed, old_agent = _changed(call, "agent_id")
    answered_changed, _ = _changed(call, "answered_at")
    if enqueued and call.enqueued_at is not None:
        _start_entry(session, call, new, agent_changed)
    elif dequeued:
        entry = latest_entry(session, call.call_sid)
        if entry is not None and call.dequeued_at is not None:
            _close_entry(entry, call)
        elif entry is not None:  # the accept was undone (bridge failed): waiting again
            entry.left_at = entry.outcome = entry.wait_seconds = entry.agent_id = None
    elif _changed(call, "queue")[0] and call.dequeued_at is None and call.queue:
        # Moved to another queue while waiting (a supervisor's move): the same wait, from
        # when it began, now counts in the queue that will answer it.
        entry = latest_entry(session, call.call_sid)
        if entry is not None and entry.left_at is None:
            entry.queue = call.queue
    elif _changed(call, "queue_wait_seconds")[0] and call.dequeued_at is not None:
        entry = latest_entry(session, call.call_sid)
        if entry is not None and entry.left_at is not None:
            entry.wait_seconds = call.queue_wait_seconds  # the queue's own count, later
    if _changed(call, "outcome")[0]:
        entry = latest_entry(session, call.call_sid)
        if entry is not None and call.outcome == "callback" and entry.kind != "callback":
            entry.callback_requested = True
        elif entry is not None and call.outcome == "voicemail":
            entry.voicemail = True
    if agent_changed and old_agent is not None:
        handle = _latest_handle(session, old_agent, call.call_sid)
        if handle is not None:
            if answered_changed and call.answered_at is None:
                handle.voided = True  # never connected: the caller waits again
            else:
                handle.transferred_out = True


def _record_repeat(session: Session, call: Call) -> None:
    """A new call from a number: the next call of the earlier ones from it (the earliest
    later call, whatever order they are written in), and its own next from later ones."""
    if not call.caller_number or (call.context or {}).get("callback"):
        return  # a withheld number, or our call-back: not the caller calling again
    # Core statements on the flush's connection: no ORM objects to keep in step with.
    connection = session.connection()
    values = {"number": call.caller_number, "started": call.started_at}
    connection.execute(_EARLIER_CALLS_NEXT, values)
    call.next_call_at = connection.scalar(_FIRST_LATER_CALL, values)


_CALLS = Call.__table__
_SAME_NUMBER = _CALLS.c.caller_number == bindparam("number")
_EARLIER_CALLS_NEXT = (
    update(_CALLS)
    .where(
        _SAME_NUMBER,
        _CALLS.c.started_at < bindparam("started"),
        or_(_CALLS.c.next_call_at.is_(None), _CALLS.c.next_call_at > bindparam("started")),
    )
    .values(next_call_at=bindparam("started"))
)
_FIRST_LATER_CALL = select(func.min(_CALLS.c.started_at)).where(
    _SAME_NUMBER,
    _CALLS.c.started_at > bindparam("started"),
    or_(_CALLS.c.context.is_(None), _CALLS.c.context["callback"].as_string().is_(None)),
)


@event.listens_for(Session, "before_flush")
def _record_queue_entries(session: Session, _context: Any, _instances: Any) -> None:
    calls = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Call)]
    if not calls:
        return
    with session.no_autoflush:
        for call in calls:
            if call in session.new:
                call.started_at = call.started_at or utcnow()
                _record_repeat(session, call)
            _track_call(session, call)


@event.listens_for(Session, "after_flush")
def _note_fact_writes(session: Session, _context: UOWTransaction) -> None:
    # After the flush, the session still lists what it flushed (new, dirty, deleted),
    # entries added by the before_flush listener above included.
    buckets: set[int] | None = None
    entry_ids: set[int] | None = None
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, (Agent, CallHandle)) and _board_change(session, obj):
            if buckets is None:
                buckets, entry_ids = noted_stamps(session)
            buckets.add(AGENTS_STAMP if isinstance(obj, Agent) else HANDLES_STAMP)
        if isinstance(obj, QueueEntry) and obj.entered_at is not None:
            if obj in session.dirty and not session.is_modified(obj):
                continue
            if buckets is None:
                buckets, entry_ids = noted_stamps(session)
            buckets.add(bucket_number(obj.entered_at))
        elif isinstance(obj, CallHandle) and obj.entry_id is not None:
            if obj in session.dirty and not session.is_modified(obj):
                continue
            if entry_ids is None:
                buckets, entry_ids = noted_stamps(session)
            entry_ids.add(obj.entry_id)


def _board_change(session: Session, obj: Agent | CallHandle) -> bool:
    """Whether a flushed agent or handle changed what the wallboard shows of it."""
    if obj not in session.dirty:
        return True  # added or deleted
    if isinstance(obj, CallHandle):
        return session.is_modified(obj)
    attrs = inspect(obj).attrs
    return any(attrs[name].history.has_changes() for name in AGENT_BOARD_COLUMNS)


@event.listens_for(Session, "before_commit")
def _stamp_facts(session: Session) -> None:
    """Bump the revision of every bucket whose facts this transaction changed, last thing
    before the commit (the stamps' row locks are held only until it), in bucket order (two
    transactions never wait on each other's stamps the other way round)."""
    session.flush()
    noted = session.info.pop(STAMPS_NOTED, None)
    if noted is None:
        return
    buckets, entry_ids = noted
    if entry_ids:
        entered = session.scalars(select(QueueEntry.entered_at).where(QueueEntry.id.in_(entry_ids)))
        buckets |= {bucket_number(moment) for moment in entered}
    if not buckets:
        return
    statement = _BUMP_STAMP["sqlite" if session.get_bind().dialect.name == "sqlite" else "pg"]
    # One row a statement, in bucket order; built once, so nothing is compiled per commit.
    session.connection().execute(statement, [{"bucket": b} for b in sorted(buckets)])


def _bump_stamp(dialect: Any) -> Any:
    """Insert a bucket's stamp at revision 1, or add one to the revision it has."""
    table = FactStamp.__table__
    return (
        dialect.insert(table)
        .values(bucket=bindparam("bucket"), revision=1)
        .on_conflict_do_update(
            index_elements=[table.c.bucket], set_={"revision": table.c.revision + 1}
        )
    )


_BUMP_STAMP = {"sqlite": _bump_stamp(sqlite), "pg": _bump_stamp(postgresql)}


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_created(session: Session) -> None:
    # (The stamps noted are kept after a rollback: a savepoint's rollback must not lose
    # the outer transaction's; at worst a later commit bumps a bucket for nothing.)
    session.info.pop(_CREATED, None)
