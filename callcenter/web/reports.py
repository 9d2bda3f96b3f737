"""Reports for supervisors and admins: JSON or CSV, and the pages that show them.

- `GET /api/reports/queues?from=…&to=…&interval=15m|1h|1d[&queue=NAME][&format=csv]`
- `GET /api/reports/agents?from=…&to=…[&format=csv]`
- `GET /api/reports/ivr?from=…&to=…[&flow=NAME][&format=csv]`
- `GET /api/reports/staffing?date=…[&interval=1h][&queue=NAME][&calls=N][&aht=S][&format=csv]`
- `GET /reports` (tables, charts, staffing) and `GET /reports/ivr` (the flows as diagrams).

Dates and times are the center's (`timezone`); see docs/metrics.md.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from callcenter.db import get_session
from callcenter.metrics.queues import INTERVALS
from callcenter.reports.output import (
    AGENT_COLUMNS,
    IVR_COLUMNS,
    agent_rows,
    agents_payload,
    ivr_payload,
    ivr_rows,
    queues_payload,
    staffing_payload,
    to_csv,
)
from callcenter.reports.periods import ReportError, parse_day, parse_period
from callcenter.reports.staffing import STAFFING_FIELDS
from callcenter.services import get_services
from callcenter.web.auth import json_error, login_required
from callcenter.web.console import _page, security_headers

bp = Blueprint("reports", __name__)
bp.after_request(security_headers)


def jsonable(value: Any) -> Any:
    """Times as ISO 8601 with their offset (Flask would write them as HTTP dates)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _now() -> datetime:
    """The app's clock (the IVR's too): how long a caller still waiting has waited."""
    return get_services().engine.clock()


def _format() -> str:
    wanted = request.args.get("format", "json")
    if wanted not in ("json", "csv"):
        abort(json_error(400, "format: json or csv"))
    return wanted


def _interval(default: str = "1h") -> Any:
    interval = request.args.get("interval", default)
    if interval not in INTERVALS:
        abort(json_error(400, f"interval: one of {', '.join(INTERVALS)}"))
    return interval


def _queue() -> str | None:
    queue = request.args.get("queue") or None
    known = get_services().settings.queues
    if queue is not None and queue not in known:
        abort(json_error(400, f"queue: no queue named {queue[:64]!r} ({', '.join(known)})"))
    return queue


def _number(name: str, top: float) -> float | None:
    text = request.args.get(name)
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= top or value != value:
        abort(json_error(400, f"{name}: a number from 0 to {top:g}"))
    return value


def _csv(name: str, columns: Any, rows: list[dict[str, Any]]) -> Response:
    response = Response(to_csv(columns, rows), content_type="text/csv; charset=utf-8")
    stamp = "_".join(
        (request.args.get(k) or "").replace(":", "")[:16] for k in ("from", "to", "date")
    ).strip("_")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}_{stamp}.csv"'
    return response


def _period(interval: str | None = None) -> Any:
    settings = get_services().settings
    try:
        return parse_period(request.args.get("from"), request.args.get("to"),
                            settings.timezone, interval)  # fmt: skip
    except ReportError as exc:
        abort(json_error(400, str(exc)))


@bp.get("/api/reports/queues")
@login_required("supervisor")
def queues_report() -> ResponseReturnValue:
    """Queue figures per interval, with the period's totals and the definitions."""
    wanted, interval, queue = _format(), _interval(), _queue()
    period = _period(interval)
    settings = get_services().settings
    payload = queues_payload(get_session(), settings, period, interval, queue, now=_now(),
                             translate=gettext)  # fmt: skip
    if wanted == "csv":
        from callcenter.metrics.definitions import QUEUE_FIELDS

        return _csv("queues", QUEUE_FIELDS, payload["rows"])
    return jsonify(jsonable(payload))


@bp.get("/api/reports/agents")
@login_required("supervisor")
def agents_report() -> ResponseReturnValue:
    """Each agent's figures and percentile ranks among peers over the period."""
    wanted = _format()
    period = _period()
    payload = agents_payload(get_session(), get_services().settings, period, now=_now(),
                             translate=gettext)  # fmt: skip
    if wanted == "csv":
        return _csv("agents", AGENT_COLUMNS, agent_rows(payload))
    return jsonify(jsonable(payload))


@bp.get("/api/reports/ivr")
@login_required("supervisor")
def ivr_report() -> ResponseReturnValue:
    """Per node of each flow: callers who reached it, per exit, hang-ups."""
    wanted = _format()
    period = _period()
    flows = get_services().flows.flows
    flow = request.args.get("flow") or None
    if flow is not None and flow not in flows:
        return json_error(400, f"flow: no flow named {flow[:64]!r} ({', '.join(flows.flows)})")
    payload = ivr_payload(get_session(), flows, period, flow, translate=gettext)
    if wanted == "csv":
        return _csv("ivr", IVR_COLUMNS, ivr_rows(payload))
    return jsonify(jsonable(payload))


@bp.get("/api/reports/staffing")
@login_required("supervisor")
def staffing_report() -> ResponseReturnValue:
    """Erlang C advice for a day: agents needed per interval and queue, and logged in."""
    wanted, interval, queue = _format(), _interval(), _queue()
    calls, aht = _number("calls", 100_000), _number("aht", 86_400)
    settings = get_services().settings
    try:
        day = parse_day(request.args.get("date"), settings.timezone)
    except ReportError as exc:
        return json_error(400, str(exc))
    payload = staffing_payload(get_session(), settings, day, interval, queue, calls, aht,
                               now=_now(), translate=gettext)  # fmt: skip
    if wanted == "csv":
        return _csv("staffing", STAFFING_FIELDS, payload["rows"])
    return jsonify(jsonable(payload))


def _center_today() -> str:
    """Today in the center's time zone (the day the pages open on, whatever the browser's)."""
    return _now().astimezone(ZoneInfo(get_services().settings.timezone)).date().isoformat()


@bp.get("/reports")
def reports_page() -> ResponseReturnValue:
    """Queue and agent tables, charts, staffing advice (supervisors and admins)."""
    return _page("reports.html", "supervisor", "admin", today=_center_today())


@bp.get("/reports/ivr")
def ivr_page() -> ResponseReturnValue:
    """The IVR flows as diagrams with the period's counts (supervisors and admins)."""
    return _page("reports_ivr.html", "supervisor", "admin", today=_center_today())
