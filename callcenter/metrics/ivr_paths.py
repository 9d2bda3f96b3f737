"""Writes the IVR path facts (:class:`~callcenter.metrics.facts.IvrVisit`): each caller's
stays at IVR nodes and the moves between them, from the IVR's step events.

Every step the IVR takes is logged as a call event (``ivr.node`` when a caller comes to a
node; ``ivr.input``, ``ivr.no_input``, ``ivr.retries_exhausted`` and ``ivr.lookup`` for
what happens there); :func:`record_steps` is handed those events by the event log's writer
(:mod:`callcenter.calls.records`) in the transaction that writes them, so the facts are
exactly as current as the log. How a caller left a node is the stay's latest step when the
next ``ivr.node`` comes: the same pairing of each ``ivr.node`` with the step event just
before it in its call that the IVR report used to compute from the log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.metrics.facts import IvrVisit
from callcenter.models import Call

STEP_KINDS = ("ivr.node", "ivr.input", "ivr.retries_exhausted", "ivr.no_input", "ivr.lookup")
"""The call events that make up a caller's path through the IVR."""


def _new_visit(
    visits: list[IvrVisit], event: Mapping[str, Any], started_at: datetime, arrived: bool
) -> IvrVisit:
    flow, node = event["flow"] or "", event["node"] or ""
    previous = visits[-1] if visits else None
    seen = any(v.first_arrival and (v.flow, v.node) == (flow, node) for v in visits)
    visit = IvrVisit(
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


def advance(visits: list[IvrVisit], event: Mapping[str, Any], started_at: datetime) -> None:
    """Apply one step event (a call event row: ``call_sid``, ``kind``, ``flow``, ``node``,
    ``input``, ``detail``, ``at``) to the call's stays so far (`visits`, oldest first,
    changed in place; a new stay is appended)."""
    kind = event["kind"]
    current = visits[-1] if visits else None
    if kind == "ivr.node":
        if current is not None:
            current.to_flow, current.to_node = event["flow"], event["node"]
            if current.last_kind == "ivr.input":
                current.invalid -= 1  # the answer moved the caller on: not refused
        _new_visit(visits, event, started_at, arrived=True)
        return
    if current is None or (current.flow, current.node) != (event["flow"], event["node"]):
        current = _new_visit(visits, event, started_at, arrived=False)
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


def record_steps(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Update the IVR path facts with call event rows about to be written (in order)."""
    by_call: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row["kind"] in STEP_KINDS:
            by_call.setdefault(row["call_sid"], []).append(row)
    for call_sid, events in by_call.items():
        started_at = session.scalar(select(Call.started_at).where(Call.call_sid == call_sid))
        if started_at is None:
            continue  # not a call of ours
        visits = list(
            session.scalars(
                select(IvrVisit).where(IvrVisit.call_sid == call_sid).order_by(IvrVisit.id)
            )
        )
        known = len(visits)
        for event in events:
            advance(visits, event, started_at)
        session.add_all(visits[known:])
