"""Live consoles over Socket.IO: the dispatcher loop and what it announces.

`Realtime` is the app's `Announcer`: after a routing change is committed it emits
`call:offer` (the screen-pop), `call:ended` and `agent:state` to the agents concerned on
namespace `/agent`, and queue/agent updates on `/supervisor`. With
`CALLCENTER_REDIS_URL` set, emits go through Redis so every process's sockets hear them —
except the wallboard and the queue summary (`queues`): each process sends them only to
the sockets connected to it, and tells the others through Redis (`boards.BoardSignal`) that they
may have changed, so every page and console gets each update once, from its own process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from functools import partial
from typing import Any

from flask_socketio import SocketIO

from callcenter.calls.consults import expire_consults
from callcenter.calls.due import pass_due
from callcenter.calls.participants import participants
from callcenter.calls.records import get_call
from callcenter.calls.recovery import drop_silent_consoles
from callcenter.calls.routing import Changes, offer_waiting, upkeep
from callcenter.care.followups import followup_counts
from callcenter.db import LOCK_TIMEOUT
from callcenter.models import Agent, Call, utcnow
from callcenter.people.agents import CONSOLE_HEARTBEAT_SECONDS, mark_consoles_seen
from callcenter.screenpop import call_pop, offer_payload, with_expiry
from callcenter.services import Services
from callcenter.supervision.board import BoardRows, build_board
from callcenter.supervision.feed import BoardFeed
from callcenter.web.boards import BoardSignal, queue_summary
from callcenter.web.call_upkeep import CallUpkeep
from callcenter.web.rooms import AGENT_NS, SUPERVISOR_NS, agent_room

log = logging.getLogger("callcenter.realtime")

# The queue boards are throttled, never dropped: a change held back by a window is sent
# when the window ends, so every board shows the truth within a second of any change.
WALLBOARD_QUEUES_INTERVAL = 0.5
AGENT_QUEUES_INTERVAL = 1.0
RECONCILE_SECONDS = 30.0  # how often calls whose hang-up may be lost are checked with Twilio


def _same_board(a: list[dict[str, Any]] | None, b: list[dict[str, Any]] | None) -> bool:
    """Whether two summaries show the same thing (`longest_wait` only grows with time)."""
    if a is None or b is None:
        return a is b

    def board(summary: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if k != "longest_wait"} for row in summary]

    return board(a) == board(b)


def _brief(session: Any, agent_id: int) -> dict[str, Any] | None:
    agent = session.get(Agent, agent_id) if agent_id else None
    if agent is None:
        return None
    return {"id": agent.id, "name": agent.display_name, "number": agent.agent_number}


def consult_status(
    session: Any, call_sid: str, from_id: int, to_id: int, status: str
) -> dict[str, Any]:
    """The `call:consult-status` event: a step of a warm transfer, for both agents."""
    return {"call_sid": call_sid, "status": status, "from": _brief(session, from_id),
            "to": _brief(session, to_id)}  # fmt: skip


def participant_agents(call: Call) -> set[int]:
    """Agents whose consoles list the call's participants: its agent and a consulted one."""
    return {agent_id for agent_id in (call.agent_id, call.transfer_agent_id) if agent_id}


class Realtime:
    """Announces committed changes to consoles and runs the dispatcher."""

    def __init__(self, socketio: SocketIO, services: Services, interval: float = 1.0) -> None:
        self.socketio = socketio
        self.services = services
        self.interval = interval
        self._wake = threading.Event()
        self._pass_wanted = threading.Event()  # woken for a pass, not only for the boards
        self._stop = threading.Event()
        self._thread: Any = None
        self._lock = threading.Lock()
        self._queues_lock = threading.Lock()
        self._queues_dirty = threading.Event()
        self._last_summary: list[dict[str, Any]] | None = None
        self._last_summary_at = 0.0
        self._agents_summary: list[dict[str, Any]] | None = None
        self._agents_told_at = 0.0
        # Calls kept up through Twilio's REST API after each pass (given its bridge by the app).
        # (`publish` looked up at each call: a wrapper set later, as bench/ does, is used.)
        self.call_upkeep = CallUpkeep(socketio, services, lambda changes: self.publish(changes))
        # Checks run after every pass, e.g. ending the sockets of ended sessions.
        self.housekeeping: list[Callable[[], Any]] = []
        # Told every committed change after it is announced (e.g. supervision's clean-up).
        self.listeners: list[Callable[[Changes], Any]] = []
        # Told how long each dispatcher pass took, in seconds (the /metrics histogram).
        self.pass_observers: list[Callable[[float], Any]] = []
        self.started_at = utcnow()
        """Console heartbeats older than this process are not trusted (see routing)."""
        self.consoles: Callable[[], Collection[int]] = lambda: ()
        """Agents with an open console in this process (set by the socket handlers)."""
        self._heartbeat_at = float("-inf")
        self._reconciled_at = time.monotonic()
        # The wallboard (`wallboard` on /supervisor): built once per update for every
        # supervisor, and only while one may hear it (any process's, with a message queue).
        # The wallboard (`wallboard` on /supervisor): built once per update for the
        # supervisors connected to this process, and only while there are some; other
        # processes' changes reach it through `board_signal` (with a message queue).
        self.wallboard = BoardFeed(self._build_board, self._emit_board)
        self._board_rows = BoardRows()  # unchanged rows are reused from one build to the next
        self._supervisors: set[str] = set()
        self.wallboard.listening = lambda: bool(self._supervisors)
        url = services.settings.redis_url
        self.board_signal = BoardSignal(url, self._board_signalled) if url else None
        self._signal_thread: Any = None

    # -- Announcer ---------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the dispatcher for a pass now: a committed change may make or end an offer
        (a caller entered or left a queue, an agent's status changed, a call ended, ...)."""
        self._board_changed()
        self._pass_wanted.set()
        self._wake.set()

    def touch(self) -> None:
        """Something a board shows may have changed, but nothing a dispatcher pass acts on
        (an IVR step, a status callback): the wallboard is rebuilt when its window allows,
        without a pass. Waking the loop for the board only matters while someone listens."""
        self._board_changed()
        if self.wallboard.listening():
            self._wake.set()

    def _board_changed(self) -> None:
        """This process's board is due, and every other process's too."""
        self.wallboard.touch()
        if self.board_signal is not None:
            self.board_signal.send()

    def _board_signalled(self) -> None:
        """Another process changed something the board or the queue summary shows."""
        self.wallboard.touch()
        self._queues_dirty.set()
        self._wake.set()

    def publish(
        self, changes: Changes, pops: dict[tuple[int, str], dict[str, Any]] | None = None
    ) -> None:
        """Emit what a committed routing step changed.

        `pops` are screen-pops read before the offers were written, by (agent, call): they
        are sent first, before anything is read. Other payloads are built in a short read,
        and sent after it ends, so no database transaction is held while thousands of
        sockets are written to. A change to calls or agents marks the queue boards dirty:
        the dispatcher loop sends them the summary (see `publish_queues`).
        """
        if not changes:
            return
        pops = pops or {}
        for agent_id, call_sid in changes.offers:
            if (agent_id, call_sid) in pops:
                self.socketio.emit("call:offer", pops[agent_id, call_sid],
                                   to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip
        self._board_changed()
        now = utcnow()
        outbox: list[tuple[str, Any, str | None, str]] = []
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            for agent_id, call_sid in changes.offers:
                if (agent_id, call_sid) in pops:
                    continue
                call = get_call(session, call_sid)
                agent = session.get(Agent, agent_id)
                if call is None or agent is None:
                    continue
                try:
                    payload = offer_payload(
                        session, self.services.settings, call, now, agent,
                        self.services.flows.flows,
                    )  # fmt: skip
                except Exception:  # the rest of the change is still announced
                    log.exception("could not read the screen-pop of %s", call_sid)
                    session.rollback()
                    continue
                outbox.append(("call:offer", payload, agent_room(agent_id), AGENT_NS))
            for agent_id, call_sid, reason in changes.withdrawn:
                ended = {"call_sid": call_sid, "reason": reason}
                outbox.append(("call:ended", ended, agent_room(agent_id), AGENT_NS))
            for agent_id, call_sid in changes.ended:
                ended = {"call_sid": call_sid, "reason": "completed"}
                outbox.append(("call:ended", ended, agent_room(agent_id), AGENT_NS))
            for call_sid, from_id, to_id, status in changes.consults:
                consult = consult_status(session, call_sid, from_id, to_id, status)
                for agent_id in {from_id, to_id} - {0}:
                    outbox.append(("call:consult-status", consult, agent_room(agent_id), AGENT_NS))
            for call_sid in sorted(changes.participants):
                call = get_call(session, call_sid)
                if call is None:
                    continue
                announce = self.services.settings.supervision.announce_monitor
                listed = {
                    "call_sid": call_sid,
                    "participants": participants(session, call, monitors=announce),
                }
                # Agents a consult step just concerned hear the list it leaves behind.
                concerned = {a for sid, *ids, _ in changes.consults if sid == call_sid for a in ids}
                for agent_id in participant_agents(call) | concerned - {0}:
                    outbox.append(("call:participants", listed, agent_room(agent_id), AGENT_NS))
                # Every supervisor sees everyone on the call, silent monitors included.
                seen = {"call_sid": call_sid, "participants": participants(session, call)}
                outbox.append(("call:participants", seen, None, SUPERVISOR_NS))
            for agent_id in sorted(changes.agents):
                agent = session.get(Agent, agent_id)
                if agent is not None:
                    state = agent.public()
                    outbox.append(("agent:state", state, agent_room(agent.id), AGENT_NS))
                    outbox.append(("agent", state, None, SUPERVISOR_NS))
            if changes.followups:
                counts = followup_counts(session, now)
                outbox.append(("followups:changed", counts, None, AGENT_NS))
        for event, data, room, namespace in outbox:
            self.socketio.emit(event, data, to=room, namespace=namespace)
        for listener in self.listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("listener %r failed", listener)
        if changes.calls or changes.agents:
            self._queues_dirty.set()
            self.kick()

    def publish_queues(self) -> None:
        """Send the queue summary to the consoles when it changed since they last heard it.

        Wallboards hear it at most every `WALLBOARD_QUEUES_INTERVAL`, agent consoles at most
        every `AGENT_QUEUES_INTERVAL`: with a thousand consoles one broadcast costs the
        server tens of milliseconds that screen-pops should not wait on. What a window held
        back goes out when it ends (`queues_due_in` tells the loop when), never dropped.
        Only to this process's own sockets: another process's change reaches it through
        `board_signal`, so each console gets each summary once (not once per process).
        """
        with self._queues_lock:
            now = time.monotonic()
            if self._queues_dirty.is_set() and now >= self._last_summary_at + (
                WALLBOARD_QUEUES_INTERVAL
            ):
                self._queues_dirty.clear()
                self._last_summary_at = now
                with self.services.database.read_session(LOCK_TIMEOUT) as session:
                    summary = queue_summary(session, self.services)
                if not _same_board(summary, self._last_summary):
                    self._last_summary = summary
                    self.socketio.emit(
                        "queues", summary, namespace=SUPERVISOR_NS, ignore_queue=True
                    )
            if (
                self._last_summary is not self._agents_summary
                and now >= self._agents_told_at + AGENT_QUEUES_INTERVAL
            ):
                self._agents_summary = self._last_summary
                self._agents_told_at = now
                self.socketio.emit(
                    "queues", self._last_summary, namespace=AGENT_NS, ignore_queue=True
                )

    def _build_board(self) -> dict[str, Any]:
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            return build_board(session, self.services.settings, utcnow(), self._board_rows)

    def _emit_board(self, board: dict[str, Any], to: str | None) -> None:
        # Only to this process's own supervisor sockets, never through the message queue:
        # every process sends its own pages the board (one copy each).
        self.socketio.emit("wallboard", board, to=to, namespace=SUPERVISOR_NS, ignore_queue=True)

    def supervisor_connected(self, sid: str) -> None:
        """A wallboard page connected: it gets the whole board."""
        self._supervisors.add(sid)
        self.wallboard.send_full(sid)

    def supervisor_left(self, sid: str) -> None:
        self._supervisors.discard(sid)

    def supervisors_connected(self) -> int:
        """Supervisor sockets (wallboards) open in this process."""
        return len(self._supervisors)

    def queues_due_in(self) -> float | None:
        """Seconds until a held-back queue summary is due (None: nothing held back)."""
        now = time.monotonic()
        due: list[float] = []
        if self._queues_dirty.is_set():
            due.append(self._last_summary_at + WALLBOARD_QUEUES_INTERVAL - now)
        if self._last_summary is not self._agents_summary:
            due.append(self._agents_told_at + AGENT_QUEUES_INTERVAL - now)
        return max(0.0, min(due)) if due else None

    def call_connected(self, call_sid: str) -> None:
        """The agent's leg joined the caller: tell that agent's console."""
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            call = get_call(session, call_sid)
            if call is None or call.agent_id is None:
                return
            self.socketio.emit("call:connected", {"call_sid": call_sid},
                               to=agent_room(call.agent_id), namespace=AGENT_NS)  # fmt: skip

    # -- dispatcher ----------------------------------------------------------------------

    def run_once(self) -> Changes:
        """One dispatcher pass: expire offers, end wrap-ups, offer waiting calls."""
        started = time.perf_counter()
        try:
            return self._pass()
        finally:
            for observe in self.pass_observers:
                observe(time.perf_counter() - started)

    def _pass(self) -> Changes:
        self.refresh_consoles()
        # One pass at a time in this process; the database guards across processes.
        with self._lock:
            changes = self._route()  # each step announced as it commits
        if time.monotonic() - self._reconciled_at >= RECONCILE_SECONDS:
            self._reconciled_at = time.monotonic()
            self.call_upkeep.reconcile_calls()
        self.call_upkeep.recover_unanswered_bridges()
        self.call_upkeep.start_recordings()
        self.publish_queues()
        self.wallboard.publish()
        for check in self.housekeeping:
            try:
                check()
            except Exception:
                log.exception("housekeeping check %r failed", check)
        return changes

    def _route(self) -> Changes:
        """Drop silent consoles, expire offers and consults, end wrap-ups (one write
        transaction), then offer waiting calls, each offer in a short write transaction of
        its own, so webhooks write in between. A read first finds what is due; nothing
        due, nothing written. Each transaction's changes are announced once committed (an
        offer's screen-pop does not wait for the pass's other offers); all of them are
        returned."""
        database, settings = self.services.database, self.services.settings
        with database.read_session(LOCK_TIMEOUT) as session:
            upkeep_due, offers_due = pass_due(session, list(settings.queues), utcnow())
        changes = Changes()
        if upkeep_due:
            with database.session() as session:
                now = utcnow()
                kept = drop_silent_consoles(session, now)
                kept.merge(upkeep(session, now)).merge(expire_consults(session, now))
            self.publish(kept)
            changes.merge(kept)
        if not (upkeep_due or offers_due):
            return changes
        # The offers: each committed on its own, and announced (its pop read before it was
        # written) as soon as it is.
        reads = partial(database.read_session, LOCK_TIMEOUT)
        offered = offer_waiting(reads, database.session, settings, utcnow, self.started_at,
                                prepare=self._read_pop, announce=self._announce_offer)  # fmt: skip
        return changes.merge(offered)

    def _read_pop(self, session: Any, call_id: int) -> dict[str, Any] | None:
        """The screen-pop of a call about to be offered, read before the offer is written,
        so it leaves as the offer commits (the offer's time to answer runs from its write).
        A pop that cannot be read does not hold up routing: None, and `publish` reads it
        after the commit instead."""
        try:
            call = session.get(Call, call_id)
            if call is None:
                return None
            flows = self.services.flows.flows
            return call_pop(session, self.services.settings, call, utcnow(), flows)
        except Exception:
            log.exception("could not read the screen-pop of call %s before its offer", call_id)
            return None

    def _announce_offer(self, offered: Changes, pop: dict[str, Any] | None) -> None:
        """Announce one offer's transaction, its pops sent first with the expiries written."""
        pops = None
        if pop is not None:
            pops = {key: with_expiry(pop, expires_at)
                    for key, expires_at in offered.offer_expiries.items()}  # fmt: skip
        self.publish(offered, pops)

    def refresh_consoles(self) -> None:
        """The console heartbeat: one UPDATE for every agent with a console open in this
        process, every CONSOLE_HEARTBEAT_SECONDS."""
        if time.monotonic() - self._heartbeat_at < CONSOLE_HEARTBEAT_SECONDS:
            return
        self._heartbeat_at = time.monotonic()
        agent_ids = self.consoles()
        if agent_ids:
            with self.services.database.session() as session:
                mark_consoles_seen(session, agent_ids, utcnow())

    def start(self) -> None:
        if self._thread is None:
            self._thread = self.socketio.start_background_task(self._loop)
        if self.board_signal is not None and self._signal_thread is None:
            self._signal_thread = self.socketio.start_background_task(
                self.board_signal.listen, self._stop
            )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the dispatcher loop and wait for a pass in progress to finish."""
        self._stop.set()
        self._wake.set()
        for thread in (self._thread, self._signal_thread):
            if thread is not None and hasattr(thread, "join"):
                thread.join(timeout)
        self._thread = self._signal_thread = None

    def _loop(self) -> None:
        log.info("dispatcher started (every %.1f s, and on every queue change)", self.interval)
        next_pass = time.monotonic() + self.interval
        while not self._stop.is_set():
            timeout = next_pass - time.monotonic()
            due = self.queues_due_in()
            if due is not None:
                timeout = min(timeout, due)
            board_due = self.wallboard.due_in()
            if board_due is not None:
                timeout = min(timeout, board_due)
            self._wake.wait(max(0.0, timeout))
            self._wake.clear()
            kicked = self._pass_wanted.is_set()
            self._pass_wanted.clear()
            if self._stop.is_set():
                break
            try:
                if kicked or time.monotonic() >= next_pass:
                    next_pass = time.monotonic() + self.interval
                    self.run_once()
                else:  # only a board held back by its throttle (or a keepalive) is due
                    self.publish_queues()
                    self.wallboard.publish()
            except Exception:
                log.exception("dispatcher pass failed; retrying")
