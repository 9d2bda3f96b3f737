"""Recording downloads against the simulator's Twilio API, served for real over HTTP."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import threading
import time
import wave
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import WSGIRequestHandler, make_server

import callcenter.media.downloads as recordings
import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.config import DownloadConfig
from callcenter.db import Base, Database
from callcenter.media.download_worker import DownloadWorker
from callcenter.media.downloads import backoff, enqueue_download, media_url, retry_failed
from callcenter.media.recording_fetcher import RecordingFetcher
from callcenter.models import RecordingDownload
from callcenter.simulator.audio import wav_bytes
from callcenter.simulator.recordings import InvalidSid, RecordingStore
from callcenter.simulator.rest.recordings import create_simulator_api

ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
CALL = "CA" + "2" * 32
MISSING_SID = "RE" + "0" * 32
CONFIG = {
    "max_attempts": 3,
    "backoff_seconds": 10,
    "max_backoff_seconds": 60,
    "timeout_seconds": 5,
    "poll_seconds": 0.05,
}
LEASE = timedelta(seconds=2 * 5 + 60)  # 2 × timeout + 60 s


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> RecordingStore:
    return RecordingStore(tmp_path / "simulator")


@pytest.fixture
def server(store: RecordingStore) -> Iterator[str]:
    """The simulator API on a real socket; yields its base URL (…/simulator)."""
    app = Flask("simulator-test")
    app.register_blueprint(create_simulator_api(store, ACCOUNT, TOKEN), url_prefix="/simulator")
    httpd = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/simulator"
    httpd.shutdown()
    thread.join(10)
    httpd.server_close()


@pytest.fixture
def api(server: str) -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path}/t.db")
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recordings_dir(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def make_fetcher(
    server: str, db: Database, clock: Clock, recordings_dir: Path
) -> Iterator[Callable[..., RecordingFetcher]]:
    made: list[RecordingFetcher] = []

    def make(database: Database | None = None, **config: Any) -> RecordingFetcher:
        fetcher = RecordingFetcher(
            (database or db).sessions,
            recordings_dir,
            ACCOUNT,
            TOKEN,
            DownloadConfig(**(CONFIG | config)),
            clock=clock,
        )
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        fetcher.close()


@pytest.fixture
def fetcher(make_fetcher: Callable[..., RecordingFetcher]) -> RecordingFetcher:
    return make_fetcher()


def url(server: str, tail: str = "") -> str:
    return f"{server}/2010-04-01/Accounts/{ACCOUNT}/Recordings{tail}"


def deposit(
    api: requests.Session, server: str, audio: bytes, duration: int | None = None
) -> dict[str, Any]:
    data = {"CallSid": CALL} | ({"Duration": str(duration)} if duration is not None else {})
    response = api.post(
        url(server, ".json"),
        data=data,
        files={"media": ("caller.wav", audio, "audio/x-wav")},
        auth=(ACCOUNT, TOKEN),
    )
    assert response.status_code == 201, response.text
    return response.json()


def enqueue(
    db: Database,
    clock: Clock,
    sid: str,
    source_url: str,
    expected_duration: int | None = None,
) -> int:
    with db.session() as session:
        job = enqueue_download(
            session,
            recording_sid=sid,
            call_sid=CALL,
            source_url=source_url,
            expected_duration=expected_duration,
            now=clock.now,
        )
        session.flush()
        return job.id


def load(db: Database, sid: str) -> RecordingDownload:
    with db.session() as session:
        job = session.scalar(
            select(RecordingDownload).where(RecordingDownload.recording_sid == sid)
        )
        assert job is not None
        return job


def recording(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    seconds: float = 3.0,
    expected: int | None = 3,
) -> tuple[str, bytes]:
    """Deposit a recording in the simulator and enqueue its download; return (sid, audio)."""
    audio = wav_bytes(seconds)
    resource = deposit(api, server, audio)
    # Twilio's RecordingUrl: the resource URL without an extension.
    enqueue(db, clock, resource["sid"], resource["media_url"], expected)
    return resource["sid"], audio


def part_files(folder: Path) -> list[Path]:
    return list(folder.rglob("*.part")) if folder.exists() else []


# -- the simulator ---------------------------------------------------------------------------


def test_wav_bytes_is_tone_then_silence() -> None:
    audio = wav_bytes(2.0)
    with wave.open(io.BytesIO(audio)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 8000)
        assert reader.getnframes() == 16000
        tone = reader.readframes(8000)
        silence = reader.readframes(8000)
    assert len(audio) == 44 + 32000
    assert any(tone)
    assert silence == b"\x00" * 16000


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_api_requires_basic_auth(
    api: requests.Session, server: str, store: RecordingStore, method: str
) -> None:
    sid = store.create(CALL, wav_bytes(1))["sid"]
    target = url(server, ".json") if method == "post" else url(server, f"/{sid}")
    kwargs: dict[str, Any] = {}
    if method == "post":
        kwargs = {"data": {"CallSid": CALL}, "files": {"media": ("a.wav", wav_bytes(1))}}
    for auth in (None, (ACCOUNT, "wrong-token"), ("AC" + "9" * 32, TOKEN)):
        response = api.request(method, target, auth=auth, **kwargs)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic ")
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert len(list(store.root.glob("*.wav"))) == 1  # nothing created, nothing deleted
    assert store.audio_gets == 0


def test_api_other_account_is_not_found(api: requests.Session, server: str) -> None:
    other = "AC" + "9" * 32
    response = api.get(
        f"{server}/2010-04-01/Accounts/{other}/Recordings/{MISSING_SID}", auth=(ACCOUNT, TOKEN)
    )
    assert response.status_code == 404
    assert response.json()["code"] == 20404


def test_create_fetch_delete_round_trip(
    api: requests.Session, server: str, store: RecordingStore
) -> None:
    audio = wav_bytes(2.5)
    before = datetime.now(UTC).replace(microsecond=0)
    created = deposit(api, server, audio, duration=3)
    sid = created["sid"]
    assert len(sid) == 34 and sid.startswith("RE")
    assert created["account_sid"] == ACCOUNT
    assert created["call_sid"] == CALL
    assert created["duration"] == "3"
    assert created["channels"] == 1
    assert created["status"] == "completed"
    assert created["uri"] == f"/2010-04-01/Accounts/{ACCOUNT}/Recordings/{sid}.json"
    assert created["media_url"] == url(server, f"/{sid}")
    assert before <= parsedate_to_datetime(created["date_created"]) <= datetime.now(UTC)
    assert store.get(sid) == (audio, store.metadata(sid))

    auth = (ACCOUNT, TOKEN)
    for tail in ("", ".wav"):
        response = api.get(url(server, f"/{sid}{tail}"), auth=auth)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "audio/x-wav"
        assert response.headers["Content-Length"] == str(len(audio))
        assert response.content == audio
    assert store.audio_gets == 2
    assert api.get(url(server, f"/{sid}.json"), auth=auth).json() == created
    mp3 = api.get(url(server, f"/{sid}.mp3"), auth=auth)
    assert mp3.status_code == 415

    assert api.delete(url(server, f"/{sid}"), auth=auth).status_code == 204
    gone = api.get(url(server, f"/{sid}"), auth=auth)
    assert gone.status_code == 404
    assert gone.json()["code"] == 20404
    assert gone.json()["status"] == 404
    assert api.delete(url(server, f"/{sid}"), auth=auth).status_code == 404
    assert store.get(sid) is None
    assert list(store.root.iterdir()) == []


def test_create_derives_duration_and_validates(api: requests.Session, server: str) -> None:
    assert deposit(api, server, wav_bytes(2.0))["duration"] == "2"
    auth = (ACCOUNT, TOKEN)
    no_media = api.post(url(server, ".json"), data={"CallSid": CALL}, auth=auth)
    assert no_media.status_code == 400
    not_wav = api.post(
        url(server, ".json"),
        data={"CallSid": CALL},
        files={"media": ("a.wav", b"hello, not a wav file at all" * 3)},
        auth=auth,
    )
    assert not_wav.status_code == 400
    no_call = api.post(url(server, ".json"), files={"media": ("a.wav", wav_bytes(1))}, auth=auth)
    assert no_call.status_code == 400


@pytest.mark.parametrize(
    "sid", ["../t.db", "RE" + "0" * 31 + "/", "RE../../etc/passwd", "", "RE" + "A" * 32]
)
def test_store_rejects_bad_sids(store: RecordingStore, sid: str) -> None:
    with pytest.raises(InvalidSid):
        store.get(sid)
    with pytest.raises(InvalidSid):
        store.delete(sid)


def test_api_rejects_path_traversal(
    api: requests.Session, server: str, store: RecordingStore, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF-secret")
    auth = (ACCOUNT, TOKEN)
    for name in ("..%2F..%2Fsecret.wav", "%2E%2E%2F%2E%2E%2Fsecret", "RE..%2F..%2Fsecret"):
        response = api.get(url(server, f"/{name}"), auth=auth)
        assert response.status_code == 404, name
        assert response.json()["code"] == 20404
        assert b"RIFF-secret" not in response.content
        assert api.delete(url(server, f"/{name}"), auth=auth).status_code == 404
    assert secret.exists()


def test_enqueue_rejects_unsafe_sid(db: Database, clock: Clock) -> None:
    with pytest.raises(ValueError, match="not a recording SID"):
        enqueue(db, clock, "RE../../../etc", "http://127.0.0.1/x")
    with pytest.raises(ValueError, match="http"):
        enqueue(db, clock, MISSING_SID, "file:///etc/passwd")


def test_media_url_and_backoff() -> None:
    assert media_url("https://api.twilio.com/x/Recordings/RE1") == (
        "https://api.twilio.com/x/Recordings/RE1.wav"
    )
    assert media_url("https://h/x/RE1.mp3") == "https://h/x/RE1.mp3"
    config = DownloadConfig(**CONFIG)
    assert [backoff(config, n).total_seconds() for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 60, 60]


# -- downloads -------------------------------------------------------------------------------


def test_download_success(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
    recordings_dir: Path,
) -> None:
    sid, audio = recording(api, server, db, clock)
    clock.advance(1)

    outcomes = fetcher.run_due()

    job = load(db, sid)
    created = job.created_at
    relative = f"{created:%Y}/{created:%m}/{created:%d}/{sid}.wav"
    assert [(o.recording_sid, o.ok, o.error) for o in outcomes] == [(sid, True, None)]
    assert outcomes[0].path == recordings_dir / relative
    stored_audio, _metadata = store.get(sid)
    assert (recordings_dir / relative).read_bytes() == stored_audio == audio
    assert job.status == "done"
    assert job.path == relative
    assert job.size_bytes == len(audio)
    assert job.sha256 == hashlib.sha256(stored_audio).hexdigest()
    assert job.content_type == "audio/x-wav"
    assert job.completed_at == clock.now
    assert job.attempts == 0
    assert job.last_error is None
    assert part_files(recordings_dir) == []
    assert store.audio_gets == 1

    clock.advance(3600)
    assert fetcher.run_due() == []
    assert store.audio_gets == 1


def test_duplicate_enqueue_keeps_one_job(db: Database, clock: Clock, server: str) -> None:
    source = url(server, f"/{MISSING_SID}")
    first = enqueue(db, clock, MISSING_SID, source, 5)
    second = enqueue(db, clock, MISSING_SID, source, 5)
    with db.session() as session:
        again = enqueue_download(
            session,
            recording_sid=MISSING_SID,
            call_sid=CALL,
            source_url=source,
            expected_duration=5,
        )
        also = enqueue_download(
            session,
            recording_sid=MISSING_SID,
            call_sid=CALL,
            source_url=source,
            expected_duration=5,
        )
        assert again is also
        assert again.id == first
        count = session.scalar(select(func.count()).select_from(RecordingDownload))
    assert first == second
    assert count == 1


def test_duplicate_enqueue_race_uses_the_unique_constraint(
    db: Database, clock: Clock, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process inserted the job between our lookup and our insert."""
    source = url(server, f"/{MISSING_SID}")
    other_sid = "RE" + "3" * 32
    existing = enqueue(db, clock, MISSING_SID, source, 5)
    real_lookup = recordings._job_by_sid
    lookups: list[str] = []

    def stale_lookup(session: Any, sid: str) -> RecordingDownload | None:
        lookups.append(sid)
        return None if len(lookups) == 1 else real_lookup(session, sid)

    with db.session() as session:
        enqueue_download(
            session, recording_sid=other_sid, call_sid=CALL, source_url=source, expected_duration=1
        )
        monkeypatch.setattr(recordings, "_job_by_sid", stale_lookup)
        job = enqueue_download(
            session,
            recording_sid=MISSING_SID,
            call_sid=CALL,
            source_url=source,
            expected_duration=5,
        )
        assert job.id == existing
    assert lookups == [MISSING_SID, MISSING_SID]
    with db.session() as session:
        sids = session.scalars(select(RecordingDownload.recording_sid)).all()
    assert sorted(sids) == sorted([MISSING_SID, other_sid])  # the outer transaction survived


def test_server_error_then_retry_after_backoff(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
) -> None:
    sid, _audio = recording(api, server, db, clock)
    store.inject(fail_next=2, status=500)

    [outcome] = fetcher.run_due()
    assert not outcome.ok
    assert outcome.error == f"HTTP 500 from {server.rsplit('/', 1)[0]}"
    job = load(db, sid)
    assert (job.status, job.attempts, job.last_error) == ("pending", 1, outcome.error)
    assert job.next_attempt_at == clock.now + timedelta(seconds=10)

    clock.advance(9)
    assert fetcher.run_due() == []
    assert store.audio_gets == 1

    clock.advance(1)
    [outcome] = fetcher.run_due()
    assert not outcome.ok
    job = load(db, sid)
    assert (job.status, job.attempts) == ("pending", 2)
    assert job.next_attempt_at == clock.now + timedelta(seconds=20)

    clock.advance(20)
    [outcome] = fetcher.run_due()
    assert outcome.ok
    job = load(db, sid)
    assert (job.status, job.attempts, job.last_error) == ("done", 2, None)
    assert store.audio_gets == 3


def test_truncated_body_is_rejected_and_retried(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
    recordings_dir: Path,
) -> None:
    sid, audio = recording(api, server, db, clock)
    store.inject(truncate_next=1)

    [outcome] = fetcher.run_due()
    assert not outcome.ok
    assert outcome.error.startswith("truncated: ")
    assert f"of {len(audio)} bytes" in outcome.error
    job = load(db, sid)
    assert (job.status, job.attempts, job.path) == ("pending", 1, None)
    assert list(recordings_dir.rglob(f"{sid}*")) == []
    assert part_files(recordings_dir) == []

    clock.advance(10)
    [outcome] = fetcher.run_due()
    assert outcome.ok
    assert outcome.path is not None and outcome.path.read_bytes() == audio


def test_corrupt_bytes_are_rejected(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
    recordings_dir: Path,
) -> None:
    sid, _audio = recording(api, server, db, clock)
    store.inject(corrupt_next=1)

    [outcome] = fetcher.run_due()
    assert not outcome.ok
    assert outcome.error == "not audio: neither a WAV nor an MP3 header"
    job = load(db, sid)
    assert (job.status, job.attempts, job.sha256) == ("pending", 1, None)
    assert list(recordings_dir.rglob(f"{sid}*")) == []
    assert part_files(recordings_dir) == []


@pytest.mark.parametrize(
    ("expected", "ok"),
    [(None, True), (3, True), (5, True), (1, True), (6, False), (30, False), (0, False)],
)
def test_duration_check(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    fetcher: RecordingFetcher,
    expected: int | None,
    ok: bool,
) -> None:
    """3 s of audio; tolerance is ±(2 s + 10 % of what Twilio reported)."""
    sid, _audio = recording(api, server, db, clock, seconds=3.0, expected=expected)
    [outcome] = fetcher.run_due()
    assert outcome.ok is ok
    if not ok:
        assert outcome.error == f"duration mismatch: audio is 3.0 s, Twilio said {expected} s"
        assert load(db, sid).status == "pending"


def test_not_found_is_retried_until_the_recording_appears(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
    tmp_path: Path,
) -> None:
    """Twilio's copy can lag behind the status callback."""
    sid, audio = recording(api, server, db, clock)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for path in store.root.glob(f"{sid}.*"):
        shutil.move(path, hidden / path.name)

    [outcome] = fetcher.run_due()
    assert not outcome.ok
    assert outcome.error.startswith("HTTP 404 from http://127.0.0.1:")
    job = load(db, sid)
    assert (job.status, job.attempts) == ("pending", 1)

    for path in hidden.iterdir():
        shutil.move(path, store.root / path.name)
    clock.advance(10)
    [outcome] = fetcher.run_due()
    assert outcome.ok
    assert outcome.path is not None and outcome.path.read_bytes() == audio


def test_max_attempts_then_failed_then_revived(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
) -> None:
    sid, _audio = recording(api, server, db, clock)
    store.inject(fail_next=3, status=503)
    for attempt in (1, 2, 3):
        [outcome] = fetcher.run_due()
        assert not outcome.ok
        assert load(db, sid).attempts == attempt
        clock.advance(3600)

    job = load(db, sid)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.last_error is not None and job.last_error.startswith("HTTP 503 from ")
    assert fetcher.run_due() == []
    assert store.audio_gets == 3

    with db.session() as session:
        assert fetcher.retry_failed(session) == 1
    job = load(db, sid)
    assert (job.status, job.attempts, job.next_attempt_at) == ("pending", 0, clock.now)
    with db.session() as session:
        assert retry_failed(session) == 0

    [outcome] = fetcher.run_due()
    assert outcome.ok
    assert load(db, sid).status == "done"


class Crash(BaseException):
    """Stands in for the process dying in the middle of a download."""


class CrashingHttp:
    def get(self, *_args: Any, **_kwargs: Any) -> Any:
        raise Crash

    def close(self) -> None:
        pass


def test_job_of_a_crashed_process_is_taken_over_after_a_restart(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    make_fetcher: Callable[..., RecordingFetcher],
    tmp_path: Path,
    recordings_dir: Path,
) -> None:
    sid, audio = recording(api, server, db, clock)
    crashing = RecordingFetcher(
        db.sessions,
        recordings_dir,
        ACCOUNT,
        TOKEN,
        DownloadConfig(**CONFIG),
        http=CrashingHttp(),  # type: ignore[arg-type]
        clock=clock,
    )
    with pytest.raises(Crash):
        crashing.run_due()
    db.dispose()
    job = load(db, sid)
    assert (job.status, job.attempts, job.next_attempt_at) == ("running", 0, clock.now + LEASE)

    restarted = Database(f"sqlite:///{tmp_path}/t.db")
    try:
        fetcher = make_fetcher(restarted)
        clock.advance(LEASE.total_seconds() - 1)
        assert fetcher.run_due() == []  # the lease still holds
        assert store.audio_gets == 0
        clock.advance(1)
        [outcome] = fetcher.run_due()
        assert outcome.ok
        assert outcome.path is not None and outcome.path.read_bytes() == audio
        job = load(restarted, sid)
        assert (job.status, job.attempts, job.last_error) == ("done", 1, None)
    finally:
        restarted.dispose()


def test_repeatedly_interrupted_job_ends_failed(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    fetcher: RecordingFetcher,
) -> None:
    sid, _audio = recording(api, server, db, clock)
    with db.session() as session:
        job = session.scalar(
            select(RecordingDownload).where(RecordingDownload.recording_sid == sid)
        )
        job.status, job.attempts, job.next_attempt_at = "running", 2, clock.now
    [outcome] = fetcher.run_due()
    assert (outcome.ok, outcome.error) == (False, "previous attempt interrupted (lease expired)")
    job = load(db, sid)
    assert (job.status, job.attempts) == ("failed", 3)
    assert store.audio_gets == 0


def test_racing_fetchers_download_each_job_once(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    make_fetcher: Callable[..., RecordingFetcher],
    tmp_path: Path,
) -> None:
    sids = [recording(api, server, db, clock, seconds=1.0, expected=1)[0] for _ in range(6)]
    racers = 4
    databases = [Database(f"sqlite:///{tmp_path}/t.db") for _ in range(racers)]
    fetchers = [make_fetcher(database) for database in databases]
    barrier = threading.Barrier(racers)
    results: list[Any] = [None] * racers

    def race(index: int) -> None:
        try:
            barrier.wait(10)
            results[index] = fetchers[index].run_due()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for database in databases:
        database.dispose()

    assert all(isinstance(result, list) for result in results), results
    outcomes = [outcome for result in results for outcome in result]
    assert sorted(o.recording_sid for o in outcomes) == sorted(sids)
    assert all(o.ok for o in outcomes)
    assert store.audio_gets == len(sids)
    assert {load(db, sid).status for sid in sids} == {"done"}


def test_stale_claim_loses(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    store: RecordingStore,
    make_fetcher: Callable[..., RecordingFetcher],
) -> None:
    """A fetcher that saw the job as due, but claims after another one took it, backs off."""
    sid, _audio = recording(api, server, db, clock)
    slow, fast = make_fetcher(), make_fetcher()
    [row] = slow._due(20)
    assert [o.ok for o in fast.run_due()] == [True]
    assert slow._claim(row.id, row.status, row.next_attempt_at, row.attempts) is None
    assert store.audio_gets == 1
    assert load(db, sid).status == "done"


def test_worker_downloads_then_stops(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    fetcher: RecordingFetcher,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_run_due = fetcher.run_due
    calls: list[int] = []

    def flaky_run_due(limit: int = 20) -> Any:
        calls.append(limit)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_run_due(limit)

    monkeypatch.setattr(fetcher, "run_due", flaky_run_due)
    caplog.set_level(logging.INFO, logger="callcenter.recordings")
    worker = DownloadWorker(fetcher, poll_seconds=0.05)
    worker.start()
    try:
        sid, audio = recording(api, server, db, clock)
        worker.wake()
        deadline = time.monotonic() + 10
        while load(db, sid).status != "done" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert load(db, sid).status == "done"
    finally:
        assert worker.stop(timeout=10) is True
    assert not worker.running
    assert len(calls) >= 2
    messages = [record.getMessage() for record in caplog.records]
    assert any("run_due failed" in message for message in messages)
    assert any(message == "download worker stopped" for message in messages)
    job = load(db, sid)
    assert job.size_bytes == len(audio)


def test_partial_files_of_a_killed_process_are_removed(
    api: requests.Session,
    server: str,
    db: Database,
    clock: Clock,
    fetcher: RecordingFetcher,
    recordings_dir: Path,
) -> None:
    """kill -9 mid-download skips every cleanup: its .part file stays on disk. The attempt
    that takes the job over removes it, and a worker starting removes any left elsewhere."""
    sid, audio = recording(api, server, db, clock)
    job = load(db, sid)
    folder = recordings_dir / f"{job.created_at:%Y/%m/%d}"
    folder.mkdir(parents=True)
    leftover = folder / f".{sid}.{'0' * 32}.part"
    leftover.write_bytes(audio[:1000])  # what the killed process had written
    with db.session() as session:  # ...and the job it held, its lease now expired
        session.get(RecordingDownload, job.id).status = "running"
    [outcome] = fetcher.run_due()
    assert outcome.ok and outcome.path is not None and outcome.path.read_bytes() == audio
    assert part_files(recordings_dir) == []

    # A partial file of a job already gone (done elsewhere, purged): only age tells.
    old = recordings_dir / "2026" / "01" / "02" / f".{'RE' + 'f' * 32}.{'1' * 32}.part"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"RIFF")
    fresh = folder / f".{'RE' + 'e' * 32}.{'2' * 32}.part"
    fresh.write_bytes(b"RIFF")  # a download in progress in another process: kept
    stale = time.time() - LEASE.total_seconds() - 5
    os.utime(old, (stale, stale))
    worker = DownloadWorker(fetcher, poll_seconds=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while old.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        assert worker.stop(timeout=10) is True
    assert part_files(recordings_dir) == [fresh]
