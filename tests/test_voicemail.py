"""Voicemail end to end over real HTTP: a simulated caller leaves a message on the live
server, the simulator's Twilio API keeps the audio, and a RecordingFetcher downloads it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LiveServer
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from callcenter.db import Database
from callcenter.media.recording_fetcher import RecordingFetcher
from callcenter.models import Call, CallEvent, RecordingDownload, Voicemail
from callcenter.simulator.leg.call import place_call
from callcenter.simulator.leg.events import CallResult
from callcenter.simulator.recordings import RecordingStore
from callcenter.simulator.transports import HttpTransport

SAVED = "Thank you, your message has been saved. Goodbye."
EMPTY = "We did not hear a message. Goodbye."
LEAVE_MESSAGE = (
    "Please leave your name, number and message after the tone. "
    "Press the pound key when you are done."
)
CALLER = "+8613900139000"


class FetcherClock:
    """The fetcher's clock: a minute ahead of real time, so new jobs are due at once."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=60)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def leave_voicemail(live_server: LiveServer, **kw: Any) -> CallResult:
    settings = live_server.app.extensions["callcenter"].settings
    with HttpTransport(live_server.url) as transport:
        return place_call(
            transport,
            public_url=live_server.url,
            api_url=live_server.url + "/simulator",
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_=kw.pop("from_", CALLER),
            to="+864008001234",
            inputs=kw.pop("inputs", ["1", "4"]),
            **kw,
        )


def recordings_dir(live_server: LiveServer) -> Path:
    settings = live_server.app.extensions["callcenter"].settings
    return settings.path(settings.recordings_dir)


def make_fetcher(
    live_server: LiveServer, clock: FetcherClock, database: Database | None = None
) -> RecordingFetcher:
    services = live_server.app.extensions["callcenter"]
    settings = services.settings
    return RecordingFetcher(
        (database or services.database).sessions,
        settings.path(settings.recordings_dir),
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.downloads,
        clock=clock,
    )


def store(live_server: LiveServer) -> RecordingStore:
    return live_server.app.extensions["callcenter"].extras["simulator_recordings"]


def job(live_server: LiveServer, sid: str) -> RecordingDownload:
    with live_server.app.extensions["callcenter"].database.session() as session:
        found = session.scalars(
            select(RecordingDownload).where(RecordingDownload.recording_sid == sid)
        ).one()
        session.expunge(found)
        return found


def count(live_server: LiveServer, model: type) -> int:
    with live_server.app.extensions["callcenter"].database.session() as session:
        return len(session.scalars(select(model)).all())


def call_events(live_server: LiveServer, call_sid: str) -> list[CallEvent]:
    with live_server.app.extensions["callcenter"].database.session() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.call_sid == call_sid).order_by(CallEvent.id)
        ).all()
        session.expunge_all()
        return list(rows)


@pytest.fixture
def fetcher_clock() -> FetcherClock:
    return FetcherClock()


@pytest.fixture
def fetcher(live_server: LiveServer, fetcher_clock: FetcherClock) -> Iterator[RecordingFetcher]:
    with make_fetcher(live_server, fetcher_clock) as fetcher:
        yield fetcher


def test_voicemail_is_left_and_downloaded(
    live_server: LiveServer, fetcher: RecordingFetcher
) -> None:
    result = leave_voicemail(live_server, record_seconds=6)

    assert result.heard()[-2:] == [LEAVE_MESSAGE, SAVED]
    assert len(result.recordings) == 1
    sid = result.recordings[0]
    uploads = [x for x in result.exchanges if x.kind == "api"]
    assert [(x.method, x.status) for x in uploads] == [("POST", 201)]
    with live_server.app.extensions["callcenter"].database.session() as session:
        voicemail = session.scalars(select(Voicemail)).one()
        assert (voicemail.recording_sid, voicemail.mailbox, voicemail.duration_seconds) == (
            sid,
            "support",
            6,
        )
        assert voicemail.status == "new"
    pending = job(live_server, sid)
    assert (pending.status, pending.attempts) == ("pending", 0)

    outcomes = fetcher.run_due()

    assert [(o.recording_sid, o.ok, o.error) for o in outcomes] == [(sid, True, None)]
    done = job(live_server, sid)
    assert done.status == "done"
    assert done.attempts == 0
    assert done.last_error is None
    created = done.created_at
    expected_path = f"{created:%Y}/{created:%m}/{created:%d}/{sid}.wav"
    assert done.path == expected_path
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/RE[0-9a-f]{32}\.wav", done.path)
    saved = recordings_dir(live_server) / expected_path
    assert outcomes[0].path == saved
    assert saved.is_file()
    original = store(live_server).get(sid)
    assert original is not None
    audio = saved.read_bytes()
    assert audio == original[0]
    assert hashlib.sha256(audio).hexdigest() == done.sha256
    assert hashlib.sha256(original[0]).hexdigest() == done.sha256
    assert done.size_bytes == len(original[0])
    assert done.content_type == "audio/x-wav"
    assert fetcher.run_due() == []  # nothing left to do


def test_failed_downloads_are_retried_with_backoff(
    live_server: LiveServer, fetcher: RecordingFetcher, fetcher_clock: FetcherClock
) -> None:
    result = leave_voicemail(live_server)
    sid = result.recordings[0]
    store(live_server).inject(fail_next=2)
    backoff = live_server.app.extensions["callcenter"].settings.downloads.backoff_seconds

    first = fetcher.run_due()
    assert [(o.recording_sid, o.ok, o.path) for o in first] == [(sid, False, None)]
    assert "HTTP 500" in (first[0].error or "")
    after_first = job(live_server, sid)
    assert (after_first.status, after_first.attempts) == ("pending", 1)
    assert "HTTP 500" in (after_first.last_error or "")
    assert after_first.next_attempt_at == fetcher_clock.now + timedelta(seconds=backoff)

    assert fetcher.run_due() == []  # not due before the backoff has passed
    fetcher_clock.advance(backoff + 1)
    second = fetcher.run_due()
    assert [o.ok for o in second] == [False]
    after_second = job(live_server, sid)
    assert (after_second.status, after_second.attempts) == ("pending", 2)
    assert after_second.next_attempt_at == fetcher_clock.now + timedelta(seconds=2 * backoff)

    fetcher_clock.advance(2 * backoff + 1)
    third = fetcher.run_due()
    assert [(o.recording_sid, o.ok) for o in third] == [(sid, True)]
    done = job(live_server, sid)
    assert (done.status, done.attempts, done.last_error) == ("done", 2, None)
    assert (recordings_dir(live_server) / done.path).read_bytes() == store(live_server).get(sid)[0]
    assert store(live_server).audio_gets == 3


def test_a_pending_download_is_finished_after_a_restart(
    live_server: LiveServer, fetcher_clock: FetcherClock
) -> None:
    result = leave_voicemail(live_server)
    sid = result.recordings[0]
    store(live_server).inject(fail_next=1)
    with make_fetcher(live_server, fetcher_clock) as before_restart:
        assert [o.ok for o in before_restart.run_due()] == [False]
    assert job(live_server, sid).status == "pending"

    # A new process: its own engine on the same database, its own fetcher.
    settings = live_server.app.extensions["callcenter"].settings
    database = Database(settings.database_url, settings.base_dir)
    try:
        later = FetcherClock()
        later.now = fetcher_clock.now + timedelta(hours=1)
        with make_fetcher(live_server, later, database) as after_restart:
            outcomes = after_restart.run_due()
    finally:
        database.dispose()

    assert [(o.recording_sid, o.ok) for o in outcomes] == [(sid, True)]
    done = job(live_server, sid)
    assert (done.status, done.attempts) == ("done", 1)
    assert (recordings_dir(live_server) / done.path).is_file()


def test_a_repeated_recording_callback_changes_nothing(live_server: LiveServer) -> None:
    result = leave_voicemail(live_server)
    callback = next(x for x in result.exchanges if "/twilio/recording" in x.url)
    assert callback.status == 204
    settings = live_server.app.extensions["callcenter"].settings
    validator = RequestValidator(settings.twilio_auth_token)

    def post(params: dict[str, str]) -> int:
        signature = validator.compute_signature(callback.url, params)
        response = requests.post(
            callback.url, data=params, headers={"X-Twilio-Signature": signature}, timeout=10
        )
        with response:
            return response.status_code

    # Exactly the same delivery (Twilio retrying), then one with an extra parameter, so
    # that it is not a replay of a stored answer but reaches the voicemail code again.
    assert post(dict(callback.params)) == 204
    assert post({**callback.params, "ErrorCode": ""}) == 204

    assert count(live_server, Voicemail) == 1
    assert count(live_server, RecordingDownload) == 1
    stored = [e for e in call_events(live_server, result.call_sid) if e.kind == "voicemail.stored"]
    assert len(stored) == 1


def test_an_unsigned_recording_callback_is_refused(live_server: LiveServer) -> None:
    result = leave_voicemail(live_server)
    callback = next(x for x in result.exchanges if "/twilio/recording" in x.url)
    forged = {**callback.params, "RecordingSid": "RE" + "f" * 32}
    response = requests.post(
        callback.url, data=forged, headers={"X-Twilio-Signature": "forged"}, timeout=10
    )
    with response:
        assert response.status_code == 403
    assert count(live_server, Voicemail) == 1


def test_silent_caller_hears_that_no_message_was_recorded(live_server: LiveServer) -> None:
    result = leave_voicemail(live_server, record_seconds=0)

    assert result.heard()[-2:] == [LEAVE_MESSAGE, EMPTY]
    record = next(e for e in result.events if e.kind == "record")
    assert record.details["duration"] == 0
    kinds = [e.kind for e in call_events(live_server, result.call_sid)]
    assert "voicemail.empty" in kinds
    assert "voicemail.recorded" not in kinds


def test_silent_recording_leaves_no_voicemail(live_server: LiveServer) -> None:
    result = leave_voicemail(live_server, record_seconds=0)

    assert result.heard()[-1] == EMPTY
    # The caller was told nothing was recorded: no voicemail, no download, no outcome.
    assert count(live_server, Voicemail) == 0
    assert count(live_server, RecordingDownload) == 0
    with live_server.app.extensions["callcenter"].database.session() as session:
        call = session.scalars(select(Call)).one()
        assert call.outcome != "voicemail"


def test_caller_hanging_up_at_the_tone_leaves_no_voicemail(live_server: LiveServer) -> None:
    """Twilio's side of a caller who hangs up during <Record> without a word: the action
    without RecordingUrl, and the recording status callback with RecordingStatus=absent."""
    settings = live_server.app.extensions["callcenter"].settings
    validator = RequestValidator(settings.twilio_auth_token)
    call_sid = "CA" + "7" * 32
    base = {
        "AccountSid": settings.twilio_account_sid,
        "CallSid": call_sid,
        "From": CALLER,
        "To": "+864008001234",
        "CallStatus": "in-progress",
    }

    def post(path: str, params: dict[str, str]) -> requests.Response:
        url = live_server.url + path
        signature = validator.compute_signature(url, params)
        headers = {"X-Twilio-Signature": signature}
        return requests.post(url, data=params, headers=headers, timeout=10)

    hung_up = {**base, "CallStatus": "completed", "RecordingDuration": "0", "Digits": "hangup"}
    absent = {
        **base,
        "RecordingSid": "RE" + "8" * 32,
        "RecordingStatus": "absent",
        "RecordingDuration": "0",
    }
    with post("/twilio/voice", base) as answer:
        assert answer.status_code == 200
    with post("/twilio/voicemail/done?mailbox=support&lang=en&seq=2", hung_up) as done:
        assert done.status_code == 200
        assert EMPTY in done.text
    with post("/twilio/recording?mailbox=support", absent) as callback:
        assert callback.status_code == 204

    kinds = [e.kind for e in call_events(live_server, call_sid)]
    assert "voicemail.empty" in kinds
    assert "recording.absent" in kinds
    assert count(live_server, Voicemail) == 0
    assert count(live_server, RecordingDownload) == 0


def test_twilios_copy_is_deleted_after_a_verified_download_when_configured(
    live_server: LiveServer, fetcher_clock: FetcherClock
) -> None:
    result = leave_voicemail(live_server)
    sid = result.recordings[0]
    services = live_server.app.extensions["callcenter"]
    settings = services.settings
    config = settings.downloads.model_copy(update={"delete_remote": True})
    with RecordingFetcher(services.database.sessions, settings.path(settings.recordings_dir),
                          settings.twilio_account_sid, "not-the-token", config,
                          clock=fetcher_clock) as refused:  # fmt: skip
        assert [o.ok for o in refused.run_due()] == [False]  # wrong credentials: 401
    assert store(live_server).get(sid) is not None
    with RecordingFetcher(services.database.sessions, settings.path(settings.recordings_dir),
                          settings.twilio_account_sid, settings.twilio_auth_token, config,
                          clock=fetcher_clock) as fetcher:  # fmt: skip
        fetcher_clock.now += timedelta(hours=1)
        original = fetcher.http.delete

        def network_down(*args: Any, **kwargs: Any) -> Any:
            raise requests.ConnectionError("network down")

        fetcher.http.delete = network_down  # type: ignore[method-assign]
        assert [o.ok for o in fetcher.run_due()] == [True]
        assert store(live_server).get(sid) is not None  # kept: the delete failed
        assert job(live_server, sid).remote_deleted_at is None
        fetcher.http.delete = original  # type: ignore[method-assign]
        assert fetcher.delete_remote_copies() == 1  # the worker's retry
    assert store(live_server).get(sid) is None
    done = job(live_server, sid)
    assert done.status == "done" and done.remote_deleted_at is not None
    assert (recordings_dir(live_server) / done.path).is_file()
