"""Database engine and sessions, shared by the web app and the command line; the declarative
base and the column types every model uses."""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# How long a transaction waits for the write lock, in seconds. Commands and background
# work can wait; a webhook cannot (Twilio gives up after 15 s and plays its error message).
LOCK_TIMEOUT = 30.0
WEBHOOK_LOCK_TIMEOUT = 5.0
# SQLite errors after which a connection is useless even once the fault is over: a
# connection opened while the file could not be written stays read-only for good.
_STALE_SQLITE_ERRORS = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_NOTADB")
# Execution options the begin hook reads (set per session kind by Database.new_session).
_LOCK_OPTION = "callcenter_lock_timeout"
_READ_OPTION = "callcenter_read_only"
_BIND = "callcenter.bind"
_WRITE_LOCK = "callcenter.write_lock"
_PACKAGE = str(Path(__file__).resolve().parent)
_SKIPPED_FRAMES = (__file__, str(Path(_PACKAGE) / "models.py"))

# Told of each SQLite write transaction when it ends: who (see `lock_caller`), seconds
# waited for the write lock at BEGIN IMMEDIATE, seconds held until COMMIT or ROLLBACK.
LockObserver = Callable[[str, float, float], None]


class Base(DeclarativeBase):
    """Declarative base of every model."""


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (what every datetime column holds)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def tz_datetime() -> UTCDateTime:
    """The column type of every datetime column."""
    return UTCDateTime()


class _Session(Session):
    """A session that uses the engine (with its lock options) named in its ``info``."""

    def get_bind(self, *args: Any, **kw: Any) -> Any:
        return self.info.get(_BIND) or super().get_bind(*args, **kw)


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, base_dir: str | Path = ".", **engine_options: Any) -> None:
        self.url = resolve_url(url, base_dir)
        self.lock_observers: list[LockObserver] = []
        self.engine = make_engine(self.url, lock_observers=self.lock_observers, **engine_options)
        self.sessions = sessionmaker(self.engine, class_=_Session, expire_on_commit=False)
        self.webhook_lock_timeout = WEBHOOK_LOCK_TIMEOUT
        self._binds: dict[tuple[float, bool], Engine] = {}

    def new_session(self, lock_timeout: float | None = None, *, read_only: bool = False) -> Session:
        """A session whose transactions wait at most `lock_timeout` seconds for a lock
        (default :data:`LOCK_TIMEOUT`); `read_only` ones never take SQLite's write lock."""
        key = (LOCK_TIMEOUT if lock_timeout is None else lock_timeout, read_only)
        if key not in self._binds:
            options = {_LOCK_OPTION: key[0], _READ_OPTION: read_only}
            self._binds[key] = self.engine.execution_options(**options)
        return self.sessions(info={_BIND: self._binds[key]})

    @contextmanager
    def read_session(self, lock_timeout: float | None = None) -> Iterator[Session]:
        """A session for reading only, rolled back at the end; it does not wait for writers
        (SQLite's WAL lets readers read while another connection holds the write lock)."""
        timeout = self.webhook_lock_timeout if lock_timeout is None else lock_timeout
        session = self.new_session(timeout, read_only=True)
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def check_writable(self, lock_timeout: float = 2.0) -> str | None:
        """None when a transaction could write now, else why not (for /healthz)."""
        probe = text("UPDATE webhook_responses SET step_key = step_key WHERE 1 = 0")
        bound = self.engine.execution_options(**{_LOCK_OPTION: lock_timeout})
        for attempt in (1, 2):
            try:
                with bound.connect() as connection:
                    connection.execute(probe)
                    connection.rollback()
                return None
            except DBAPIError as exc:
                # A stale connection (opened while the file was unwritable) was just
                # dropped: the fault may be over, so ask a new one before answering.
                if attempt == 1 and exc.connection_invalidated:
                    continue
                return describe_error(exc)
            except Exception as exc:  # any driver error means not writable
                return describe_error(exc)
        return None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error.

        >>> with database.session() as session:
        ...     session.add(customer)
        """
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def dispose(self) -> None:
        self.engine.dispose()


def describe_error(exc: BaseException) -> str:
    """A short, secret-free reason for a database error (``locked``, ``read-only`` ...)."""
    orig = getattr(exc, "orig", exc)
    message = str(orig).lower()
    if "locked" in message or "lock timeout" in message or "busy" in message:
        return "locked"
    if "readonly" in message or "read-only" in message:
        return "read-only"
    return type(orig).__name__


def resolve_url(url: str, base_dir: str | Path) -> str:
    """Make a relative SQLite path relative to the config folder and create its folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            path = Path(base_dir) / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


def lock_caller() -> str:
    """Who is opening a write transaction: the request's route or Socket.IO event, else
    the two innermost functions of the package on the stack (background work)."""
    if has_request_context():
        event = getattr(request, "event", None)
        if isinstance(event, dict):
            return f"socket {event.get('message')}"
        return request.url_rule.rule if request.url_rule else "unmatched"
    names: list[str] = []
    frame = sys._getframe(1)
    while frame is not None and len(names) < 2:
        filename = frame.f_code.co_filename
        if filename.startswith(_PACKAGE) and filename not in _SKIPPED_FRAMES:
            module = filename[len(_PACKAGE) + 1 :].removesuffix(".py")
            names.append(f"{module}.{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(names) or "other"


class WriteGate:
    """The threads of one process wait here for SQLite's write lock, and the next one is
    woken the moment a transaction ends.

    SQLite's own wait (the busy timeout) polls with sleeps of up to 100 ms, so under a
    stream of writers a waiting transaction can keep missing the moments the lock is free
    and wait seconds while others, arriving later, go first. Here a waiter is woken at
    once (a thread that arrives just then may still go first: handing the lock over in
    strict order made every transaction wait for the next thread to be scheduled, which
    cost more than it saved). SQLite's lock still arbitrates between processes, and a wait
    here that ends without the lock (one ahead stuck on a fault) falls back to SQLite's
    own wait, so the gate never fails a write that SQLite alone would have let through.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds; False if the lock did not come free."""
        return self._lock.acquire(timeout=timeout)

    def release(self) -> None:
        """End our transaction's hold: a waiting thread is woken."""
        self._lock.release()


def _gated_connection(gate: WriteGate) -> type[sqlite3.Connection]:
    """A sqlite3 connection class that leaves `gate` when its transaction ends (commit,
    rollback, or the connection closed), after SQLite has released its lock."""

    class GatedConnection(sqlite3.Connection):
        in_gate = False

        def _leave(self) -> None:
            if self.in_gate:
                self.in_gate = False
                gate.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._leave()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._leave()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._leave()

    return GatedConnection


def make_engine(
    url: str, *, lock_observers: list[LockObserver] | None = None, **options: Any
) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    Each transaction waits for locks as long as its session kind allows (see
    :meth:`Database.new_session`); SQLite connections that hit a read-only or I/O error
    are dropped from the pool, so the process recovers once the file is writable again.
    With `lock_observers`, each is told how long every write transaction waited for
    SQLite's write lock and held it, and who opened it.
    """
    observers = lock_observers if lock_observers is not None else []
    if make_url(url).get_backend_name() == "sqlite":
        gate = WriteGate()
        connect_args = {"timeout": LOCK_TIMEOUT, "check_same_thread": False}
        connect_args.update(options.pop("connect_args", {}))
        connect_args.setdefault("factory", _gated_connection(gate))
        engine = create_engine(url, connect_args=connect_args, **options)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue instead of failing.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            execution = connection.get_execution_options()
            milliseconds = int(execution.get(_LOCK_OPTION, LOCK_TIMEOUT) * 1000)
            info = connection.connection.info
            if info.get("busy_timeout") != milliseconds:
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {milliseconds}")
                info["busy_timeout"] = milliseconds
            # Writers take the write lock at BEGIN so that read-then-write (assigning a
            # call) is atomic; readers never wait for it (WAL lets them read meanwhile).
            if execution.get(_READ_OPTION):
                connection.exec_driver_sql("BEGIN")
                return
            started = time.perf_counter()
            dbapi = connection.connection.dbapi_connection
            gated = hasattr(dbapi, "in_gate")
            # Our turn in the process's queue; if it does not come in time (a transaction
            # ahead stuck on a fault), SQLite's own wait decides, as without the queue.
            if gated and gate.acquire(execution.get(_LOCK_OPTION, LOCK_TIMEOUT)):
                dbapi.in_gate = True
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if getattr(dbapi, "in_gate", False):
                    dbapi.in_gate = False
                    gate.release()
                raise
            if observers:
                acquired = time.perf_counter()
                info[_WRITE_LOCK] = (lock_caller(), acquired - started, acquired)

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _released(connection: Any) -> None:
            try:
                held = connection.connection.info.pop(_WRITE_LOCK, None)
            except Exception:  # an invalidated connection: its transaction is gone anyway
                return
            if held is not None:
                caller, waited, acquired = held
                for observe in observers:
                    observe(caller, waited, time.perf_counter() - acquired)

        @event.listens_for(engine, "handle_error")
        def _drop_stale(context: ExceptionContext) -> None:
            error = context.original_exception
            name = getattr(error, "sqlite_errorname", "")
            if isinstance(error, sqlite3.Error) and name.startswith(_STALE_SQLITE_ERRORS):
                context.is_disconnect = True

        return engine
    options.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **options)

    @event.listens_for(engine, "begin")
    def _pg_begin(connection: Any) -> None:
        # PostgreSQL waits for row and table locks without limit unless told otherwise.
        timeout = connection.get_execution_options().get(_LOCK_OPTION, LOCK_TIMEOUT)
        if timeout < LOCK_TIMEOUT:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout * 1000)}")

    return engine


def init_app(app: Flask, database: Database) -> None:
    """Attach the database to the app; one session per request, closed at teardown."""
    app.extensions["database"] = database

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def get_database() -> Database:
    return current_app.extensions["database"]


def get_session() -> Session:
    """The request's session; routes own the commit.

    Its transactions wait for locks at most ``g.db_lock_timeout`` seconds when a blueprint
    set it (the Twilio webhooks do), else the default.
    """
    if "db_session" not in g:
        g.db_session = get_database().new_session(g.get("db_lock_timeout"))
    return g.db_session
