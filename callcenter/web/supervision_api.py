"""Supervision over HTTP: the audit log (admins). What supervisors see and do live is on
Socket.IO (`/supervisor`: the wallboard, supervisor_events.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from callcenter.db import get_session
from callcenter.supervision import audit
from callcenter.web.auth import json_error, login_required

bp = Blueprint("supervision", __name__)


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{name} needs a time zone (e.g. 2026-11-25T10:00:00+08:00)")
    return value


@bp.get("/api/audit")
@login_required("admin")
def audit_log() -> ResponseReturnValue:
    """Audit entries, newest first: `?actor=&action=&agent_id=&call_sid=&from=&to=&limit=`
    and `before=<id>` for the page after that entry; each names its agent (`agent`), and
    `more` says whether older entries remain."""
    try:
        since, until = _time("from"), _time("to")
        agent_id = int(request.args["agent_id"]) if request.args.get("agent_id") else None
        before = int(request.args["before"]) if request.args.get("before") else None
        limit = int(request.args.get("limit", "100"))
    except ValueError as exc:
        return json_error(400, str(exc) if "zone" in str(exc) else "a filter is malformed")
    session = get_session()
    filters: dict[str, Any] = {
        "actor": request.args.get("actor"),
        "action": request.args.get("action"),
        "agent_id": agent_id,
        "call_sid": request.args.get("call_sid"),
        "since": since,
        "until": until,
    }
    found = audit.entries(session, **filters, before=before, limit=limit)
    more = bool(found) and bool(audit.entries(session, **filters, before=found[-1].id, limit=1))
    names = audit.usernames(session, found)
    listed = [{**entry.public(), "agent": names.get(entry.agent_id or 0)} for entry in found]
    return jsonify({"entries": listed, "more": more})
