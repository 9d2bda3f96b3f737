"""A deletion of Twilio's copy of an erased person's recording that Twilio keeps refusing
is retried with its own backoff for about 3 days (`downloads.erasure_max_attempts`), shown
to admins as failing meanwhile, then stops: it is then ``failed``, logged as an error,
counted on `/metrics`, and `callcenter recordings retry` (an admin, audited) sends it again
with a fresh budget. A 404 means already gone: done, never retried."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import Clock, LiveServer
from sqlalchemy import select
from test_admin import audit_of
from test_erasure_remote import CALLER, a_customer, deleter, deletions, erase_command
from test_prometheus import scrape, value
from test_voicemail import FetcherClock, leave_voicemail, store

from callcenter.cli import main
from callcenter.config import DEFAULT_CONFIG_FILE
from callcenter.media.models import RemoteRecordingDeletion
from callcenter.media.remote_erasure import deletions_not_done
from callcenter.models import utcnow


def command(live_server: LiveServer, tmp_path: Path, *args: str) -> Result:
    """`callcenter ARGS` on the live server's database and simulator."""
    settings = live_server.app.extensions["callcenter"].settings
    config = yaml.safe_load(Path(DEFAULT_CONFIG_FILE).read_text(encoding="utf-8"))
    config["recordings_dir"] = str(settings.path(settings.recordings_dir))
    config_file = tmp_path / "command-config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {
        "CALLCENTER_CONFIG": str(config_file),
        "CALLCENTER_DATABASE_URL": settings.database_url,
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
    }
    result = CliRunner(mix_stderr=False).invoke(main, list(args), env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def test_a_deletion_twilio_keeps_refusing_stops_is_shown_and_can_be_retried(
    live_server: LiveServer, tmp_path: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    settings = live_server.app.extensions["callcenter"].settings
    budget = settings.downloads.erasure_max_attempts
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [sid] = voicemail.recordings
    store(live_server).fail_deletes(budget, status=503)  # Twilio refuses all of them

    assert "0 deleted, 1 pending" in erase_command(live_server, tmp_path, customer_id).stdout
    assert deletions(live_server) == {sid: ("pending", 1)}

    later_clock = FetcherClock()
    later = deleter(live_server, later_clock, live_server.app.extensions["callcenter"].database)
    caplog.set_level(logging.WARNING, logger="callcenter.recordings")
    for attempt in range(2, budget + 1):
        later_clock.advance(settings.downloads.erasure_max_backoff_seconds + 1)
        [outcome] = later.run_due()
        assert (outcome.ok, deletions(live_server)[sid][1]) == (False, attempt)
        assert later.run_due() == []  # with backoff: not again at once
    assert deletions(live_server) == {sid: ("failed", budget)}
    assert [r.levelno for r in caplog.records if "giving up" in r.getMessage()] == [logging.ERROR]

    later_clock.advance(30 * 24 * 3600)  # stopped: never sent again by itself
    assert later.run_due() == []
    assert store(live_server).deletes == budget
    assert store(live_server).get(sid) is not None
    figures = scrape(live_server)
    assert value(figures, "callcenter_remote_deletions", status="failed") == 1
    assert value(figures, "callcenter_remote_deletions", status="pending") == 0

    retried = command(live_server, tmp_path, "recordings", "retry")
    assert "1 failed deletion(s) of Twilio's copies will be retried" in retried.stdout
    assert deletions(live_server) == {sid: ("pending", 0)}
    [entry] = audit_of(live_server.app, "erasure.retry")
    assert entry.actor.startswith("command line (") and entry.actor_id is None
    assert entry.details["retried"] == 1
    assert value(scrape(live_server), "callcenter_remote_deletions", status="pending") == 1
    [outcome] = later.run_due()  # Twilio answers again
    assert outcome.ok and deletions(live_server) == {sid: ("done", 1)}
    assert store(live_server).get(sid) is None


def test_a_404_from_twilio_is_a_deletion_done(
    live_server: LiveServer, tmp_path: Path, clock: Clock
) -> None:
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [sid] = voicemail.recordings
    store(live_server).fail_deletes(1, status=404)  # Twilio: no such recording

    assert "1 deleted, 0 pending" in erase_command(live_server, tmp_path, customer_id).stdout
    assert deletions(live_server) == {sid: ("done", 1)}
    later = deleter(live_server, FetcherClock(), live_server.app.extensions["callcenter"].database)
    assert later.run_due() == []
    assert store(live_server).deletes == 1


def test_an_attempt_whose_process_died_counts(
    live_server: LiveServer, tmp_path: Path, clock: Clock
) -> None:
    """A deletion left `running` by a process that died is taken over when its lease
    expires, and that attempt counts: one that kills its process cannot loop forever."""
    services = live_server.app.extensions["callcenter"]
    budget = services.settings.downloads.erasure_max_attempts
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [sid] = voicemail.recordings
    store(live_server).fail_deletes(1, status=503)
    erase_command(live_server, tmp_path, customer_id)
    with services.database.session() as session:  # the last attempt's process died
        job = session.scalars(select(RemoteRecordingDeletion)).one()
        job.status, job.attempts, job.next_attempt_at = "running", budget - 1, utcnow()
    later_clock = FetcherClock()
    assert deleter(live_server, later_clock, services.database).run_due() == []
    assert deletions(live_server) == {sid: ("failed", budget)}
    assert store(live_server).deletes == 1  # not sent again


def test_an_erasure_is_retried_for_about_three_days_and_listed_as_failing_meanwhile(
    live_server: LiveServer, tmp_path: Path, clock: Clock
) -> None:
    """With the default settings (an afternoon of Twilio down or a rotated API key must not
    leave every erasure of it to an admin): still tried long after a download would have
    given up, listed for admins as failing with its next try, and given up after ~3 days."""
    services = live_server.app.extensions["callcenter"]
    downloads = services.settings.downloads
    assert downloads.erasure_max_backoff_seconds == 3600
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [sid] = voicemail.recordings
    store(live_server).fail_deletes(1000, status=503)
    erase_command(live_server, tmp_path, customer_id)
    later_clock = FetcherClock()
    started = later_clock()
    later = deleter(live_server, later_clock, services.database)

    def next_try() -> None:
        with services.database.session() as session:
            due = session.scalars(select(RemoteRecordingDeletion)).one().next_attempt_at
        wait = (due.replace(tzinfo=later_clock().tzinfo) - later_clock()).total_seconds()
        assert wait <= downloads.erasure_max_backoff_seconds
        later_clock.advance(max(wait, 0) + 1)
        [outcome] = later.run_due()
        assert not outcome.ok

    while deletions(live_server)[sid][1] < downloads.max_attempts + 1:
        next_try()
    assert deletions(live_server)[sid] == ("pending", downloads.max_attempts + 1)
    with services.database.session() as session:
        listed = deletions_not_done(session)
    assert (listed["failed"], listed["failed_count"], listed["failing_count"]) == ([], 0, 1)
    [failing] = listed["failing"]
    assert (failing["recording_sid"], failing["attempts"]) == (sid, downloads.max_attempts + 1)
    assert "503" in failing["last_error"] and failing["next_attempt_at"]

    while deletions(live_server)[sid][0] == "pending":
        next_try()
    assert deletions(live_server)[sid] == ("failed", downloads.erasure_max_attempts)
    assert 2.5 * 86400 < (later_clock() - started).total_seconds() < 3.5 * 86400
    with services.database.session() as session:
        listed = deletions_not_done(session)
    assert (listed["failed_count"], listed["failing"], listed["failing_count"]) == (1, [], 0)
