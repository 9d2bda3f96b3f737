"""How the knowledge base is used: lookups, screen-pop suggestions, the resolution report.

Pure domain code: functions take a SQLAlchemy ``Session``, flush at most, never commit.

Every search an agent or the IVR makes, every article opened and every article sent to a
caller is a :class:`~callcenter.models.KbLookup` row, linked to its call when there is one.
:func:`resolution_report` joins those rows with the calls' IVR paths and dispositions, and
:func:`suggest` uses the same numbers to rank the articles it offers on a screen-pop.

>>> record_lookup(session, action="search", source="console", agent_id=3, query="warranty",
...               results=["warranty-coverage", "extended-warranty"])  # doctest: +SKIP
>>> [s.id for s in suggest(session, ["main.warranty"], "en")]  # doctest: +SKIP
['warranty-coverage', ...]
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Text, and_, cast, func, or_, select
from sqlalchemy.orm import Session

from callcenter.knowledge.models import KbArticle, KbLookup
from callcenter.models import Call, CallEvent, utcnow

ACTIONS = ("search", "open", "send")
SOURCES = ("console", "suggestion", "ivr")
USED = ("open", "send")  # an article counts as used on a call when opened or sent
MAX_QUERY = 200
SUGGESTIONS = 3


def record_lookup(
    session: Session,
    *,
    action: str,
    source: str,
    call_sid: str | None = None,
    agent_id: int | None = None,
    article_id: str | None = None,
    query: str | None = None,
    results: Sequence[str] | None = None,
    now: datetime | None = None,
    **detail: Any,
) -> KbLookup:
    """Store one use of the knowledge base; ``results`` are the article ids found."""
    if action not in ACTIONS:
        raise ValueError(f"unknown lookup action {action!r}")
    if source not in SOURCES:
        raise ValueError(f"unknown lookup source {source!r}")
    if results is not None:
        detail["top"] = list(results)[:5]
    lookup = KbLookup(
        at=now or utcnow(),
        action=action,
        source=source,
        call_sid=call_sid,
        agent_id=agent_id,
        article_id=article_id,
        # PostgreSQL text cannot hold NUL; it never matters in a search anyway.
        query=query.replace("\x00", "")[:MAX_QUERY] if query is not None else None,
        results=len(results) if results is not None else None,
        detail=detail,
    )
    session.add(lookup)
    return lookup


@dataclass(frozen=True)
class Suggestion:
    """An article offered on a screen-pop, with why it was picked."""

    id: str
    title: str
    summary: str
    language: str
    score: float
    matched: tuple[str, ...]

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "summary": self.summary,
            "language": self.language,
            "score": self.score,
            "matched": list(self.matched),
        }


def suggest(
    session: Session, intents: Sequence[str], language: str, limit: int = SUGGESTIONS
) -> list[Suggestion]:
    """Articles answering the caller's IVR path, best first.

    An article scores for each intent of the path it answers, the later nodes (the more
    specific choice) counting more and the intents it lists first (what it is mainly
    about) counting more, plus a bonus for how often agents used it on earlier calls
    through the same nodes. Articles in the caller's language come first; others
    only fill in when there are too few.
    """
    if not intents or limit <= 0:
        return []
    weights = {intent: (index + 1) / len(intents) for index, intent in enumerate(intents)}
    # Intents are stored as a JSON list; a quoted match finds them on every database.
    text = cast(KbArticle.intents, Text)
    matches = or_(*(text.contains(f'"{intent}"') for intent in weights))
    rows = session.execute(
        select(KbArticle.id, KbArticle.title, KbArticle.summary, KbArticle.language,
               KbArticle.intents).where(matches)
    ).all()  # fmt: skip
    if not rows:
        return []
    usage = _usage_by_intent(session, [row.id for row in rows], list(weights))
    suggestions = []
    for row in rows:
        matched = tuple(intent for intent in intents if intent in (row.intents or []))
        if not matched:
            continue  # a substring match on the JSON text, not a real one
        listed = list(row.intents)
        # An intent an article lists first is what it is about; one of many, less so.
        score = sum(weights[intent] / (1 + listed.index(intent)) for intent in matched)
        score += 0.1 / len(listed)
        score += sum(math.log1p(usage[row.id][intent]) for intent in matched) / 2
        suggestions.append(
            Suggestion(row.id, row.title, row.summary, row.language, round(score, 4), matched)
        )
    suggestions.sort(key=lambda s: (s.language != language, -s.score, s.id))
    return suggestions[:limit]


USAGE_DAYS = 90  # how far back earlier calls count towards suggestions


def _usage_by_intent(
    session: Session, article_ids: Sequence[str], intents: Sequence[str]
) -> dict[str, Counter[str]]:
    """How many recent calls through each intent used each article (opened or sent)."""
    nodes = [intent.split(".", 1) for intent in intents if "." in intent]
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    if not nodes or not article_ids:
        return counts
    calls = func.count(func.distinct(KbLookup.call_sid))
    rows = session.execute(
        select(KbLookup.article_id, CallEvent.flow, CallEvent.node, calls)
        .join(
            CallEvent,
            and_(CallEvent.call_sid == KbLookup.call_sid, CallEvent.kind == "ivr.node"),
        )
        .where(
            KbLookup.action.in_(USED),
            KbLookup.article_id.in_(list(article_ids)),
            KbLookup.at >= utcnow() - timedelta(days=USAGE_DAYS),
            or_(*(and_(CallEvent.flow == flow, CallEvent.node == node) for flow, node in nodes)),
        )
        .group_by(KbLookup.article_id, CallEvent.flow, CallEvent.node)
    ).all()
    for article_id, flow, node, count in rows:
        counts[article_id][f"{flow}.{node}"] += count
    return counts


def consulted(session: Session, call_sid: str) -> list[dict[str, Any]]:
    """What was looked up for a call, in order: searches, articles opened and sent."""
    rows = session.execute(
        select(KbLookup, KbArticle.title)
        .outerjoin(KbArticle, KbArticle.id == KbLookup.article_id)
        .where(KbLookup.call_sid == call_sid)
        .order_by(KbLookup.id)
    ).all()
    return [
        {
            "at": lookup.at.isoformat(),
            "action": lookup.action,
            "source": lookup.source,
            "agent_id": lookup.agent_id,
            "query": lookup.query,
            "results": lookup.results,
            "article_id": lookup.article_id,
            "title": title,
        }
        for lookup, title in rows
    ]


CHOICE_EVENTS = ("ivr.node", "ivr.input", "ivr.retries_exhausted")


def caller_choices(session: Session, call_sids: Sequence[str]) -> dict[str, list[str]]:
    """What each caller chose in the IVR: the nodes their menu answers led to, in order.

    A menu answer (a key or a recognized phrase) that the menu accepted is followed by the
    node of the chosen option; a refused answer is followed by the same menu again, and the
    last refused one by `ivr.retries_exhausted` and the fallback, neither of them a choice.
    Nodes passed on the way (lookups, branches, messages) are not choices either.
    """
    choices: dict[str, list[str]] = defaultdict(list)
    unique = list(dict.fromkeys(call_sids))
    for start in range(0, len(unique), 500):
        rows = session.execute(
            select(CallEvent.call_sid, CallEvent.kind, CallEvent.flow, CallEvent.node,
                   CallEvent.detail)
            .where(CallEvent.call_sid.in_(unique[start : start + 500]),
                   CallEvent.kind.in_(CHOICE_EVENTS))
            .order_by(CallEvent.call_sid, CallEvent.id)
        ).all()  # fmt: skip
        kinds: dict[tuple[str, str | None, str | None], str] = {}
        answered: dict[str, tuple[str | None, str | None] | None] = {}
        for call_sid, kind, flow, node, detail in rows:
            if kind == "ivr.node":
                kinds[(call_sid, flow, node)] = (detail or {}).get("node_kind", "")
                at = answered.pop(call_sid, None)
                if at is not None and at != (flow, node):
                    choice = f"{flow}.{node}"
                    if choice not in choices[call_sid]:
                        choices[call_sid].append(choice)
            elif kind == "ivr.input" and kinds.get((call_sid, flow, node)) == "menu":
                answered[call_sid] = (flow, node)
            else:
                answered.pop(call_sid, None)
    return dict(choices)


@dataclass(frozen=True)
class ResolutionRow:
    """One article against one IVR intent: calls it was used on, by disposition."""

    article_id: str
    title: str
    intent: str
    calls: int
    dispositions: dict[str, int]
    sent: int

    def public(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "title": self.title,
            "intent": self.intent,
            "calls": self.calls,
            "sent": self.sent,
            "dispositions": dict(self.dispositions),
        }


def resolution_report(session: Session, since: datetime | None = None) -> list[ResolutionRow]:
    """Which articles were used on calls by which IVR choices, and how calls ended.

    A call's intents are its caller's choices (see :func:`caller_choices`), not every node
    it passed. A call counts once per (article, intent) however many times the article was
    opened; ``sent`` counts the calls where it was also sent to the caller. Rows are ordered
    by calls, most first. Calls without a choice count under the intent ``(none)``.
    """
    query = (
        select(
            KbLookup.article_id,
            KbLookup.call_sid,
            KbLookup.action,
            KbArticle.title,
            Call.disposition,
        )
        .outerjoin(KbArticle, KbArticle.id == KbLookup.article_id)
        .outerjoin(Call, Call.call_sid == KbLookup.call_sid)
        .where(
            KbLookup.action.in_(USED),
            KbLookup.article_id.is_not(None),
            KbLookup.call_sid.is_not(None),
        )
        .distinct()
    )
    if since is not None:
        query = query.where(KbLookup.at >= since)
    used: dict[tuple[str, str], bool] = {}
    titles: dict[str, str] = {}
    dispositions: dict[str, str | None] = {}
    for article_id, call_sid, action, title, disposition in session.execute(query):
        key = (article_id, call_sid)
        used[key] = used.get(key, False) or action == "send"
        titles[article_id] = title or article_id
        dispositions[call_sid] = disposition
    if not used:
        return []
    intents = caller_choices(session, list(dispositions))
    calls: Counter[tuple[str, str]] = Counter()
    sent: Counter[tuple[str, str]] = Counter()
    outcomes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for (article_id, call_sid), was_sent in used.items():
        for intent in sorted(intents.get(call_sid) or ["(none)"]):
            key = (article_id, intent)
            calls[key] += 1
            sent[key] += was_sent
            outcomes[key][dispositions.get(call_sid) or "(none)"] += 1
    return [
        ResolutionRow(
            article_id=article_id,
            title=titles.get(article_id, article_id),
            intent=intent,
            calls=count,
            dispositions=dict(sorted(outcomes[(article_id, intent)].items())),
            sent=sent[(article_id, intent)],
        )
        for (article_id, intent), count in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
