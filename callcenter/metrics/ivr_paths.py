"""Writes the IVR path facts (:class:`~callcenter.metrics.facts.IvrVisit`): each caller's
stays at IVR nodes and the moves between them, from the IVR's step events.

Every step the IVR takes is logged as a call event (``ivr.node`` when a caller comes to a
node; ``ivr.input``, ``ivr.no_input``, ``ivr.retries_exhausted`` and ``ivr.lookup`` for
what happens there); :func:`record_steps` is handed those events by the event log's writer
(:mod:`callcenter.calls.records`) in the transaction that writes them, so the facts are
exactly as current as the log. How a caller left a node is the stay's latest step when the
next ``ivr.node`` comes: the same pairing of each ``ivr.node`` with the step event just
before it in its call that the IVR report used to compute from the log. Each stay points at
its way (:class:`~callcenter.metrics.facts.IvrWay`: the node and how it was left), which
:func:`assign_ways` keeps current as the steps are written.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.event import listens_for
from sqlalchemy.orm import Session

from callcenter.metrics.facts import IvrVisit, IvrWay
from callcenter.models import Call

STEP_KINDS = ("ivr.node", "ivr.input", "ivr.retries_exhausted", "ivr.no_input", "ivr.lookup")
"""The call events that make up a caller's path through the IVR."""


VISIT_COLUMNS = tuple(c.key for c in IvrVisit.__table__.columns if c.key != "id")
"""The columns of a stay (:class:`~callcenter.metrics.facts.IvrVisit`) but its id."""


class Stay:
    """A stay as plain attributes (those of :class:`~callcenter.metrics.facts.IvrVisit`),
    for the event log's writer: read and written with Core statements, no ORM objects."""

    __slots__ = ("id", *VISIT_COLUMNS)

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    def values(self) -> tuple[Any, ...]:
        """The stay's columns, in the order of :data:`VISIT_COLUMNS`."""
        return tuple(getattr(self, name) for name in VISIT_COLUMNS)


def _new_visit(
    visits: list[Any],
    event: Mapping[str, Any],
    started_at: datetime,
    arrived: bool,
    make: Callable[..., Any],
) -> Any:
    flow, node = event["flow"] or "", event["node"] or ""
    previous = visits[-1] if visits else None
    seen = any(v.first_arrival and (v.flow, v.node) == (flow, node) for v in visits)
    visit = make(
        call_sid=event["call_sid"],
        call_started_at=started_at,
        flow=flow,
        node=node,
        entered_at=event["at"],
        first_arrival=arrived and not seen,
        # A stay begun by an answer (not an arrival) remembers the step before it.
        last_kind="ivr.node" if arrived else (previous.last_kind if previous else None),
        timeouts=0,
        invalid=0,
        is_current=True,
    )
    if previous is not None:
        previous.is_current = False
    visits.append(visit)
    return visit


def advance(
    visits: list[Any],
    event: Mapping[str, Any],
    started_at: datetime,
    make: Callable[..., Any] = IvrVisit,
) -> None:
    """Apply one step event (a call event row: ``call_sid``, ``kind``, ``flow``, ``node``,
    ``input``, ``detail``, ``at``) to the call's stays so far (`visits`, oldest first,
    changed in place; a new stay, made by `make` (:class:`IvrVisit`, :class:`Stay`), is
    appended)."""
    kind = event["kind"]
    current = visits[-1] if visits else None
    if kind == "ivr.node":
        if current is not None:
            current.to_flow, current.to_node = event["flow"], event["node"]
            if current.last_kind == "ivr.input":
                current.invalid -= 1  # the answer moved the caller on: not refused
        _new_visit(visits, event, started_at, True, make)
        return
    if current is None or (current.flow, current.node) != (event["flow"], event["node"]):
        current = _new_visit(visits, event, started_at, False, make)
    detail = event.get("detail") or {}
    current.before_kind, current.last_kind = current.last_kind, kind
    text = event.get("input")
    current.last_via = detail.get("via") if kind == "ivr.input" else None
    current.last_digit = text[:1] if kind == "ivr.input" and text else None
    current.last_found = bool(detail.get("found")) if kind == "ivr.lookup" else None
    if kind == "ivr.no_input":
        current.timeouts += 1
    elif kind == "ivr.input":
        current.invalid += 1  # until the next step shows it moved the caller on


def visits_of(events: Iterable[Mapping[str, Any]], started_at: datetime) -> list[IvrVisit]:
    """The stays of one call from its step events in order (for a fresh load of a log)."""
    visits: list[IvrVisit] = []
    for event in events:
        if event["kind"] in STEP_KINDS:
            advance(visits, event, started_at)
    return visits


WAY_FIELDS = ("flow", "node", "step_kind", "via", "digit", "found", "before_kind", "to_flow",
              "to_node")  # fmt: skip
"""The columns of a way (:class:`~callcenter.metrics.facts.IvrWay`), in the order of
:func:`way_of`."""


def way_of(visit: Any) -> tuple[Any, ...]:
    """How a stay counts in the IVR report (see :data:`WAY_FIELDS`): its node and, if the
    caller moved on, the step that took them there — only the details of that step's kind
    (an answer's way and first key, a look-up's result, the step before retries ran out)."""
    moved = visit.to_node is not None
    kind = visit.last_kind if moved else None
    return (
        visit.flow,
        visit.node,
        kind,
        visit.last_via if kind == "ivr.input" else None,
        visit.last_digit if kind == "ivr.input" else None,
        visit.last_found if kind == "ivr.lookup" else None,
        visit.before_kind if kind == "ivr.retries_exhausted" else None,
        visit.to_flow,
        visit.to_node,
    )


def way_key(way: Sequence[Any]) -> str:
    """The unique spelling of a way (:attr:`IvrWay.key`)."""
    return json.dumps(list(way), ensure_ascii=False, separators=(",", ":"))


def assign_ways(session: Session, visits: Sequence[Any]) -> None:
    """Point each stay at its way (:func:`way_of`), adding the ways not seen before. Safe
    against another transaction adding the same way: the key is unique, and an insert
    that finds it there does nothing. Ways already committed are taken from the process's
    cache (:class:`WayIds`) without a statement."""
    wanted = {way_key(way): way for way in map(way_of, visits)}
    ids = WAY_IDS.known(session, wanted)
    unknown = [key for key in wanted if key not in ids]
    if unknown:
        found = _way_ids(session, unknown)
        missing = [key for key in unknown if key not in found]
        if missing:
            dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
            session.connection().execute(
                dialect.insert(IvrWay.__table__).on_conflict_do_nothing(index_elements=["key"]),
                [
                    {"key": key, **dict(zip(WAY_FIELDS, wanted[key], strict=True))}
                    for key in missing
                ],
            )
            found.update(_way_ids(session, missing))
        WAY_IDS.seen(session, found)
        ids.update(found)
    for visit in visits:
        way_id = ids[way_key(way_of(visit))]
        if visit.way_id != way_id:
            visit.way_id = way_id


def _way_ids(session: Session, keys: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    connection = session.connection()
    for begin in range(0, len(keys), 500):
        found = connection.execute(_READ_WAYS, {"keys": keys[begin : begin + 500]})
        ids.update((key, way_id) for key, way_id in found)
    return ids


_PENDING_WAYS = "callcenter.pending_way_ids"


class WayIds:
    """The ids of IVR ways per database (engine), kept across transactions: a way is only
    ever added, never changed or removed, so its id, once committed, stays right. Ids a
    transaction read or inserted are kept aside in the session and join the cache only
    when that transaction commits; any rollback (a savepoint's too) drops them, so an id
    of a rolled-back insert is never reused."""

    LIMIT = 20_000
    """Ways kept per database; past it the cache starts again (a flow's ways are a few
    hundred)."""

    def __init__(self) -> None:
        self._ids: weakref.WeakKeyDictionary[Engine, dict[str, int]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def known(self, session: Session, wanted: Mapping[str, Any]) -> dict[str, int]:
        """The ids of the `wanted` keys already known: committed, or read in this
        transaction."""
        committed = self._ids.get(session.get_bind(), {})  # type: ignore[call-overload]
        pending = session.info.get(_PENDING_WAYS, {})
        ids: dict[str, int] = {}
        for key in wanted:
            way_id = committed.get(key) or pending.get(key)
            if way_id is not None:
                ids[key] = way_id
        return ids

    def seen(self, session: Session, ids: Mapping[str, int]) -> None:
        """Ids read or inserted in `session`'s transaction: cached if it commits."""
        session.info.setdefault(_PENDING_WAYS, {}).update(ids)

    def commit(self, session: Session) -> None:
        """Cache the ids of `session`'s committed transaction."""
        pending = session.info.pop(_PENDING_WAYS, None)
        if not pending:
            return
        engine = session.get_bind()
        with self._lock:
            ids = self._ids.setdefault(engine, {})  # type: ignore[arg-type]
            if len(ids) + len(pending) > self.LIMIT:
                ids.clear()
            ids.update(pending)

    def clear(self) -> None:
        """Forget every cached id (for a database replaced under a running process)."""
        with self._lock:
            self._ids.clear()


WAY_IDS = WayIds()
"""The process's cache of committed way ids."""


@listens_for(Session, "after_commit")
def _cache_committed_ways(session: Session) -> None:
    # A savepoint's release fires after_commit too: only the whole transaction's counts.
    if session.in_nested_transaction():
        return
    WAY_IDS.commit(session)


@listens_for(Session, "after_soft_rollback")
def _drop_pending_ways(session: Session, _previous: Any) -> None:
    session.info.pop(_PENDING_WAYS, None)


_CALLS = Call.__table__
_VISITS = IvrVisit.__table__
_WAYS = IvrWay.__table__
# The statements of the event log's writer, built once (their Python is much of its cost).
_READ_WAYS = select(_WAYS.c.key, _WAYS.c.id).where(
    _WAYS.c.key.in_(bindparam("keys", expanding=True))
)
_READ_STAYS = (
    select(_CALLS.c.started_at, *_VISITS.c)
    .select_from(_CALLS.outerjoin(_VISITS, _VISITS.c.call_sid == _CALLS.c.call_sid))
    .where(_CALLS.c.call_sid == bindparam("sid"))
    .order_by(_VISITS.c.id)
)
_STAY_CHANGES = ("last_kind", "last_via", "last_digit", "last_found", "before_kind", "to_flow",
                 "to_node", "timeouts", "invalid", "is_current", "way_id")  # fmt: skip
"""What later steps can change of a stay."""
_UPDATE_STAY = (
    update(_VISITS)
    .where(_VISITS.c.id == bindparam("stay_id"))
    .values({name: bindparam(name) for name in _STAY_CHANGES})
)
_INSERT_STAYS = insert(_VISITS)


def record_steps(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update the IVR path facts with call event rows about to be written (in order).

    Core statements, per call with steps: one read (the call's start and its stays so
    far), the ways' look-up, at most one update (the latest stay before these steps: the
    only one they can change) and one insert of the new stays."""
    by_call: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["kind"] in STEP_KINDS:
            by_call.setdefault(row["call_sid"], []).append(row)
    if not by_call:
        return
    session.flush()  # a call added in this transaction is read below
    connection = session.connection()
    for call_sid, events in by_call.items():
        found = connection.execute(_READ_STAYS, {"sid": call_sid}).all()
        if not found:
            continue  # not a call of ours
        started_at = found[0][0]
        visits = [Stay(**row._mapping) for row in found if row.id is not None]
        known = len(visits)
        before = visits[-1].values() if visits else None
        for event in events:
            advance(visits, event, started_at, Stay)
        # Only the latest stay before these steps can have changed its way, and the new ones.
        assign_ways(session, visits[max(known - 1, 0) :])
        if before is not None and visits[known - 1].values() != before:
            latest = visits[known - 1]
            connection.execute(
                _UPDATE_STAY,
                {"stay_id": latest.id, **{name: getattr(latest, name) for name in _STAY_CHANGES}},
            )
        if len(visits) > known:
            connection.execute(
                _INSERT_STAYS,
                [dict(zip(VISIT_COLUMNS, visit.values(), strict=True)) for visit in visits[known:]],
            )
