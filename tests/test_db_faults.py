"""A bad day for the database: webhooks still answer within Twilio's budget, the process
recovers by itself once the fault is over, and /healthz says when it cannot write.

The faults are real: the SQLite file is made unwritable at the file-system level, and
another process holds SQLite's write lock.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import TwilioWebhooks, call_params
from flask import Flask
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import make_url
from test_webhooks import (
    EN_SAY,
    MAIN_MENU,
    OTHER_SID,
    SID,
    ZH_SAY,
    apology_text,
    assert_apology,
    recording_params,
    to_main_menu,
    twiml,
    verbs,
)

from callcenter.cli import main as cli_main
from callcenter.db import Database
from callcenter.media.retention import PURGE_BATCH, purge_expired
from callcenter.models import Call, Customer, RecordingDownload, Voicemail, utcnow
from callcenter.people.customers import IMPORT_BATCH

THIRD_SID = "CA" + "5" * 32
# Twilio hangs up on a webhook after 15 s; we promise an answer well inside 10 s.
TWILIO_BUDGET = 10.0


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip("a SQLite fault")
    return Path(url.database or "")


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make the database file unwritable for real, then writable again.

    Tests run as root, and root ignores permission bits (CAP_DAC_OVERRIDE), so a chmod
    would not stop it: as root the file is made immutable (``chattr +i``), which refuses
    even root's ``open(O_RDWR)``, exactly as a read-only mount or a permission change
    refuses the service user. Other users get ``chmod a-w``. SQLite then opens the file
    read-only and every write fails with "attempt to write a readonly database".
    """
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make the file immutable here: {done.stderr.strip()}")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        return
    mode = path.stat().st_mode
    path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        yield
    finally:
        path.chmod(mode)


def is_apology(app: Flask, response: Any) -> bool:
    root = twiml(response)
    apologies = {apology_text(app, "en"), apology_text(app, "zh-CN")}
    return verbs(root) == ["Say", "Record"] and root[0].text in apologies


def test_connections_opened_while_unwritable_are_replaced_once_writable(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """The process starts (or opens connections) while the file cannot be written; once it
    can again, calls go through and voicemails are stored, without a restart."""
    path = sqlite_path(database_url)
    with unwritable(path):
        app = make_app()
        database = app.extensions["callcenter"].database
        twilio = TwilioWebhooks(app.test_client())
        # Concurrent requests during the fault leave several read-only connections pooled.
        connections = [database.engine.connect() for _ in range(4)]
        for connection in connections:
            connection.execute(text("SELECT 1"))
        for connection in connections:
            connection.close()
        during = twilio.post("/twilio/voice", call_params(OTHER_SID))
        assert_apology(app, during, "en", EN_SAY)

    answers = [twilio.post("/twilio/voice", call_params("CA" + f"{n:032x}")) for n in range(1, 9)]
    assert [is_apology(app, answer) for answer in answers] == [False] * len(answers)
    with database.session() as session:
        assert session.scalar(select(Call).where(Call.call_sid == "CA" + f"{8:032x}"))

    to_main_menu(twilio)
    stored = twilio.post("/twilio/recording", recording_params(), query={"mailbox": "support"})
    assert stored.status_code == 204
    with database.session() as session:
        assert session.scalar(select(Voicemail).where(Voicemail.call_sid == SID)) is not None


def test_healthz_reports_a_database_that_cannot_be_written(
    make_app: Callable[..., Flask], database_url: str
) -> None:
    """The process that cannot write says so, so a load balancer takes it out; it says
    ``ok`` again as soon as it can (without a restart)."""
    with unwritable(sqlite_path(database_url)):
        client = make_app().test_client()
        response = client.get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["database"] == "error: read-only"
        assert response.get_json()["status"] == "unavailable"
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


LOCKER = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
connection.execute("ROLLBACK")
"""


@contextmanager
def write_lock_held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process (as a backup or a long import would) holds the write lock."""
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline().strip() == "locked"
        yield locker
    finally:
        locker.terminate()
        locker.wait(10)
        if locker.stdout is not None:
            locker.stdout.close()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def test_webhooks_answer_inside_twilios_budget_while_another_process_holds_the_lock(
    app: Flask, twilio: TwilioWebhooks, database_url: str
) -> None:
    """A 40-second exclusive lock: a new call gets the apology (and a voicemail prompt) in
    about the webhook lock timeout (5 s), not after 30 s or Twilio's 15 s error."""
    path = sqlite_path(database_url)
    to_main_menu(twilio, SID, digit="2")  # a caller who chose Chinese
    with write_lock_held(path, 40) as locker:
        started = time.monotonic()
        # Two new calls one after the other: each is answered while the lock is held.
        for call_sid in (OTHER_SID, THIRD_SID):
            response, elapsed = timed(lambda: twilio.post("/twilio/voice", call_params(call_sid)))  # noqa: B023
            assert elapsed < TWILIO_BUDGET - 3, elapsed
            assert_apology(app, response, "en", EN_SAY)

        # Reads do not wait for the lock: the hold loop answers at once...
        query = {"queue": "support", "lang": "en"}
        waiting, elapsed = timed(
            lambda: twilio.post("/twilio/queue/wait", call_params(SID), query=query)
        )
        assert elapsed < 1.0, elapsed
        assert waiting.status_code == 200 and not is_apology(app, waiting)
        # ... and /healthz says the database cannot be written, quickly.
        health, elapsed = timed(lambda: twilio.client.get("/healthz"))
        assert elapsed < 3.5, elapsed
        assert health.status_code == 503
        assert health.get_json()["database"] == "error: locked"
        # All of this happened under one lock held for longer than Twilio's budget.
        assert time.monotonic() - started > TWILIO_BUDGET
        assert locker.poll() is None

    # The lock is gone: the caller's retry (Twilio retries nothing, but the next step) works.
    after = twilio.post("/twilio/gather", call_params(SID, Digits="9"), query=MAIN_MENU)
    assert after.status_code == 200 and not is_apology(app, after)


def test_a_caller_mid_call_hears_the_apology_in_their_language_under_a_lock(
    app: Flask, twilio: TwilioWebhooks, database_url: str
) -> None:
    """The apology reads the caller's language without the write lock (budget shortened)."""
    app.extensions["callcenter"].database.webhook_lock_timeout = 0.5
    to_main_menu(twilio, SID, digit="2")
    with write_lock_held(sqlite_path(database_url), 20):
        response, elapsed = timed(
            lambda: twilio.post("/twilio/gather", call_params(SID, Digits="1"), query=MAIN_MENU)
        )
    assert elapsed < 2.0, elapsed
    assert_apology(app, response, "zh-CN", ZH_SAY)


# --------------------------------------------------------------- long maintenance commands


@contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Count the transactions committed by any engine (the command builds its own)."""
    commits: list[int] = []

    def count(_connection: Any) -> None:
        commits.append(1)

    event.listen(Engine, "commit", count)
    try:
        yield commits
    finally:
        event.remove(Engine, "commit", count)


def customers_csv(path: Path, rows: int, *, bad_last_row: bool = False) -> Path:
    lines = ["name,phone,tier,language,account,notes"]
    lines += [f"Customer {n},+86139{n:08d},normal,en,ACC{n:05d}," for n in range(rows)]
    if bad_last_row:
        lines[-1] = "Customer X,not a phone,normal,en,,"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_customers_import_commits_in_batches_after_checking_every_row(
    database_url: str, tmp_path: Path
) -> None:
    """A long import never holds the write lock for the whole file; a bad row anywhere
    still means nothing is written."""
    env = {"CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_SECRET_KEY": "x" * 32}
    runner = CliRunner(mix_stderr=False)
    rows = IMPORT_BATCH * 2 + 10

    bad = customers_csv(tmp_path / "bad.csv", rows, bad_last_row=True)
    with counting_commits() as commits:
        refused = runner.invoke(cli_main, ["customers", "import", str(bad)], env=env)
    assert refused.exit_code == 1 and "nothing was imported" in refused.stderr
    assert commits == []

    good = customers_csv(tmp_path / "good.csv", rows)
    with counting_commits() as commits:
        done = runner.invoke(cli_main, ["customers", "import", str(good)], env=env)
    assert done.exit_code == 0, done.output + done.stderr
    assert f"{rows} created" in done.output
    assert len(commits) == 3  # 500 + 500 + 10 rows
    database = Database(database_url)
    try:
        with database.session() as session:
            assert session.scalar(select(func.count()).select_from(Customer)) == rows
    finally:
        database.dispose()


def test_recordings_purge_commits_in_batches(app: Flask, tmp_path: Path) -> None:
    database = app.extensions["callcenter"].database
    settings = app.extensions["callcenter"].settings
    old = utcnow() - timedelta(days=400)
    count = PURGE_BATCH * 2 + 5
    with database.session() as session:
        for n in range(count):
            session.add(
                RecordingDownload(recording_sid=f"RE{n:032x}", call_sid=f"CA{n:032x}",
                                  purpose="call", source_url="https://x.test/r", status="done",
                                  path=f"2025/01/01/RE{n:032x}.wav", completed_at=old)
            )  # fmt: skip
    checkpoints: list[int] = []
    with database.session() as session:
        report = purge_expired(
            session, tmp_path, settings.retention, utcnow(),
            checkpoint=lambda: (checkpoints.append(1), session.commit()),
        )  # fmt: skip
    assert len(report.purged) == count
    assert len(checkpoints) == 2  # after 100 and 200; the rest commits at the end
    with database.session() as session:
        left = select(func.count()).where(RecordingDownload.purged_at.is_(None))
        assert session.scalar(left) == 0
