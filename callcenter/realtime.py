"""Live consoles over Socket.IO: the dispatcher loop and what it announces.

`Realtime` is the app's `Announcer`: after a routing change is committed it emits
`call:offer` (the screen-pop), `call:ended` and `agent:state` to the agents concerned on
namespace `/agent`, and queue/agent updates on `/supervisor`. With
`CALLCENTER_REDIS_URL` set, emits go through Redis so every process's sockets hear them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from flask_socketio import SocketIO
from sqlalchemy import func, select

from callcenter.calls import get_call
from callcenter.models import Agent, Call, utcnow
from callcenter.routing import Changes, tick
from callcenter.screenpop import offer_payload
from callcenter.services import Services

log = logging.getLogger("callcenter.realtime")

AGENT_NS = "/agent"
SUPERVISOR_NS = "/supervisor"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def queue_summary(session: Any, services: Services) -> list[dict[str, Any]]:
    """Per queue: callers waiting, the longest wait, agents available with its skills."""
    now = utcnow()
    rows = session.execute(
        select(Call.queue, func.count(), func.min(Call.enqueued_at))
        .where(Call.outcome == "queued", Call.dequeued_at.is_(None))
        .group_by(Call.queue)
    ).all()
    waiting = {queue: (count, oldest) for queue, count, oldest in rows}
    available = session.scalars(select(Agent).where(Agent.status == "available")).all()
    summary = []
    for name, queue in services.settings.queues.items():
        count, oldest = waiting.get(name, (0, None))
        skills = set(queue.skills)
        summary.append(
            {
                "name": name,
                "display_name": queue.display_name,
                "waiting": count,
                "longest_wait": int((now - oldest).total_seconds()) if oldest else 0,
                "agents_available": sum(1 for a in available if skills <= set(a.skills or [])),
            }
        )
    return summary


class Realtime:
    """Announces committed changes to consoles and runs the dispatcher."""

    def __init__(self, socketio: SocketIO, services: Services, interval: float = 1.0) -> None:
        self.socketio = socketio
        self.services = services
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Any = None
        self._lock = threading.Lock()
        self.on_offer: Callable[[int, dict[str, Any]], None] | None = None

    # -- Announcer ---------------------------------------------------------------------

    def kick(self) -> None:
        self._wake.set()

    def publish(self, changes: Changes) -> None:
        """Emit what a committed routing step changed."""
        if not changes:
            return
        now = utcnow()
        with self.services.database.session() as session:
            for agent_id, call_sid in changes.offers:
                call = get_call(session, call_sid)
                agent = session.get(Agent, agent_id)
                if call is None or agent is None:
                    continue
                payload = offer_payload(session, self.services.settings, call, now, agent)
                self.socketio.emit("call:offer", payload, to=agent_room(agent_id),
                                   namespace=AGENT_NS)  # fmt: skip
            for agent_id, call_sid, reason in changes.withdrawn:
                self.socketio.emit("call:ended", {"call_sid": call_sid, "reason": reason},
                                   to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip
            agents = [session.get(Agent, agent_id) for agent_id in sorted(changes.agents)]
            for agent in agents:
                if agent is None:
                    continue
                state = agent.public()
                self.socketio.emit("agent:state", state, to=agent_room(agent.id),
                                   namespace=AGENT_NS)  # fmt: skip
                self.socketio.emit("agent", state, namespace=SUPERVISOR_NS)
            if changes.calls or changes.agents:
                summary = queue_summary(session, self.services)
                self.socketio.emit("queues", summary, namespace=SUPERVISOR_NS)
                self.socketio.emit("queues", summary, namespace=AGENT_NS)

    def call_connected(self, call_sid: str) -> None:
        """The agent's leg joined the caller: tell that agent's console."""
        with self.services.database.session() as session:
            call = get_call(session, call_sid)
            if call is None or call.agent_id is None:
                return
            self.socketio.emit("call:connected", {"call_sid": call_sid},
                               to=agent_room(call.agent_id), namespace=AGENT_NS)  # fmt: skip

    # -- dispatcher ----------------------------------------------------------------------

    def run_once(self) -> Changes:
        """One dispatcher pass: expire offers, end wrap-ups, offer waiting calls."""
        # One pass at a time in this process; the database guards across processes.
        with self._lock, self.services.database.session() as session:
            changes = tick(session, self.services.settings, utcnow())
        self.publish(changes)
        return changes

    def start(self) -> None:
        if self._thread is None:
            self._thread = self.socketio.start_background_task(self._loop)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _loop(self) -> None:
        log.info("dispatcher started (every %.1f s, and on every queue change)", self.interval)
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.run_once()
            except Exception:
                log.exception("dispatcher pass failed; retrying")
