"""Where live updates are sent: the Socket.IO namespaces and each agent's room."""

from __future__ import annotations

AGENT_NS = "/agent"
SUPERVISOR_NS = "/supervisor"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"
