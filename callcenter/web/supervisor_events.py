"""Socket.IO namespace `/supervisor`: the wallboard's channel (see docs/agent-protocol.md).

Server → client: `wallboard` (the whole board on connect, then what changed; sent by
`Realtime.wallboard`). Client → server (acknowledged `{"ok": true, ...}` or
`{"error": "..."}`): `supervisor:thresholds`. The connect handler (supervisors and admins
only) is in agent_events.py.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_socketio import SocketIO

from callcenter.models import utcnow
from callcenter.realtime import SUPERVISOR_NS, Realtime
from callcenter.services import Services
from callcenter.supervision.thresholds import ThresholdError, set_thresholds
from callcenter.web.auth import current_agent
from callcenter.web.session_guard import session_guard

THRESHOLD_FIELDS = ("oldest_wait_seconds", "service_level")


def register_supervisor_events(socketio: SocketIO, services: Services, realtime: Realtime) -> None:
    """Attach the wallboard's `/supervisor` handlers for one app."""

    def supervisor() -> int | None:
        """The acting supervisor, checked again on every action (a session ended or a role
        taken away since the page connected is refused, and the socket dropped)."""
        agent = current_agent()
        if agent is not None and agent.is_supervisor:
            return agent.id
        guard = session_guard(services)
        if guard is not None and agent is None:
            guard.drop(request.sid, SUPERVISOR_NS)  # type: ignore[attr-defined]
        return None

    def on_disconnect(reason: Any = None) -> None:
        realtime.supervisor_left(request.sid)  # type: ignore[attr-defined]

    def on_thresholds(data: Any) -> dict[str, Any]:
        """`{queue, oldest_wait_seconds?, service_level?}`: set a queue's thresholds for
        every supervisor (null: back to the default of config.yaml)."""
        by = supervisor()
        if by is None:
            return {"error": "supervisor login required"}
        if not isinstance(data, dict):
            return {"error": "expected {queue, oldest_wait_seconds?, service_level?}"}
        values = {name: data[name] for name in THRESHOLD_FIELDS if name in data}
        try:
            with services.database.session() as session:
                result = set_thresholds(
                    session, services.settings, data.get("queue"), utcnow(), by=by, **values
                )
        except ThresholdError as exc:
            return {"error": str(exc)}
        realtime.kick()  # every page shows the new thresholds within the second
        return {"ok": True, "queue": data["queue"], "thresholds": result}

    socketio.on_event("disconnect", on_disconnect, namespace=SUPERVISOR_NS)
    socketio.on_event("supervisor:thresholds", on_thresholds, namespace=SUPERVISOR_NS)
