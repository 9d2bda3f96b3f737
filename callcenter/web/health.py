"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from callcenter.services import get_services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database answers and flows are loaded, else 503 with the reason."""
    services = get_services()
    checks: dict[str, object] = {}
    healthy = True
    try:
        with services.database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
        healthy = False
    flows = services.flows.flows
    checks["flows"] = sorted(flows.flows)
    if not flows.flows:
        healthy = False
    if services.flows.last_error:
        checks["flow_reload_error"] = services.flows.last_error
    checks["status"] = "ok" if healthy else "unavailable"
    return jsonify(checks), 200 if healthy else 503
