"""Erasure reaches Twilio's copies of the recordings: through the live server's simulator,
`callcenter customers erase` deletes every recording of the person's calls and voicemails
that Twilio still holds (downloaded or not), says what is pending when Twilio refuses, and
the download worker's deleter finishes it later (after a restart, once across processes);
a download not finished, or a recording reported after the erasure, never brings the audio
back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import yaml
from click.testing import CliRunner, Result
from conftest import Clock, LiveServer
from sqlalchemy import select
from test_voicemail import FetcherClock, leave_voicemail, make_fetcher, recordings_dir, store
from twilio.request_validator import RequestValidator

from callcenter.cli import main
from callcenter.config import DEFAULT_CONFIG_FILE
from callcenter.crm.erasure import erase_customer
from callcenter.db import Database
from callcenter.media.downloads import retry_failed
from callcenter.media.models import RemoteRecordingDeletion
from callcenter.media.remote_erasure import RemoteDeleter
from callcenter.models import CallRecording, Customer, CustomerPhone, RecordingDownload, utcnow
from callcenter.simulator.audio import wav_bytes
from callcenter.telephony.bridge import rest_client
from callcenter.telephony.recordings import TwilioRecordings

CALLER = "+8613800138000"


def a_customer(live_server: LiveServer, clock: Clock) -> int:
    """Zhang Wuji, calling after hours (straight to voicemail)."""
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    with live_server.app.extensions["callcenter"].database.session() as session:
        customer = Customer(name="Zhang Wuji", language="en")
        customer.phones.append(CustomerPhone(number=CALLER))
        session.add(customer)
        session.commit()
        return customer.id


def a_late_call_recording(live_server: LiveServer, call_sid: str) -> str:
    """A call recording Twilio holds and whose `completed` callback has not come yet."""
    metadata = store(live_server).create(call_sid, wav_bytes(2), source="StartCallRecordingAPI")
    with live_server.app.extensions["callcenter"].database.session() as session:
        session.add(CallRecording(call_sid=call_sid, leg_sid=call_sid, status="in-progress",
                                  recording_sid=metadata["sid"]))  # fmt: skip
        session.commit()
    return str(metadata["sid"])


def erase_command(live_server: LiveServer, tmp_path: Path, customer_id: int) -> Result:
    """`callcenter customers erase ID --yes` on the live server's database and simulator."""
    settings = live_server.app.extensions["callcenter"].settings
    config = yaml.safe_load(Path(DEFAULT_CONFIG_FILE).read_text(encoding="utf-8"))
    config["recordings_dir"] = str(settings.path(settings.recordings_dir))
    config_file = tmp_path / "erase-config.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {
        "CALLCENTER_CONFIG": str(config_file),
        "CALLCENTER_DATABASE_URL": settings.database_url,
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
        "CALLCENTER_TWILIO_API_URL": live_server.url + "/simulator",
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
    }
    result = CliRunner(mix_stderr=False).invoke(
        main, ["customers", "erase", str(customer_id), "--yes"], env=env
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def deleter(live_server: LiveServer, clock: FetcherClock, database: Database) -> RemoteDeleter:
    settings = live_server.app.extensions["callcenter"].settings
    client = rest_client(settings.twilio_account_sid, settings.twilio_auth_token,
                         live_server.url + "/simulator", timeout=10)  # fmt: skip
    return RemoteDeleter(database.sessions, TwilioRecordings(client).delete, settings.downloads,
                         clock=clock)  # fmt: skip


def deletions(live_server: LiveServer) -> dict[str, tuple[str, int]]:
    with live_server.app.extensions["callcenter"].database.session() as session:
        rows = session.scalars(select(RemoteRecordingDeletion)).all()
        return {row.recording_sid: (row.status, row.attempts) for row in rows}


def test_erasure_deletes_twilios_copies_of_every_recording(
    live_server: LiveServer, tmp_path: Path, clock: Clock
) -> None:
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [voicemail_sid] = voicemail.recordings
    with make_fetcher(live_server, FetcherClock()) as fetcher:  # downloaded, Twilio's kept
        assert [o.ok for o in fetcher.run_due()] == [True]
    call_recording = a_late_call_recording(live_server, voicemail.call_sid)
    assert store(live_server).get(voicemail_sid) is not None  # the test can fail
    assert store(live_server).get(call_recording) is not None

    result = erase_command(live_server, tmp_path, customer_id)

    assert "Twilio's copies of the recordings: 2 deleted, 0 pending" in result.stdout
    assert store(live_server).get(voicemail_sid) is None
    assert store(live_server).get(call_recording) is None
    assert store(live_server).deletes == 2
    assert deletions(live_server) == {voicemail_sid: ("done", 1), call_recording: ("done", 1)}
    assert not [path for path in recordings_dir(live_server).rglob("*") if path.is_file()]


def test_a_refused_deletion_is_retried_later_after_a_restart_and_sent_once(
    live_server: LiveServer, tmp_path: Path, clock: Clock
) -> None:
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [voicemail_sid] = voicemail.recordings
    call_recording = a_late_call_recording(live_server, voicemail.call_sid)
    store(live_server).fail_deletes(2, status=503)  # Twilio is down

    result = erase_command(live_server, tmp_path, customer_id)

    assert "Twilio's copies of the recordings: 0 deleted, 2 pending" in result.stdout
    assert f"pending: {voicemail_sid}" in result.stdout
    assert store(live_server).get(voicemail_sid) is not None
    assert deletions(live_server) == {voicemail_sid: ("pending", 1), call_recording: ("pending", 1)}

    # Another process, started later (its own engine on the same database).
    settings = live_server.app.extensions["callcenter"].settings
    database = Database(settings.database_url, settings.base_dir)
    later_clock = FetcherClock()
    try:
        later = deleter(live_server, later_clock, database)
        rival = deleter(live_server, later_clock, database)
        later_clock.advance(-120)
        assert later.run_due() == []  # not before the backoff has passed
        later_clock.advance(120 + settings.downloads.backoff_seconds + 1)
        sent = later.delete
        rival_saw: list[Any] = []

        def while_claimed(recording_sid: str) -> None:
            rival_saw.extend(rival.run_due())  # the other process finds nothing to take
            sent(recording_sid)

        later.delete = while_claimed
        outcomes = later.run_due()
    finally:
        database.dispose()
    # Each deletion sent by one process only (the rival may take the other one meanwhile).
    assert sorted((o.recording_sid, o.ok) for o in outcomes + rival_saw) == sorted(
        [(voicemail_sid, True), (call_recording, True)]
    )
    assert store(live_server).get(voicemail_sid) is None
    assert store(live_server).get(call_recording) is None
    assert store(live_server).deletes == 4  # two refused, two sent once each
    assert deletions(live_server) == {voicemail_sid: ("done", 2), call_recording: ("done", 2)}


def test_a_pending_download_of_an_erased_call_does_not_bring_the_audio_back(
    live_server: LiveServer, clock: Clock
) -> None:
    services = live_server.app.extensions["callcenter"]
    customer_id = a_customer(live_server, clock)
    voicemail = leave_voicemail(live_server, from_=CALLER, inputs=["1"], record_seconds=4)
    [voicemail_sid] = voicemail.recordings
    call_recording = a_late_call_recording(live_server, voicemail.call_sid)
    store(live_server).fail_deletes(10)  # Twilio keeps them all through this test
    fetch_clock = FetcherClock()
    with make_fetcher(live_server, fetch_clock) as fetcher:
        real_get = fetcher.http.get

        def erased_meanwhile(*args: Any, **kwargs: Any) -> Any:
            # The erasure commits while this download is under way.
            with services.database.session() as session:
                erase_customer(session, customer_id, recordings_dir(live_server), utcnow())
                session.commit()
            return real_get(*args, **kwargs)

        fetcher.http.get = erased_meanwhile  # type: ignore[method-assign]
        outcomes = fetcher.run_due()
        assert [(o.recording_sid, o.ok) for o in outcomes] == [(voicemail_sid, False)]
        fetcher.http.get = real_get  # type: ignore[method-assign]

        # Twilio reports the call recording after the erasure (a late callback) ...
        url = f"{live_server.url}/twilio/recording/call?call={voicemail.call_sid}"
        params = {"AccountSid": services.settings.twilio_account_sid,
                  "CallSid": voicemail.call_sid, "RecordingSid": call_recording,
                  "RecordingStatus": "completed", "RecordingDuration": "2",
                  "RecordingChannels": "1",
                  "RecordingUrl": f"{live_server.url}/simulator/2010-04-01/Accounts/"
                                  f"{services.settings.twilio_account_sid}/Recordings/"
                                  f"{call_recording}"}  # fmt: skip
        signature = RequestValidator(services.settings.twilio_auth_token).compute_signature(
            url, params
        )
        answer = requests.post(url, data=params, headers={"X-Twilio-Signature": signature},
                               timeout=10)  # fmt: skip
        assert answer.status_code == 204
        # ... and someone retries the failed downloads: still nothing comes back.
        with services.database.session() as session:
            assert retry_failed(session) == 0
            session.commit()
        fetch_clock.advance(24 * 3600)
        assert fetcher.run_due() == []
    assert not [path for path in recordings_dir(live_server).rglob("*") if path.is_file()]
    with services.database.session() as session:
        jobs = {job.recording_sid: job for job in session.scalars(select(RecordingDownload))}
        assert set(jobs) == {voicemail_sid, call_recording}
        assert all(job.status == "failed" and job.purged_at for job in jobs.values())
        assert all(job.path is None for job in jobs.values())
    # Both are still to be deleted from Twilio (the late one again, now it is complete).
    assert {sid: status for sid, (status, _) in deletions(live_server).items()} == {
        voicemail_sid: "pending",
        call_recording: "pending",
    }


def test_a_recording_already_gone_from_twilio_counts_as_deleted(live_server: LiveServer) -> None:
    settings = live_server.app.extensions["callcenter"].settings
    client = rest_client(settings.twilio_account_sid, settings.twilio_auth_token,
                         live_server.url + "/simulator", timeout=10)  # fmt: skip
    sid = store(live_server).create("CA" + "1" * 32, wav_bytes(1))["sid"]
    TwilioRecordings(client).delete(sid)
    assert store(live_server).get(sid) is None
    TwilioRecordings(client).delete(sid)  # 404 now: gone, no error
    assert store(live_server).deletes == 2
