"""Each report as one payload (definitions, rows, totals) and as CSV or a text table: the
same numbers for the API, the pages and the command line."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.ivr.loader import FlowSet
from callcenter.metrics.agents import agent_report
from callcenter.metrics.definitions import (
    AGENT_FIELDS,
    N_,
    QUEUE_FIELDS,
    Translate,
    definition,
    percentages,
)
from callcenter.metrics.queues import Interval, all_queues_total, queue_report, queue_totals
from callcenter.reports.ivr import IVR_DEFINITIONS, ivr_report
from callcenter.reports.periods import Period
from callcenter.reports.staffing import STAFFING_DEFINITIONS, staffing_report

RANKED = ("aht_seconds", "occupancy", "fcr", "csat_average")  # judged against peers
AGENT_COLUMNS = (*AGENT_FIELDS, "csat_average", *(f"{name}_rank" for name in RANKED))
IVR_COLUMNS = (
    "flow", "node", "kind", "reached", "timeouts", "invalid", "hung_up", "ended", "exit",
    "exit_kind", "exit_label", "to", "count",
)  # fmt: skip


AGENT_DEFINITIONS = {
    "csat_average": N_(
        "The agent's average post-call survey score (1–5) over the calls they took; none "
        "until surveys are answered."
    ),
    "ranks": N_(
        "Percentile rank (0–1, higher is better) among peers: agents who took calls in at "
        "least one of the same queues over the period; null for an agent who took none."
    ),
}
"""The agent report's own definitions (beside those of metrics.definitions)."""


def _definitions(settings: Settings, names: Sequence[str], translate: Translate) -> dict[str, str]:
    return {name: definition(name, settings.metrics, translate) for name in names}


def queues_payload(
    session: Session, settings: Settings, period: Period, interval: Interval,
    queue: str | None = None, now: datetime | None = None, translate: Translate = N_,
) -> dict[str, Any]:  # fmt: skip
    """`{"definitions", "percentages", "rows", "totals": {"all", "queues"}}` for the queue
    report (the definitions in the language of `translate`, like every payload's here)."""
    rows = queue_report(session, settings, period.start, period.end, interval, queue, now=now)
    by_queue = queue_totals(session, settings, period.start, period.end, queue, now=now)
    everything = all_queues_total(session, settings, period.start, period.end, queue, now=now)
    return {
        "period": _period(period),
        "interval": interval,
        "definitions": _definitions(settings, QUEUE_FIELDS, translate),
        "percentages": percentages(QUEUE_FIELDS),
        "rows": rows,
        "totals": {"all": everything, "queues": by_queue},
    }


def agents_payload(
    session: Session, settings: Settings, period: Period, now: datetime | None = None,
    translate: Translate = N_,
) -> dict[str, Any]:  # fmt: skip
    """`{"definitions", "percentages", "rows"}`: each agent's figures and percentile ranks
    among peers."""
    rows = agent_report(session, settings, period.start, period.end, now=now)
    names = [*AGENT_FIELDS, "csat_average", "csat_responses"]
    definitions = _definitions(settings, names, translate)
    definitions.update({name: translate(text) for name, text in AGENT_DEFINITIONS.items()})
    return {"period": _period(period), "definitions": definitions,
            "percentages": percentages(AGENT_COLUMNS), "rows": rows}  # fmt: skip


def ivr_payload(
    session: Session, flows: FlowSet, period: Period, flow: str | None = None,
    translate: Translate = N_,
) -> dict[str, Any]:  # fmt: skip
    """`{"definitions", "flows": [{"flow", "nodes": [...]}]}` for the IVR report."""
    return {
        "period": _period(period),
        "definitions": {name: translate(text) for name, text in IVR_DEFINITIONS.items()},
        "flows": ivr_report(session, flows, period.start, period.end, flow),
    }


def staffing_payload(
    session: Session, settings: Settings, period: Period, interval: Interval,
    queue: str | None = None, calls: float | None = None, aht: float | None = None,
    now: datetime | None = None, translate: Translate = N_,
) -> dict[str, Any]:  # fmt: skip
    """`{"definitions", "percentages", "rows"}` of staffing advice for a day."""
    rows = staffing_report(session, settings, period, interval, queue, calls, aht, now)
    t = settings.metrics.service_level_seconds
    definitions = {k: translate(v).format(t=t) for k, v in STAFFING_DEFINITIONS.items()}
    return {"period": _period(period), "interval": interval, "definitions": definitions,
            "percentages": percentages(STAFFING_DEFINITIONS), "rows": rows}  # fmt: skip


def _period(period: Period) -> dict[str, str]:
    return {
        "from": period.start.astimezone(period.zone).isoformat(),
        "to": period.end.astimezone(period.zone).isoformat(),
        "timezone": period.zone.key,
    }


# -- rows as CSV and text ---------------------------------------------------------------------


def agent_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Agent rows with the ranks spread into `<metric>_rank` columns."""
    return [
        {**{k: row.get(k) for k in AGENT_COLUMNS if not k.endswith("_rank")},
         **{f"{name}_rank": (row["ranks"] or {}).get(name) for name in RANKED}}
        for row in payload["rows"]
    ]  # fmt: skip


def ivr_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per exit of each node (a node without exits: one row, exit left empty)."""
    rows = []
    for flow in payload["flows"]:
        for node in flow["nodes"]:
            base = {k: node[k] for k in IVR_COLUMNS[:8]}
            for exit_ in node["exits"] or [None]:
                rows.append({**base, "exit": exit_ and exit_["exit"],
                             "exit_kind": exit_ and exit_["kind"],
                             "exit_label": exit_ and exit_["label"], "to": exit_ and exit_["to"],
                             "count": exit_ and exit_["count"]})  # fmt: skip
    return rows


def cell(value: Any) -> str:
    """A value as a CSV cell: empty for null, ISO for times, full precision for numbers."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """CSV with a header row; UTF-8 with a byte-order mark so spreadsheets read names right.

    A cell starting with = + - @ (a formula to a spreadsheet) is quoted with a leading
    apostrophe unless it is a number.
    """
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_safe(cell(row.get(name))) for name in columns])
    return out.getvalue()


def _safe(text: str) -> str:
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def _column(name: str, values: Sequence[Any]) -> list[str]:
    """A column for the text table, one precision all down it: ratios as percentages with
    one decimal, whole numbers as they are, other numbers with two decimals."""
    numbers = [v for v in values if isinstance(v, float)]
    percent = bool(percentages([name]))
    whole = not percent and all(v.is_integer() and abs(v) < 1e9 for v in numbers)

    def show(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, float):
            return (
                f"{value * 100:.1f}%" if percent else str(int(value)) if whole else f"{value:.2f}"
            )
        return str(value)

    return [show(value) for value in values]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def text_table(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A readable table: one line per row, columns aligned (ratios in %, times in seconds)."""
    shown = [_column(name, [row.get(name) for row in rows]) for name in columns]
    cells = [list(columns)] + [list(line) for line in zip(*shown, strict=True)]
    widths = [max(_width(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c + " " * (w - _width(c)) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
