"""Sending the wallboard to the supervisors' pages: the full board to a page that connects,
then what changed, to all of them at once.

The board is built once per update, whatever the number of supervisors, and compared with
the one last sent: an update carries only the sections that changed, and of the agents and
live calls only the rows that changed or went away. Updates are throttled (at most one per
`interval`) but never dropped: a change held back by the window goes out when it ends, so
every page shows the truth within a second of any change. With nothing to say for
`keepalive` seconds, an empty update tells the pages the board is still live.

No Socket.IO here: `emit(payload, to)` sends (to one page, or to every supervisor with
``to=None``); `build()` reads the board.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from callcenter.models import utcnow

INTERVAL = 0.5
KEEPALIVE = 5.0
SECTIONS = ("settings", "definitions", "queues", "intervals", "care")
KEYED = {"agents": "id", "calls": "call_sid"}

Board = dict[str, Any]


def board_changes(old: Board, new: Board) -> Board:
    """What changed from `old` to `new`: whole sections, and rows of the keyed lists
    (``agents``, ``calls``) with ``<name>_removed`` listing the keys gone. Empty: nothing."""
    changes: Board = {}
    for section in SECTIONS:
        if new.get(section) != old.get(section):
            changes[section] = new.get(section)
    for section, key in KEYED.items():
        before = {row[key]: row for row in old.get(section, [])}
        after = {row[key]: row for row in new.get(section, [])}
        changed = [row for k, row in after.items() if not _same(before.get(k), row)]
        removed = [k for k in before if k not in after]
        if changed:
            changes[section] = changed
        if removed:
            changes[f"{section}_removed"] = removed
    if changes or new.get("day") != old.get("day"):
        changes["day"] = new.get("day")
    return changes


def _same(old: Any, new: Any) -> bool:
    # Rows the builder reused from the last board are the same objects: nothing to compare.
    return old is new or old == new


class BoardFeed:
    """Builds the board when something changed and sends it to the supervisors."""

    def __init__(
        self,
        build: Callable[[], Board],
        emit: Callable[[Board, str | None], None],
        interval: float = INTERVAL,
        keepalive: float = KEEPALIVE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.build = build
        self.emit = emit
        self.interval = interval
        self.keepalive = keepalive
        self.clock = clock
        self.listening: Callable[[], bool] = lambda: True
        """Whether anyone may hear the board (nobody: it is not even built)."""
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._dirty.set()
        self._last: Board | None = None
        self._version = 0
        self._built_at = float("-inf")
        self._sent_at = time.monotonic()
        # What the board costs this process: builds, seconds building, seconds emitting.
        self.builds = 0
        self.build_seconds = 0.0
        self.emit_seconds = 0.0

    def touch(self) -> None:
        """Something changed: the board is rebuilt when the window allows."""
        self._dirty.set()

    def due_in(self) -> float | None:
        """Seconds until `publish` has something to do (None: only the keepalive)."""
        now = time.monotonic()
        due = [self._sent_at + self.keepalive - now]
        if self._dirty.is_set():
            due.append(self._built_at + self.interval - now)
        return max(0.0, min(due))

    def publish(self) -> bool:
        """Send what changed if the window allows (or a keepalive when due). True if sent."""
        now = time.monotonic()
        if not self.listening():
            self._last = None  # a page that connects gets the full board anyway
            self._dirty.clear()
            self._sent_at = now
            return False
        if self._dirty.is_set() and now >= self._built_at + self.interval:
            with self._lock:
                self._dirty.clear()
                self._built_at = time.monotonic()
                board = self._build()
                if self._last is None:
                    self._last = board
                    return False
                changes = board_changes(self._last, board)
                self._last = board
                if changes:
                    self._send({**changes, "generated_at": board["generated_at"]}, None)
                    return True
        if now >= self._sent_at + self.keepalive:
            with self._lock:
                self._send({"generated_at": self.clock().isoformat()}, None)
            return True
        return False

    def send_full(self, to: str) -> Board:
        """The whole board to one page (that just connected), then what changed since the
        last update to everyone: in this order, so that no page misses a change."""
        with self._lock:
            board = self._build()
            self._version += 1
            self.emit({**board, "full": True, "version": self._version}, to)
            if self._last is not None:
                changes = board_changes(self._last, board)
                if changes:
                    self._send({**changes, "generated_at": board["generated_at"]}, None)
            self._last = board
            return board

    def _build(self) -> Board:
        started = time.perf_counter()
        board = self.build()
        self.builds += 1
        self.build_seconds += time.perf_counter() - started
        return board

    def _send(self, update: Board, to: str | None) -> None:
        self._version += 1
        started = time.perf_counter()
        self.emit({**update, "full": False, "version": self._version}, to)
        self.emit_seconds += time.perf_counter() - started
        self._sent_at = time.monotonic()
