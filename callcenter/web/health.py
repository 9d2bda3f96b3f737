"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from callcenter.db import describe_error
from callcenter.services import get_services

bp = Blueprint("health", __name__)
# A write lock held this long would already cost a webhook a third of its budget.
HEALTH_LOCK_TIMEOUT = 2.0


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database answers and can be written and flows are loaded, else 503
    with the reason (``"database": "error: read-only"``, ``"error: locked"`` ...)."""
    services = get_services()
    database = services.database
    checks: dict[str, object] = {}
    healthy = True
    try:
        with database.read_session() as session:
            session.execute(text("SELECT 1"))
        problem = database.check_writable(lock_timeout=HEALTH_LOCK_TIMEOUT)
    except Exception as exc:  # any driver error means not ready
        problem = describe_error(exc)
    checks["database"] = "ok" if problem is None else f"error: {problem}"
    healthy = problem is None
    flows = services.flows.flows
    checks["flows"] = sorted(flows.flows)
    if not flows.flows:
        healthy = False
    if services.flows.last_error:
        checks["flow_reload_error"] = services.flows.last_error
    checks["status"] = "ok" if healthy else "unavailable"
    return jsonify(checks), 200 if healthy else 503
