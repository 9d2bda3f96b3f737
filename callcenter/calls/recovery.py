"""Recovering from signals that never arrived (pure domain: takes a session, never commits).

Two kinds of ghosts: agents whose console died without closing (a crashed process, a
killed browser) still look available, and calls whose hang-up callback was lost (the
server was down, the database unwritable) still look queued, connected, on hold or in the
IVR. The first are found by their console heartbeat (`agents.console_seen_at`), the second
by asking Twilio's REST API: callers waiting past their queue's max_wait, and open calls
nothing has been heard of for a while (`quiet_open_calls`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from callcenter.calls.records import FINAL_STATUSES, log_event, record_status
from callcenter.calls.routing import Changes, agent_offline, call_finished, requeue
from callcenter.config import Settings
from callcenter.models import Agent, Call, CallEvent
from callcenter.people.agents import live_console_cutoff

# An open call nothing was heard of (no webhook, no event) for this long is checked with
# Twilio: a connected call legitimately goes minutes without a webhook, so not sooner.
LOST_CALL_QUIET_SECONDS = 300
# At most this many open calls are checked per pass (RECONCILE_SECONDS apart): REST calls
# stay bounded (~40 a minute) however many calls are up; the quietest are asked first.
LOST_CALL_CHECKS_PER_PASS = 20

# Statuses in which an agent without a live console is taken out of routing at once.
SILENT_TO_OFFLINE = ("available", "ringing", "away")


def drop_silent_consoles(session: Session, now: datetime) -> Changes:
    """Agents whose console heartbeat went stale are treated as if they closed it: an offer
    to them moves on (`agent left`) and an available, ringing or away agent goes offline.
    Agents on a call or in wrap-up keep their status (wrap-up then ends offline)."""
    cutoff = live_console_cutoff(now)
    changes = Changes()
    for agent in session.scalars(
        select(Agent)
        .where(
            Agent.status.in_(SILENT_TO_OFFLINE),
            or_(Agent.console_seen_at.is_(None), Agent.console_seen_at < cutoff),
        )
        .order_by(Agent.id)
    ).all():
        changes.merge(agent_offline(session, agent, now))
    return changes


def overdue_waiting_calls(
    session: Session, settings: Settings, now: datetime, limit: int = 50
) -> list[str]:
    """SIDs of callers still waiting on the line past their queue's `max_wait` (their
    hold loop would have let them go by then: probably a lost hang-up), oldest first."""
    overdue = [
        and_(Call.queue == name, Call.enqueued_at < now - timedelta(seconds=queue.max_wait))
        for name, queue in settings.queues.items()
    ]
    if not overdue:
        return []
    return list(
        session.scalars(
            select(Call.call_sid)
            .where(
                Call.outcome == "queued",
                Call.dequeued_at.is_(None),
                Call.ended_at.is_(None),
                or_(*overdue),
            )
            .order_by(Call.enqueued_at, Call.id)
            .limit(limit)
        )
    )


def quiet_open_calls(
    session: Session,
    now: datetime,
    quiet_seconds: int = LOST_CALL_QUIET_SECONDS,
    limit: int = LOST_CALL_CHECKS_PER_PASS,
) -> list[tuple[str, datetime]]:
    """(SID, when last heard of) of inbound calls not ended and not waiting in a queue (in
    the IVR, ringing or connected to an agent, on hold, in a consult or transfer, in the
    survey) that nothing was heard of for `quiet_seconds`, quietest first: their hang-up
    may have been lost.
    A check that finds a call still up counts as news of it (`note_still_up`), so each is
    asked about at most once per `quiet_seconds`. Waiting callers are
    `overdue_waiting_calls`'; call-backs we dial have no Twilio call of their own SID."""
    # Typed as the columns are, so SQLite's stored text comes back as an aware datetime.
    heard = func.coalesce(func.max(CallEvent.at), Call.started_at, type_=CallEvent.at.type)
    return [
        (call_sid, last_heard)
        for call_sid, last_heard in session.execute(
            select(Call.call_sid, heard)
            .outerjoin(CallEvent, CallEvent.call_sid == Call.call_sid)
            .where(
                Call.ended_at.is_(None),
                Call.direction == "inbound",
                Call.status.not_in(FINAL_STATUSES),
                or_(Call.outcome.is_(None), Call.outcome.not_in(("queued", "callback"))),
            )
            .group_by(Call.id, Call.call_sid, Call.started_at)
            .having(heard < now - timedelta(seconds=quiet_seconds))
            .order_by(heard, Call.id)
            .limit(limit)
        )
    ]


def lost_call_end(
    started_at: datetime, duration: int | None, last_heard: datetime, now: datetime
) -> datetime:
    """When a call whose hang-up was lost most likely ended: at its start plus the
    duration Twilio gives, else when it was last heard of; never after `now`. (Ending it
    when the loss was found would count hours of a ghost call as talk time.)"""
    if duration is not None:
        return min(now, started_at + timedelta(seconds=duration))
    return min(now, last_heard)


def note_still_up(session: Session, call_sid: str, status: str) -> None:
    """Twilio says a quiet open call is still going on (`status`): noted, so it is not
    asked about again before `LOST_CALL_QUIET_SECONDS` more of quiet."""
    log_event(session, call_sid, "call.still_up", status=status)


def end_lost_call(
    session: Session,
    settings: Settings,
    call_sid: str,
    status: str,
    duration: int | None,
    now: datetime,
) -> Changes:
    """Twilio says a call is over (`status`, final) though its status callback never
    reached us: record it as the callback would have (a waiting caller abandoned, offers
    withdrawn, the agent to wrap-up, a consult ended). Nothing if it ended meanwhile (the
    callback arriving later then changes nothing more) or the caller awaits a call-back."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    if call is None or call.ended_at is not None or call.outcome == "callback":
        return Changes()
    if status not in FINAL_STATUSES:
        raise ValueError(f"not a final call status: {status!r}")
    log_event(session, call_sid, "call.lost_hangup", status=status, queue=call.queue)
    record_status(session, call, status, duration, now)
    return call_finished(session, settings, call, now).merge(Changes(calls={call_sid}))


def caller_gone(
    session: Session, settings: Settings, call_sid: str, agent_id: int, now: datetime
) -> Changes:
    """An accepted call could not be bridged because the caller's call is over (Twilio:
    "call is not in-progress", or unknown): end it instead of putting it back in line.
    The agent, who never talked to them, is available again."""
    changes = requeue(session, call_sid, agent_id, now)
    return changes.merge(end_lost_call(session, settings, call_sid, "completed", None, now))
