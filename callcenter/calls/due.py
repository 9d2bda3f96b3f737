"""Whether a dispatcher pass has anything to do, asked in one short read (pure domain).

A pass writes: on SQLite it takes the database's one write lock, which every webhook then
waits for. Most passes under churn find nothing to do; this read lets them skip the write
altogether, and a pass with only offers to make skip its upkeep's write. It answers True
whenever a step of the pass (`recovery.drop_silent_consoles`, `routing.upkeep`,
`consults.expire_consults`; `routing.offer_call`) could change something, so skipping on
False never skips work; something that becomes due just after it is read wakes the next pass
(every committed routing change does) or waits for the timed one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from callcenter.calls.queues import WAITING
from callcenter.calls.recovery import SILENT_TO_OFFLINE
from callcenter.calls.routing import OPEN
from callcenter.models import Agent, Call, CallOffer
from callcenter.people.agents import live_console_cutoff


def pass_due(session: Session, queues: list[str], now: datetime) -> tuple[bool, bool]:
    """What a dispatcher pass at `now` may have to do in these queues, in one query, each of
    its tests on an indexed column: (upkeep, offers). Upkeep: an offer expired, a wrap-up
    over, a silent console to drop, a consult under way (or a transfer to one agent).
    Offers: a caller waiting while an agent is available who can ring (`Agent.can_ring`).
    (False, False): nothing."""
    silent = or_(Agent.console_seen_at.is_(None), Agent.console_seen_at < live_console_cutoff(now))
    checks = [
        select(CallOffer.id).where(CallOffer.status == OPEN, CallOffer.expires_at <= now),
        select(Agent.id).where(Agent.status == "wrap-up", Agent.wrapup_until <= now),
        select(Agent.id).where(Agent.status.in_(SILENT_TO_OFFLINE), silent),
        select(Call.id).where(Call.transfer_agent_id.is_not(None), Call.ended_at.is_(None)),
    ]
    offer = and_(
        select(Agent.id).where(Agent.status == "available", Agent.can_ring).exists(),
        select(Call.id)
        .where(Call.queue.in_(queues), Call.outcome.in_(WAITING), Call.dequeued_at.is_(None))
        .exists(),
    )
    row = session.execute(select(or_(*(check.exists() for check in checks)), offer)).one()
    return bool(row[0]), bool(row[1])
