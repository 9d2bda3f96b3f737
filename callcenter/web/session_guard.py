"""Ending the open consoles of an agent whose sessions ended (logout, password, deactivation).

A console's socket keeps the session cookie it connected with. Three things make sure it
stops working when that session ends:

- every agent action re-checks the session (`current_agent()`, in the handlers' one entry
  point) and disconnects the socket when it is no longer valid;
- `SessionGuard.end()` tells the agent's consoles (`session:ended`, through the message queue
  when there is one, so on every process) and disconnects those of this process at once;
- `SessionGuard.sweep()`, run by each process's dispatcher loop about once a second,
  disconnects the local sockets whose session is over: ended on another process or by the
  command line, the agent deactivated, or the login older than `session_hours`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask
from flask_socketio import SocketIO
from sqlalchemy import select

from callcenter.db import Database
from callcenter.models import Agent
from callcenter.web.rooms import AGENT_NS, SUPERVISOR_NS, agent_room

log = logging.getLogger("callcenter.session_guard")

SIGNED_OUT = "session:ended"
NAMESPACES = (AGENT_NS, SUPERVISOR_NS)
ROOM_PREFIX = agent_room(0).removesuffix("0")


class SessionGuard:
    """Disconnects the sockets of ended sessions, on this process (see the module doc)."""

    def __init__(self, app: Flask, socketio: SocketIO, database: Database) -> None:
        self.app = app
        self.socketio = socketio
        self.database = database
        self.interval = 1.0
        self.clock: Callable[[], float] = time.time  # wall clock, as the sessions' login time
        self._swept_at = 0.0
        self._sessions: dict[str, tuple[int | None, float | None]] = {}
        self._lock = threading.Lock()

    def end(self, agent_id: int, reason: str) -> None:
        """The agent's sessions ended: tell every console of theirs, disconnect those here."""
        for namespace in NAMESPACES:
            self.socketio.emit(
                SIGNED_OUT, {"reason": reason}, to=agent_room(agent_id), namespace=namespace
            )
        for namespace, sid, owner in list(self._local_sockets()):
            if owner == agent_id:
                self._disconnect(namespace, sid)

    def drop(self, sid: str, namespace: str, reason: str = "signed out") -> None:
        """Tell one local socket its session is over and disconnect it."""
        self.socketio.emit(SIGNED_OUT, {"reason": reason}, to=sid, namespace=namespace)
        self._disconnect(namespace, sid)

    def sweep(self, force: bool = False) -> int:
        """Disconnect local sockets whose session is no longer valid; how many were."""
        now = time.monotonic()
        with self._lock:
            if not force and now - self._swept_at < self.interval:
                return 0
            self._swept_at = now
        sockets = list(self._local_sockets())
        known = {sid for _namespace, sid, _agent in sockets}
        with self._lock:
            for sid in [sid for sid in self._sessions if sid not in known]:
                del self._sessions[sid]
        if not sockets:
            return 0
        ids = {agent_id for _namespace, _sid, agent_id in sockets}
        with self.database.read_session() as session:
            rows = session.execute(
                select(Agent.id, Agent.session_epoch).where(
                    Agent.id.in_(ids), Agent.active.is_(True)
                )
            ).all()
        epochs = {agent_id: epoch for agent_id, epoch in rows}
        lifetime = self.app.permanent_session_lifetime.total_seconds()
        dropped = 0
        for namespace, sid, agent_id in sockets:
            epoch, since = self._session_of(namespace, sid)
            expired = since is None or self.clock() - since > lifetime
            if agent_id not in epochs or epoch != epochs[agent_id] or expired:
                self.drop(sid, namespace)
                dropped += 1
        return dropped

    def _local_sockets(self) -> Iterator[tuple[str, str, int]]:
        """(namespace, sid, agent_id) of each socket connected to this process."""
        manager = self.socketio.server.manager
        for namespace in NAMESPACES:
            rooms = dict(manager.rooms.get(namespace, {}))
            for room, members in rooms.items():
                if not isinstance(room, str) or not room.startswith(ROOM_PREFIX):
                    continue
                agent_id = int(room.removeprefix(ROOM_PREFIX))
                for sid in list(members):
                    yield namespace, sid, agent_id

    def _session_of(self, namespace: str, sid: str) -> tuple[int | None, float | None]:
        """(epoch, login time) of the session cookie the socket connected with."""
        with self._lock:
            if sid in self._sessions:
                return self._sessions[sid]
        environ = self.socketio.server.get_environ(sid, namespace) or {}
        found: tuple[int | None, float | None] = (None, None)
        if environ:
            with self.app.request_context(environ):
                from flask import session

                epoch, since = session.get("epoch"), session.get("since")
                found = (
                    epoch if isinstance(epoch, int) else None,
                    since if isinstance(since, int | float) else None,
                )
        with self._lock:
            self._sessions[sid] = found
        return found

    def _disconnect(self, namespace: str, sid: str) -> None:
        try:
            self.socketio.server.disconnect(sid, namespace=namespace)
        except Exception:  # already gone: nothing to end
            log.debug("socket %s on %s was already gone", sid, namespace, exc_info=True)


def session_guard(services: Any) -> SessionGuard | None:
    """The app's guard (None when the app runs without Socket.IO)."""
    return services.extras.get("session_guard")
