"""Automatic call distribution: offers, accepts, declines, wrap-up (pure domain).

Every function takes a session and changes rows only; the caller commits (except
`offer_waiting`, the dispatcher's loop of offers, given what opens its transactions).
Assignment is
safe with several processes: on PostgreSQL the call and agent rows are locked
(`FOR UPDATE SKIP LOCKED`), on SQLite every write transaction is exclusive (BEGIN
IMMEDIATE), so a call is never offered twice at once and never accepted by two agents.
Each offer (`offer_call`) re-checks the call and the agent in its own transaction, so a
dispatcher may commit every offer on its own and hold the write lock only that long.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Text, bindparam, cast, or_, select, text, update
from sqlalchemy.orm import Session

from callcenter.calls.changes import Changes, RoutingError
from callcenter.calls.participants import caller_leg
from callcenter.calls.queues import WAITING, waiting_calls
from callcenter.calls.records import log_event, mark_left_queue
from callcenter.calls.wrapups import agent_left, hand_off, release_wrapups, start_wrapup
from callcenter.calls.wrapups import wrap_up as wrap_up  # re-exported: callers import it here
from callcenter.config import QueueConfig, Settings
from callcenter.messages import N_
from callcenter.models import Agent, Call, CallOffer
from callcenter.people.agents import has_live_console, live_console_cutoff, set_presence

OPEN = "offered"


RING_ALL_LIMIT = 50
DISPATCH_LOCK = 0x63616C6C  # any constant shared by every process of this app
# An agent whose browser softphone cannot ring is not offered calls (`Agent.can_ring`).
OFFER_ATTEMPTS = 3  # one call's agents read again while all those read were taken meanwhile
ANYONE_AVAILABLE = select(Agent.id).where(Agent.status == "available", Agent.can_ring).limit(1)


CALL_ENDED: list[Callable[[Session, Settings, Call, datetime], Changes]] = []
"""What the features above calls do when a call ends (e.g. a follow-up for a caller we
missed, registered by :mod:`callcenter.care.followups`): each is given the session, the
settings, the call and the time, and returns what it changed."""


def _locking(session: Session, statement: Select[Any]) -> Select[Any]:
    """`statement` locking its rows (PostgreSQL), and always refreshing the objects already
    in the session: a row read before the lock (the waiting calls) may have changed since
    (another process's accept), and the checks after the lock must see that."""
    statement = statement.execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


_OFFERS = CallOffer.__table__
_OPEN_OFFERS = select(_OFFERS.c.id).where(_OFFERS.c.call_sid == bindparam("sid"),
                                          _OFFERS.c.status == OPEN)  # fmt: skip


def _open_offers(session: Session, call_sid: str) -> list[CallOffer]:
    # Usually none (every hang-up and dispatch asks): their ids first, on the connection.
    session.flush()  # as the ORM's autoflush would: this transaction's offers count
    ids = session.connection().execute(_OPEN_OFFERS, {"sid": call_sid}).scalars().all()
    if not ids:
        return []
    return list(session.scalars(select(CallOffer).where(CallOffer.id.in_(ids)).order_by("id")))


def candidates(
    session: Session, call: Call, queue: QueueConfig, limit: int, console_cutoff: datetime
) -> list[int]:
    """Ids of available agents with a live console (heartbeat at or after `console_cutoff`)
    that can ring (`Agent.can_ring`), the queue's skills and the caller's language, best first.

    Filtering and ordering happen in the database (skills and languages are JSON lists,
    matched as text), so a pass costs the same with ten agents logged in or a thousand.
    """
    skills_text = cast(Agent.skills, Text)
    languages_text = cast(Agent.languages, Text)
    order = (
        (Agent.last_offer_at.asc().nulls_first(), Agent.id)
        if queue.strategy == "round-robin"
        else (Agent.idle_since.asc().nulls_first(), Agent.id)  # longest idle first
    )
    statement = (
        select(Agent.id)
        .where(
            Agent.status == "available",
            Agent.active.is_(True),
            Agent.console_seen_at >= console_cutoff,
            Agent.can_ring,  # not a browser softphone that said it cannot ring
            *[skills_text.contains(f'"{skill}"', autoescape=True) for skill in queue.skills],
            or_(languages_text == "[]", languages_text.contains(f'"{call.language}"',
                                                                 autoescape=True)),
        )
        .order_by(*order)
        .limit(limit)
    )  # fmt: skip
    return list(session.scalars(statement))


def _preferred(
    session: Session, call: Call, queue: QueueConfig, now: datetime, console_cutoff: datetime
) -> Agent | None:
    """The agent a call was transferred to, else the caller's account manager, while their
    exclusive window lasts and they are reachable (not offline or away, console live, a
    softphone that can ring)."""
    manager: Agent | None = None
    if call.transfer_agent_id is not None:
        manager = session.get(Agent, call.transfer_agent_id)
    elif call.customer is not None:
        manager = call.customer.account_manager
    if manager is None or not manager.active or manager.status in ("offline", "away"):
        return None
    if not has_live_console(manager, console_cutoff) or not manager.can_ring:
        return None
    waited = (now - call.enqueued_at).total_seconds() if call.enqueued_at else 0
    return manager if waited < queue.preferred_agent_seconds else None


def offer_order(session: Session, settings: Settings, limit: int = 100) -> list[int]:
    """Ids of the calls waiting to be offered, in the order they are served: all queues
    together, highest priority first, then longest waiting (so an agent with several skills
    always gets the call that should be served first); none while nobody is available.

    A read: a dispatcher pass then reads each one's agents (`offer_candidates`) and makes
    its offer in a short write transaction of its own (`offer_call`), so webhooks can
    write between two offers of one pass.
    """
    if not anyone_available(session):
        return []  # nobody to offer to: nothing else to look at
    ids = waiting_calls(settings.queues).with_only_columns(Call.id).limit(limit)
    return list(session.scalars(ids))


def anyone_available(session: Session) -> bool:
    """Whether any agent is available and can ring (after an offer: else the callers behind
    only wait)."""
    return session.scalar(ANYONE_AVAILABLE) is not None


def offer_candidates(
    session: Session, settings: Settings, call_id: int, now: datetime,
    consoles_since: datetime | None = None,
) -> list[int]:  # fmt: skip
    """The agents to offer a call to, best first (a read, before `offer_call`): the agent it
    was transferred to or the caller's account manager while their window lasts, else
    available agents with the queue's skills, a few in case one is taken meanwhile
    (ring-all: everyone). None if the call no longer waits for an offer. Only agents with a
    live console count; `consoles_since` (the dispatching process's start) discounts
    heartbeats written before it (see `live_console_cutoff`)."""
    call = session.get(Call, call_id)
    if call is None or call.outcome not in WAITING or call.agent_id is not None:
        return []
    queue = settings.queues.get(call.queue or "")
    if queue is None or _open_offers(session, call.call_sid):
        return []
    console_cutoff = live_console_cutoff(now, consoles_since)
    manager = _preferred(session, call, queue, now, console_cutoff)
    if manager is not None:
        return [manager.id] if manager.status == "available" else []
    wanted = RING_ALL_LIMIT if queue.strategy == "ring-all" else 3
    return candidates(session, call, queue, wanted, console_cutoff)


def offer_call(
    session: Session, settings: Settings, call_id: int, agent_ids: list[int], now: datetime
) -> Changes:
    """Offer a call to the first of `agent_ids` still available (ring-all: to each).

    Everything is checked again here, under lock, as the offer is made: the call still
    waits, unassigned, with no offer out, and each agent is still available, active and
    able to ring (a softphone that reported itself unreachable meanwhile); so this is
    the whole write of one offer, and may be its own short transaction. No offer (an empty
    `offers`) if the call was taken or all these agents were, meanwhile.
    """
    if session.get_bind().dialect.name == "postgresql":
        # One offer at a time across processes (each dispatcher offers the calls in the
        # order they are served); accepts, declines and webhooks are not held up by it.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DISPATCH_LOCK})
    changes = Changes()
    call = session.scalar(_locking(session, select(Call).where(Call.id == call_id)))
    if call is None or call.outcome not in WAITING or call.agent_id is not None:
        return changes
    queue = settings.queues.get(call.queue or "")
    if queue is None or _open_offers(session, call.call_sid):
        return changes
    for agent_id in agent_ids:
        locked = session.scalar(
            _locking(
                session,
                select(Agent).where(
                    Agent.id == agent_id,
                    Agent.status == "available",
                    Agent.active.is_(True),
                    Agent.can_ring,
                ),
            )
        )
        if locked is None:
            continue
        _offer(session, call, locked, queue, now, changes)
        if queue.strategy != "ring-all":
            break
    return changes


Transaction = Callable[[], AbstractContextManager[Session]]
"""Opens a session for one transaction (a read, or a write its runner commits on exit)."""


def offer_waiting(
    read: Transaction,
    write: Transaction,
    settings: Settings,
    clock: Callable[[], datetime],
    consoles_since: datetime | None = None,
    prepare: Callable[[Session, int], Any] = lambda session, call_id: None,
    announce: Callable[[Changes, Any], None] = lambda changes, prepared: None,
    limit: int = 100,
) -> Changes:
    """The dispatcher's offers: the waiting calls in the order they are served
    (`offer_order`), each offered to its best available agents (`offer_candidates`,
    `offer_call`) in a write transaction of its own, so others write in between; each
    offer is `announce`d once its transaction is over. If every agent read for a call was
    taken meanwhile, they are read again (`OFFER_ATTEMPTS`): a caller is not skipped, out
    of turn, for a race it lost. Stops once nobody is available. Returns every change.

    `read` and `write` open the sessions (the dispatcher: short transactions, each write
    committed; a test may give one session for all); `clock` is read at each step.
    `prepare(session, call_id)` is read with a call's agents, before its offer is written
    (the screen-pop), and `announce` is given it with the offer's changes."""
    with read() as session:
        order = offer_order(session, settings, limit)
    changes = Changes()
    for call_id in order:
        offered, prepared, read_yet = Changes(), None, False
        for _attempt in range(OFFER_ATTEMPTS):
            with read() as session:
                agent_ids = offer_candidates(session, settings, call_id, clock(), consoles_since)
                if not agent_ids:
                    break
                if not read_yet:  # once a call: it does not depend on the agents chosen
                    prepared, read_yet = prepare(session, call_id), True
            with write() as session:
                offered = offer_call(session, settings, call_id, agent_ids, clock())
            if offered.offers:
                break
        announce(offered, prepared)
        changes.merge(offered)
        if offered.offers:
            with read() as session:
                if not anyone_available(session):
                    break  # every agent is taken: the callers behind can only wait
    return changes


def _offer(
    session: Session, call: Call, agent: Agent, queue: QueueConfig, now: datetime, changes: Changes
) -> None:
    expires_at = now + timedelta(seconds=queue.offer_timeout)
    session.add(
        CallOffer(
            call_sid=call.call_sid,
            agent_id=agent.id,
            status=OPEN,
            offered_at=now,
            expires_at=expires_at,
        )
    )
    set_presence(agent, "ringing", now)
    agent.current_call_sid = call.call_sid
    agent.last_offer_at = now
    log_event(session, call.call_sid, "agent.offered", agent=agent.username, queue=call.queue)
    changes.offers.append((agent.id, call.call_sid))
    changes.offer_expiries[agent.id, call.call_sid] = expires_at
    changes.agents.add(agent.id)
    changes.calls.add(call.call_sid)


def accept(session: Session, agent_id: int, call_sid: str, now: datetime) -> Changes:
    """The agent takes the call. Exactly one agent can win; others' offers are withdrawn."""
    # Lock the call first: concurrent accepts of one call queue up here, so the winner can
    # close the other offers without deadlocking against them.
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    offer = session.scalar(
        select(CallOffer)
        .where(
            CallOffer.call_sid == call_sid,
            CallOffer.agent_id == agent_id,
            CallOffer.status == OPEN,
        )
        .with_for_update()
    )
    if offer is None or offer.expires_at <= now:
        raise RoutingError(N_("this call is no longer offered to you"))
    if call is None or call.agent_id is not None or call.outcome not in WAITING:
        raise RoutingError(N_("this call was taken or has ended"))
    agent = session.get(Agent, agent_id)
    assert agent is not None
    # The guarded update is what makes the win exclusive across processes.
    won = session.execute(
        update(CallOffer)
        .where(CallOffer.id == offer.id, CallOffer.status == OPEN)
        .values(status="accepted", closed_at=now)
    ).rowcount
    if won != 1:
        raise RoutingError(N_("this call is no longer offered to you"))
    session.expire(offer)
    call.agent_id = agent.id
    call.transfer_agent_id = None
    call.answered_at = now
    mark_left_queue(call, "answered", now)
    set_presence(agent, "on-call", now)
    agent.current_call_sid = call_sid
    log_event(session, call_sid, "agent.accepted", agent=agent.username, number=agent.agent_number)
    changes = Changes(agents={agent.id}, calls={call_sid})
    return changes.merge(_close_open_offers(session, call_sid, "taken", now, to_status="available"))


def decline(
    session: Session, agent_id: int, call_sid: str, now: datetime, reason: str = "declined"
) -> Changes:
    """The agent refuses the offer: the call goes to the next agent, the agent goes away."""
    offer = session.scalar(
        select(CallOffer)
        .where(
            CallOffer.call_sid == call_sid,
            CallOffer.agent_id == agent_id,
            CallOffer.status == OPEN,
        )
        .with_for_update()
    )
    if offer is None:
        raise RoutingError(N_("this call is no longer offered to you"))
    return _close_offer(session, offer, "declined", reason, now)


def _close_offer(
    session: Session, offer: CallOffer, status: str, reason: str, now: datetime,
    to_status: str = "away",
) -> Changes:  # fmt: skip
    offer.status = status
    offer.reason = reason
    offer.closed_at = now
    agent = session.get(Agent, offer.agent_id)
    changes = Changes(withdrawn=[(offer.agent_id, offer.call_sid, reason)], calls={offer.call_sid})
    if agent is not None and agent.current_call_sid == offer.call_sid and agent.status == "ringing":
        away_reason = {"declined": "declined a call", "expired": "missed a call"}.get(status)
        set_presence(agent, to_status, now, away_reason if to_status == "away" else None)
        changes.agents.add(agent.id)
    log_event(session, offer.call_sid, f"agent.{status}", agent_id=offer.agent_id, reason=reason)
    return changes


def _close_open_offers(
    session: Session, call_sid: str, reason: str, now: datetime, to_status: str
) -> Changes:
    changes = Changes()
    for offer in _open_offers(session, call_sid):
        changes.merge(_close_offer(session, offer, "withdrawn", reason, now, to_status))
    return changes


def expire_offers(session: Session, now: datetime) -> Changes:
    """Offers nobody answered in time: the agent goes away, the call moves on. Each offer
    expires once across processes: its row is locked, and one another process is already
    expiring is skipped (PostgreSQL; SQLite's write transactions are exclusive)."""
    changes = Changes()
    due = select(CallOffer).where(CallOffer.status == OPEN, CallOffer.expires_at <= now)
    for offer in session.scalars(_locking(session, due)).all():
        changes.merge(_close_offer(session, offer, "expired", "no answer", now))
    return changes


def call_left_queue(session: Session, call_sid: str, now: datetime) -> Changes:
    """The caller hung up or left the queue: offers made are withdrawn (the agents stay
    available), and the queue's count changed, offered or not."""
    changes = _close_open_offers(session, call_sid, "caller left", now, to_status="available")
    changes.calls.add(call_sid)
    return changes


def call_finished(session: Session, settings: Settings, call: Call, now: datetime) -> Changes:
    """The call ended: its agent goes to wrap-up (timed per queue), a consult ends, and a
    caller we missed (abandoned, cut off) gets a follow-up."""
    changes = call_left_queue(session, call.call_sid, now)
    changes.participants.add(call.call_sid)
    for hook in CALL_ENDED:
        changes.merge(hook(session, settings, call, now))
    if (call.context or {}).get("consult"):
        changes.merge(end_consult(session, call, "caller left", now))
    return changes.merge(agent_left(session, settings, call, now))


def withdraw_agent_offers(
    session: Session, agent: Agent, reason: str, now: datetime, to_status: str
) -> Changes:
    """The agent's ringing offers are withdrawn (each call moves on); they go `to_status`."""
    changes = Changes(agents={agent.id})
    for offer in session.scalars(
        select(CallOffer).where(CallOffer.agent_id == agent.id, CallOffer.status == OPEN)
    ).all():
        changes.merge(_close_offer(session, offer, "withdrawn", reason, now, to_status))
    return changes


def withdraw_call_offers(session: Session, call_sid: str, reason: str, now: datetime) -> Changes:
    """Offers of this call are withdrawn (the agents ringing stay available)."""
    return _close_open_offers(session, call_sid, reason, now, to_status="available")


def agent_offline(session: Session, agent: Agent, now: datetime) -> Changes:
    """The console closed: withdraw the agent's offers (the call moves on), go offline."""
    changes = withdraw_agent_offers(session, agent, "agent left", now, "offline")
    if agent.status in ("available", "ringing", "away"):
        set_presence(agent, "offline", now)
    return changes


def upkeep(session: Session, now: datetime) -> Changes:
    """Expire offers nobody answered, end wrap-ups that are over (the first steps of a pass)."""
    return expire_offers(session, now).merge(release_wrapups(session, now))


def requeue(session: Session, call_sid: str, agent_id: int, now: datetime) -> Changes:
    """Undo an accept whose bridge failed: the caller waits again, the agent is available.

    An agent's own outbound call (callcenter.calls.outbound) has nobody waiting: it ends,
    `failed`, and is never offered to anyone else."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    changes = Changes(agents={agent_id}, calls={call_sid})
    if call is not None and call.ended_at is None and (call.context or {}).get("outbound"):
        call.outcome = "failed"
        call.status = "failed"
        call.ended_at = now
        log_event(session, call_sid, "agent.bridge_failed", agent_id=agent_id)
    elif call is not None and call.agent_id == agent_id and call.ended_at is None:
        call.agent_id = None
        call.answered_at = None
        call.outcome = "callback" if callback_pending(call) else "queued"
        call.dequeued_at = None
        call.queue_wait_seconds = None
        log_event(session, call_sid, "agent.bridge_failed", agent_id=agent_id)
    agent = session.get(Agent, agent_id)
    if agent is not None and agent.current_call_sid == call_sid:
        set_presence(agent, "available", now)
    return changes


def _transfer_back_to_queue(
    session: Session, settings: Settings, call: Call, now: datetime, queue: str
) -> Changes:
    """The caller waits again (keeping their priority); their agent goes to wrap-up."""
    changes = Changes(calls={call.call_sid})
    if call.agent_id is not None:
        hand_off(call, call.agent_id)
        agent = session.get(Agent, call.agent_id)
        if agent is not None and agent.current_call_sid == call.call_sid:
            start_wrapup(settings, agent, call, now)
            changes.agents.add(agent.id)
    call.queue = queue
    call.agent_id = None
    call.agent_leg_sid = None
    call.outcome = "queued"
    call.enqueued_at = now
    call.dequeued_at = None
    return changes


def transfer(
    session: Session,
    settings: Settings,
    agent_id: int,
    call_sid: str,
    now: datetime,
    *,
    queue: str | None = None,
    to_agent: int | None = None,
) -> Changes:
    """Cold transfer: the caller goes back to a queue, or to one agent first."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    if call is None or call.agent_id != agent_id or call.ended_at is not None:
        raise RoutingError(N_("this is not your call"))
    if (queue is None) == (to_agent is None):
        raise RoutingError(N_("transfer to a queue or to an agent"))
    target_queue = queue or call.queue or ""
    if target_queue not in settings.queues:
        raise RoutingError(N_("no queue named {queue}"), queue=repr(target_queue))
    context = call.context or {}
    if context.get("callback") and caller_leg(call) not in context.get("legs", {}):
        # Their leg has never joined the call (it may still be ringing): nobody to move yet.
        raise RoutingError(N_("the customer has not answered yet: transfer once you are talking"))
    if to_agent is not None:
        target = session.get(Agent, to_agent)
        if target is None or not target.active or to_agent == agent_id:
            raise RoutingError(N_("no such agent to transfer to"))
        if target.status in ("offline", "away"):
            raise RoutingError(
                N_("{name} is {status}"), name=target.display_name, status=target.status
            )
    changes = _transfer_back_to_queue(session, settings, call, now, target_queue)
    call.transfer_agent_id = to_agent
    log_event(session, call_sid, "agent.transferred", agent_id=agent_id, queue=target_queue,
              to_agent=to_agent)  # fmt: skip
    return changes


def callback_pending(call: Call) -> bool:
    """A call-back whose customer has not been dialed yet: accepting it dials them.

    Once their leg is placed (`context["caller_leg"]`) it is a live call like any other:
    a transfer moves that same leg, an accept bridges it, and it is never dialed again
    (if it ends, the call ends: :func:`callcenter.calls.callbacks.callback_ended`).
    """
    context = call.context or {}
    return bool(context.get("callback")) and not context.get("caller_leg")


def end_consult(session: Session, call: Call, status: str, now: datetime) -> Changes:
    """A warm transfer ends without a hand-over (declined, no answer, cancelled, the caller
    left...): the consulted agent is available again; both agents hear `status`."""
    context = dict(call.context or {})
    consult = context.pop("consult", None) or {}
    context.pop("consult_leg", None)
    call.context = context
    target_id = call.transfer_agent_id or consult.get("to")
    call.transfer_agent_id = None
    changes = Changes(calls={call.call_sid}, participants={call.call_sid})
    if target_id is None:
        return changes
    target = session.get(Agent, target_id)
    if target is not None and target.current_call_sid == call.call_sid and target.status in (
        "ringing", "on-call",
    ):  # fmt: skip
        set_presence(target, "available", now)
        changes.agents.add(target.id)
    changes.consults.append((call.call_sid, consult.get("from") or 0, target_id, status))
    log_event(session, call.call_sid, "agent.consult_ended", to_agent=target_id, status=status)
    return changes


def unanswered_bridges(session: Session) -> list[Call]:
    """Accepted calls whose agent leg was never answered (flagged by its status callback)."""
    active = session.scalars(
        select(Call).where(
            Call.agent_id.is_not(None), Call.ended_at.is_(None), Call.outcome == "answered"
        )
    ).all()
    return [call for call in active if (call.context or {}).get("agent_leg_failed")]


def agent_missed_bridge(session: Session, call_sid: str, now: datetime) -> Changes:
    """After the caller was moved back to the queue: the agent who never answered goes away."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid).with_for_update())
    if call is None or call.agent_id is None:
        return Changes()
    agent_id = call.agent_id
    changes = requeue(session, call_sid, agent_id, now)
    context = dict(call.context or {})
    context.pop("agent_leg_failed", None)
    call.context = context
    agent = session.get(Agent, agent_id)
    if agent is not None:
        set_presence(agent, "away", now, "missed a call")
    return changes
