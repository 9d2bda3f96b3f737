"""The audit log: who did what, when, to which agent or call (pure domain).

Supervisors' actions are written here (``supervisor.monitor``, ``supervisor.move`` ...),
refused ones too with the reason, and admins' changes to agent accounts (``agent.add``,
``agent.edit`` with ``changes: {field: [old, new]}``, ``agent.deactivate`` ...; never a
password or its hash); admins read it through ``GET /api/audit``. Any other
action on someone else's work can be logged the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callcenter.models import Agent, AuditEntry

MAX_RESULTS = 500


def record(
    session: Session,
    actor: Agent | None,
    action: str,
    now: datetime,
    *,
    agent_id: int | None = None,
    call_sid: str | None = None,
    result: str = "ok",
    actor_name: str = "command line",
    **details: Any,
) -> AuditEntry:
    """Append one entry (the caller commits); `details` must be JSON values.

    Without an `actor` (the command line) the entry names `actor_name` instead.
    """
    entry = AuditEntry(
        at=now,
        actor_id=actor.id if actor is not None else None,
        actor=(actor.username if actor is not None else actor_name)[:64],
        action=action[:40],
        agent_id=agent_id,
        call_sid=call_sid[:64] if call_sid else None,
        result=result[:200],
        details={key: value for key, value in details.items() if value is not None},
    )
    session.add(entry)
    return entry


def entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    agent_id: int | None = None,
    call_sid: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries matching every filter given, newest first (`since` inclusive, `until` not);
    with `before` (an entry's id), only those listed after that entry (the next page).

    >>> [e.action for e in entries(session, call_sid="CA...")]
    ['supervisor.barge', 'supervisor.coach', 'supervisor.monitor']
    """
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    if actor:
        query = query.where(AuditEntry.actor == actor.strip().lower())
    if action:
        query = query.where(AuditEntry.action == action)
    if agent_id is not None:
        query = query.where(AuditEntry.agent_id == agent_id)
    if call_sid:
        query = query.where(AuditEntry.call_sid == call_sid)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before is not None:
        last = session.get(AuditEntry, before)
        if last is None:
            return []
        query = query.where(
            or_(AuditEntry.at < last.at, and_(AuditEntry.at == last.at, AuditEntry.id < last.id))
        )
    return list(session.scalars(query.limit(max(1, min(limit, MAX_RESULTS)))))


def usernames(session: Session, found: list[AuditEntry]) -> dict[int, str]:
    """The usernames of the agents `found` entries are about (their ``agent_id``)."""
    ids = {entry.agent_id for entry in found if entry.agent_id is not None}
    if not ids:
        return {}
    return dict(session.execute(select(Agent.id, Agent.username).where(Agent.id.in_(ids))).all())
