"""Shared fixtures: a real database (SQLite, or PostgreSQL when configured), the app built
from the repository's config.yaml and flows, a signed-webhook client, and a simulated phone."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.app import create_app
from callcenter.calls.routing import Changes, offer_waiting
from callcenter.config import Settings
from callcenter.db import Base, Database
from callcenter.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_URL = "https://cc.example.test"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
# Wednesday 25 November 2026, 10:00 in Shanghai: inside the demo support hours.
OPEN_TIME = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def dispatch(
    session: Session, settings: Settings, now: datetime, consoles_since: datetime | None = None
) -> Changes:
    """The dispatcher's offers at `now` (`routing.offer_waiting`, the loop the dispatcher
    runs), every transaction in this one session; the caller commits."""
    one = partial(nullcontext, session)
    return offer_waiting(one, one, settings, lambda: now, consoles_since)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real credentials or settings."""
    for name in list(os.environ):
        if name.startswith(("CALLCENTER_", "TWILIO_")) and name != "CALLCENTER_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLCENTER_CONFIG", str(ROOT / "config.yaml"))


@pytest.fixture(scope="session")
def _template_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once; each test gets a copy (SQLite) or emptied tables (PostgreSQL)."""
    url = os.environ.get("CALLCENTER_TEST_DATABASE_URL")
    if url:
        database = Database(url)
        upgrade(database)
        database.dispose()
        return url
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return str(path)


@pytest.fixture
def database_url(_template_database: str, tmp_path: Path) -> Iterator[str]:
    if "://" in _template_database:
        database = Database(_template_database)
        with database.engine.begin() as connection:
            names = ", ".join(table.name for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        database.dispose()
        yield _template_database
        return
    path = tmp_path / "callcenter.db"
    shutil.copy(_template_database, path)
    yield f"sqlite:///{path}"


def app_config(tmp_path: Path, database_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "TESTING": True,
        "public_url": PUBLIC_URL,
        "database_url": database_url,
        "instance_dir": str(tmp_path / "instance"),
        "recordings_dir": str(tmp_path / "recordings"),
        "tts": {"enabled": True, "cache_dir": str(tmp_path / "tts")},
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": AUTH_TOKEN,
        "simulator": True,
        "twilio_api_url": PUBLIC_URL + "/simulator",
    }
    config.update(overrides)
    return config


def _wait_for_threads(before: set[threading.Thread], timeout: float = 10.0) -> None:
    """Let threads a test started (request handlers, simulated legs) finish their work, so
    none of them opens a database connection after the engine is disposed."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread in before or thread is threading.current_thread():
            continue
        if thread.name.endswith("(_send_ping)"):
            continue  # Engine.IO's ping timer sleeps 25 s, then at most sends a ping
        if thread.name.startswith("asyncio_"):
            continue  # an event loop's executor worker (the browser driver's): not the app's
        thread.join(max(0.0, deadline - time.monotonic()))


def close_app(app: Flask, before: set[threading.Thread] | None = None) -> None:
    """Stop what an app started: simulated calls, the dispatcher, database connections."""
    services = app.extensions["callcenter"]
    phones = app.extensions.get("callcenter.simulator.phone_page")
    if phones is not None:
        phones.close()
    board = services.extras.get("simulator_switchboard")
    if board is not None:
        board.close()
    socketio = services.extras.get("socketio")
    if socketio is not None:
        # Consoles still open (a browser that outlives the test) are closed now, so their
        # disconnect handlers run while the database is there, not after it is disposed.
        # Without waiting: a polling socket with no request in flight never drains its queue.
        engine_io = socketio.server.eio
        for console in list(engine_io.sockets.values()):
            console.close(wait=False, abort=True, reason=engine_io.reason.SERVER_DISCONNECT)
        engine_io.sockets.clear()
    realtime = services.extras.get("realtime")
    if realtime is not None:
        realtime.stop()
    if socketio is not None:  # Engine.IO's sweeper of idle sockets runs until stopped
        socketio.server.shutdown()
    if before is not None:
        _wait_for_threads(before)
    services.database.dispose()


@dataclass
class Clock:
    now: datetime = OPEN_TIME

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        app = create_app(app_config(tmp_path, database_url, **overrides))
        app.extensions["callcenter"].engine.clock = clock
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def sync_knowledge_base(app: Flask) -> None:
    """Index the repository's knowledge_base/ into the app's database (as `kb sync` does)."""
    from callcenter.knowledge import articles as kb

    services = app.extensions["callcenter"]
    articles, errors = kb.load_articles(ROOT / "knowledge_base", services.settings.languages)
    assert not errors, errors
    with services.database.session() as session:
        kb.sync(session, articles)


SCREENSHOTS = Path(
    os.environ.get("CALLCENTER_TEST_SHOTS") or Path(tempfile.gettempdir()) / "callcenter-test-shots"
)
"""Where browser tests leave screenshots for a person to look at (CALLCENTER_TEST_SHOTS)."""


def shot(name: str) -> str:
    """The path of the screenshot `name` (a PNG in :data:`SCREENSHOTS`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"{name}.png")


CHROMIUM = os.environ.get("CALLCENTER_TEST_CHROMIUM") or shutil.which("chromium")
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


@contextmanager
def chromium(*extra_args: str) -> Iterator[Any]:
    """Headless Chromium (Debian's package) driven by Playwright; skips the test without it."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (scripts/services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
        )
        yield browser
        browser.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


class TwilioWebhooks:
    """Posts webhooks to the app exactly as Twilio signs them."""

    def __init__(self, client: FlaskClient, public_url: str = PUBLIC_URL) -> None:
        self.client = client
        self.public_url = public_url
        self.validator = RequestValidator(AUTH_TOKEN)

    def sign(self, url: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(url, params)

    def post(
        self, path: str, params: dict[str, str], query: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        full = path + ("?" + urlencode(query) if query else "")
        signature = self.sign(self.public_url + full, params)
        headers = {"X-Twilio-Signature": signature, **kw.pop("headers", {})}
        return self.client.post(full, data=params, headers=headers, **kw)


@pytest.fixture
def twilio(client: FlaskClient) -> TwilioWebhooks:
    return TwilioWebhooks(client)


def call_params(call_sid: str, from_: str = "+8613900139000", to: str = "+864008001234",
                **extra: str) -> dict[str, str]:  # fmt: skip
    """Twilio's standard voice webhook parameters."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": from_,
        "To": to,
        "Caller": from_,
        "Called": to,
    }
    params.update(extra)
    return params


@pytest.fixture
def phone(app: Flask) -> Callable[..., Any]:
    """Place a simulated call against the in-process app."""
    from callcenter.simulator.leg.call import place_call
    from callcenter.simulator.transports import WsgiTransport

    def dial(from_: str = "+8613900139000", to: str = "+864008001234", **kw: Any) -> Any:
        transport = WsgiTransport(app, public_url=PUBLIC_URL)
        return place_call(
            transport,
            public_url=PUBLIC_URL,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_=from_,
            to=to,
            api_url=PUBLIC_URL + "/simulator",
            **kw,
        )

    return dial


@dataclass
class LiveServer:
    url: str
    app: Flask


@contextmanager
def serve_app(
    tmp_path: Path,
    database_url: str,
    clock: Clock | None = None,
    *,
    public_url: str | None = None,
    start_realtime: bool = False,
    **overrides: Any,
) -> Iterator[LiveServer]:
    """The app on a free port of 127.0.0.1, stopped with everything it started afterwards.

    Its public URL is where it listens unless `public_url` names another, with the
    simulator under it; `overrides` are further settings (they win over both).
    """
    before = set(threading.enumerate())
    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    public = public_url or url
    settings = {"public_url": public, "twilio_api_url": public + "/simulator", **overrides}
    app = create_app(app_config(tmp_path, database_url, **settings))
    if clock is not None:
        app.extensions["callcenter"].engine.clock = clock
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    if start_realtime:
        app.extensions["callcenter"].extras["realtime"].start()
    try:
        yield LiveServer(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        close_app(app, before)


@pytest.fixture
def live_server(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[LiveServer]:
    """The app on a real port of 127.0.0.1, its public URL pointing at itself."""
    with serve_app(tmp_path, database_url, clock) as live:
        yield live


@dataclass
class WaitingCaller:
    """A simulated caller running in its own thread, reachable by the simulator's REST API."""

    call_sid: str
    thread: threading.Thread
    outcome: dict[str, Any]

    def result(self, timeout: float = 30) -> Any:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the simulated call did not end"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]


def start_caller(
    app: Flask, public_url: str, from_: str, inputs: list[str], **options: Any
) -> WaitingCaller:
    """Place a call through the IVR in the background (simulated time runs at `pace`)."""
    import uuid

    from callcenter.simulator.leg.call import place_call
    from callcenter.simulator.transports import WsgiTransport

    services = app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    call_sid = "CA" + uuid.uuid4().hex
    outcome: dict[str, Any] = {}
    options.setdefault("pace", 0.02)
    options.setdefault("hold_seconds", 900)
    options.setdefault("dial_talk_seconds", 20)

    def run() -> None:
        try:
            outcome["result"] = place_call(
                WsgiTransport(app, public_url=public_url),
                public_url=public_url,
                account_sid=services.settings.twilio_account_sid,
                auth_token=services.settings.twilio_auth_token,
                from_=from_,
                to="+864008001234",
                inputs=inputs,
                api_url=public_url + "/simulator",
                switchboard=board,
                call_sid=call_sid,
                **options,
            )
        except Exception as exc:  # surfaced by WaitingCaller.result()
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=f"caller-{call_sid[-6:]}", daemon=True)
    thread.start()
    return WaitingCaller(call_sid, thread, outcome)
