"""SQLite's write lock under a stream of writers: a transaction waits its turn, not for luck.

SQLite's busy timeout polls with sleeps of up to 100 ms, so a writer that arrives while
others keep taking the lock back to back can wait seconds; the process's write gate
(`callcenter.db.WriteGate`) wakes the next one the moment the lock is free.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from test_routing import make_agent

from callcenter.calls.routing import Changes
from callcenter.db import Database, WriteGate


def test_a_writer_is_not_starved_by_a_stream_of_writers(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    with database.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    stop = threading.Event()

    def busy() -> None:  # 30 ms transactions back to back, as under a burst of webhooks
        while not stop.is_set():
            with database.session() as session:
                session.execute(text("INSERT INTO t VALUES (1)"))
                time.sleep(0.03)

    writers = [threading.Thread(target=busy) for _ in range(2)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(0.2)
        waits = []
        for _ in range(5):
            started = time.perf_counter()
            with database.new_session(5.0) as session:
                session.execute(text("INSERT INTO t VALUES (2)"))
                session.commit()
            waits.append(time.perf_counter() - started)
            time.sleep(0.05)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
        database.dispose()
    # Its turn comes after the two transactions ahead of it (60 ms), not seconds later.
    assert max(waits) < 0.5, waits


def test_a_write_lock_never_freed_is_a_locked_database_not_a_hang(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'gate.db'}")
    holder = database.new_session()
    holder.execute(text("CREATE TABLE t (n INTEGER)"))  # holds the write lock
    try:
        started = time.perf_counter()
        with pytest.raises(OperationalError, match="locked"), database.new_session(0.2) as session:
            session.execute(text("SELECT 1"))
        assert time.perf_counter() - started < 2
    finally:
        holder.rollback()
        holder.close()
    with database.new_session(0.2) as session:  # the lock was handed on, not lost
        session.execute(text("SELECT 1"))
        session.commit()
    database.dispose()


def test_a_wait_that_times_out_leaves_the_gate_usable() -> None:
    gate = WriteGate()
    assert gate.acquire(0.1)
    assert not gate.acquire(0.05)
    woken: list[float] = []

    def wait() -> None:
        started = time.perf_counter()
        assert gate.acquire(5)
        woken.append(time.perf_counter() - started)
        gate.release()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.2)
    gate.release()
    waiter.join()
    assert 0.15 < woken[0] < 1.0  # woken when released, not at a poll
    assert gate.acquire(0.01)


def test_announcing_a_change_does_not_wait_for_the_write_lock(app: Flask) -> None:
    """The announcer builds its payloads (pops, agent states) after the commit in a read:
    a writer holding the lock meanwhile does not delay what the consoles are told."""
    services = app.extensions["callcenter"]
    realtime = services.extras["realtime"]
    sent: list[str] = []

    class Sockets:
        def emit(self, event: str, *_args: Any, **_kw: Any) -> None:
            sent.append(event)

    realtime.socketio = Sockets()
    realtime.kick = lambda: None  # no pass: only the announcement is timed
    with services.database.session() as session:
        agent = make_agent(session, "gate")
        agent_id = agent.id
    holder = services.database.new_session()
    holder.execute(text("UPDATE agents SET status = status WHERE 1 = 0"))  # holds the lock
    try:
        started = time.perf_counter()
        realtime.publish(Changes(agents={agent_id}))
        took = time.perf_counter() - started
    finally:
        holder.rollback()
        holder.close()
    assert "agent:state" in sent
    assert took < 1.0, took
