"""Recording download throughput: how fast the download jobs drain, from the simulator's
Twilio-compatible Recordings API over real HTTP into `recordings/`, verified.

    .venv/bin/python bench/recording_downloads.py [--sizes 30,180,600] [--channels 1,2]
        [--counts 60,20,6] [--workers 4] [--poll-seconds 5] [--database-url URL]

Two processes, so the server's GIL does not slow the downloads (or the other way round):

* the server: a small Flask app with the simulator's Recordings API
  (`create_simulator_api`, HTTP basic auth) under /simulator, as callcenter/app.py mounts
  it, on 127.0.0.1 under werkzeug's threaded server, plus /_bench/inject and
  /_bench/stats to sabotage downloads (`RecordingStore.inject`) and count them.
* this process: deposits the recordings into the server's store folder (8 kHz 16-bit
  PCM WAVs, mono or dual-channel, a tone then silence, each with its own noise so no two
  are alike), enqueues their download jobs (`enqueue_download`, purpose `bench`) in a
  fresh migrated SQLite database (and, with --database-url, a PostgreSQL one) and drains
  them with the product's code, three ways:

  - `1 fetcher`: one `RecordingFetcher`, `run_due(20)` in a loop until nothing is due
    (what one busy `DownloadWorker` does, or `callcenter recordings fetch` run back to back);
  - `N fetchers`: N fetchers in N threads, each calling `run_due(20)` back to back: what
    parallel downloads can do, claims racing;
  - `N workers`: N `DownloadWorker` threads, each with its own fetcher, polling every
    --poll-seconds (the config's `downloads.poll_seconds`, 5 s by default) as
    `callcenter worker` does, until every job is done. A worker whose pass ran fewer than
    20 jobs sleeps a poll, even if the others left due jobs behind: with a backlog, N
    workers drain about 20 jobs per poll between them.

Per-recording latency is from the start of the job's claim to the moment its result is
committed (download, WAV/duration checks, fsync, sha256 of the stored file), timed by
wrapping the fetcher's claim and attempt at runtime; the product code is untouched.
recordings/s and MB/s (10^6 bytes) are over the wall time of the whole drain.

After every drain the bench checks that every job is `done` and that every stored file has
the size and sha256 of the recording deposited (and of the job's row); anything else stops
it with an error.

The recovery path: the first downloads fail (HTTP 503), arrive truncated and arrive
corrupted (`RecordingStore.inject`); the workers, with a short backoff, must retry every
job to `done`, with exactly one failed attempt recorded per fault.

--database-url must name a scratch PostgreSQL database: the bench migrates it and refuses
to run if it holds due download jobs that are not its own (its fetchers would take them).
"""

from __future__ import annotations

import argparse
import array
import hashlib
import io
import logging
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine import cpu_seconds, read_line

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "bench-auth-token"
PURPOSE = "bench"
SAMPLE_RATE = 8000


def quantile(values: list[float], q: float) -> float:
    """Nearest rank: the ceil(n*q)-th smallest (1-based), so p99 of a few is their maximum."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


# -- the server process ------------------------------------------------------------------


def serve(store_dir: Path) -> None:
    """The simulator's Recordings API on 127.0.0.1 (threaded werkzeug); print the URL."""
    from flask import Flask, jsonify, request
    from werkzeug.serving import make_server

    from callcenter.simulator.recordings import RecordingStore
    from callcenter.simulator.rest.recordings import create_simulator_api

    store = RecordingStore(store_dir)
    app = Flask("recordings-bench")
    app.register_blueprint(
        create_simulator_api(store, ACCOUNT_SID, AUTH_TOKEN), url_prefix="/simulator"
    )

    @app.post("/_bench/inject")
    def _inject() -> Any:
        store.inject(**request.get_json())
        return jsonify({"ok": True})

    @app.get("/_bench/stats")
    def _stats() -> Any:
        return jsonify({"audio_gets": store.audio_gets})

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log
    server = make_server("127.0.0.1", 0, app, threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


class Server:
    """The server process, started and stopped by this one."""

    def __init__(self, workdir: Path) -> None:
        self.store_dir = workdir / "simulator"
        self.log_path = workdir / "server.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(self.store_dir)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        try:
            self.url = read_line(self.process, 60, "the server")
        except BaseException:
            self.process.kill()
            self.process.wait()
            self._log.close()
            raise
        import requests

        self.http = requests.Session()

    def recording_url(self, sid: str) -> str:
        """Twilio's RecordingUrl: no extension; the fetcher asks for `.wav`."""
        return f"{self.url}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"

    def inject(self, **faults: int) -> None:
        self.http.post(f"{self.url}/_bench/inject", json=faults, timeout=10).raise_for_status()

    def audio_gets(self) -> int:
        return int(self.http.get(f"{self.url}/_bench/stats", timeout=10).json()["audio_gets"])

    def stop(self) -> None:
        self.http.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        lines = self.log_path.read_text().splitlines()
        errors = [line for line in lines if "ERROR" in line or "Traceback" in line]
        if errors:
            print(f"  server log: {len(errors)} error lines, first: {errors[0]}")


# -- recordings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    sid: str
    seconds: int
    size: int
    sha256: str


@dataclass
class SizeClass:
    seconds: int
    channels: int
    recordings: list[Recording] = field(default_factory=list)

    @property
    def label(self) -> str:
        length = f"{self.seconds} s" if self.seconds < 60 else f"{self.seconds / 60:g} min"
        layout = "mono" if self.channels == 1 else "dual"
        return f"{length} {layout}"

    @property
    def bytes_each(self) -> int:
        return 44 + self.seconds * SAMPLE_RATE * 2 * self.channels


def one_second(channels: int) -> bytes:
    """A second of 16-bit PCM: 440 Hz on the first channel, 660 Hz on the second."""
    channel_samples = []
    for index in range(channels):
        frequency = 440.0 * (1 + index / 2)
        channel_samples.append(
            [
                int(0.3 * 32767 * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE))
                for i in range(SAMPLE_RATE)
            ]
        )
    interleaved = array.array(
        "h", (s for frame in zip(*channel_samples, strict=True) for s in frame)
    )
    if sys.byteorder == "big":
        interleaved.byteswap()
    return interleaved.tobytes()


def wav(seconds: int, channels: int, tone: bytes) -> bytes:
    """A call-like WAV: half a second of unique noise, tone for half the call, then silence."""
    frame_bytes = 2 * channels
    noise = os.urandom(SAMPLE_RATE // 2 * frame_bytes)
    toned = seconds // 2
    body = noise + tone[len(noise) :] + tone * (toned - 1)
    body += bytes(seconds * SAMPLE_RATE * frame_bytes - len(body))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(body)
    return buffer.getvalue()


def deposit(store_dir: Path, size_class: SizeClass, count: int) -> None:
    """Put `count` recordings of this size into the simulator's store (its own files)."""
    from callcenter.simulator.recordings import RecordingStore

    store = RecordingStore(store_dir)
    tone = one_second(size_class.channels)
    for _ in range(count):
        audio = wav(size_class.seconds, size_class.channels, tone)
        metadata = store.create("CA" + uuid.uuid4().hex, audio)
        if metadata["channels"] != size_class.channels:
            raise SystemExit(f"the store kept {metadata['channels']} channels")
        size_class.recordings.append(
            Recording(
                metadata["sid"], metadata["duration"], len(audio), hashlib.sha256(audio).hexdigest()
            )
        )


# -- jobs ----------------------------------------------------------------------------------


def open_database(url: str) -> Any:
    from sqlalchemy import func, select

    from callcenter.db import Database
    from callcenter.migrate import upgrade
    from callcenter.models import RecordingDownload as Job

    database = Database(url)
    upgrade(database)
    with database.session() as session:
        foreign = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.purpose != PURPOSE, Job.status.in_(("pending", "running")))
        )
    if foreign:
        database.dispose()
        raise SystemExit(
            f"{database.engine.url.render_as_string()}: {foreign} download jobs that are not "
            "the bench's are waiting; its fetchers would take them. Use a scratch database."
        )
    clear(database)
    return database


def clear(database: Any) -> None:
    from sqlalchemy import delete

    from callcenter.models import RecordingDownload as Job

    with database.session() as session:
        session.execute(delete(Job).where(Job.purpose == PURPOSE))


def enqueue(database: Any, server: Server, recordings: list[Recording]) -> None:
    from callcenter.media.downloads import enqueue_download

    with database.session() as session:
        for recording in recordings:
            enqueue_download(
                session,
                recording_sid=recording.sid,
                call_sid="CA" + uuid.uuid4().hex,
                source_url=server.recording_url(recording.sid),
                expected_duration=recording.seconds,
                purpose=PURPOSE,
            )


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(database: Any, recordings_dir: Path, recordings: list[Recording], what: str) -> int:
    """Every job done, every file as deposited; return the failed attempts recorded."""
    from sqlalchemy import select

    from callcenter.models import RecordingDownload as Job

    with database.session() as session:
        rows = {
            row.recording_sid: row
            for row in session.execute(
                select(
                    Job.recording_sid,
                    Job.status,
                    Job.path,
                    Job.size_bytes,
                    Job.sha256,
                    Job.attempts,
                    Job.last_error,
                ).where(Job.purpose == PURPOSE)
            )
        }
    problems = []
    if len(rows) != len(recordings):
        problems.append(f"{len(rows)} jobs for {len(recordings)} recordings")
    for recording in recordings:
        row = rows.get(recording.sid)
        if row is None:
            problems.append(f"{recording.sid}: no job")
        elif row.status != "done":
            problems.append(f"{recording.sid}: {row.status} ({row.last_error})")
        elif not (recordings_dir / row.path).is_file():
            problems.append(f"{recording.sid}: {row.path} is missing")
        elif row.size_bytes != recording.size or row.sha256 != recording.sha256:
            problems.append(f"{recording.sid}: the job's size/sha256 differ from the source")
        elif sha256_of(recordings_dir / row.path) != recording.sha256:
            problems.append(f"{recording.sid}: {row.path} does not match the source's sha256")
    leftovers = [p.name for p in recordings_dir.rglob(".*.part")]
    if leftovers:
        problems.append(f"temporary files left behind: {leftovers[:3]}")
    if problems:
        raise SystemExit(
            f"VERIFICATION FAILED ({what}): {len(problems)} problems, e.g.\n  "
            + "\n  ".join(problems[:10])
        )
    return sum(row.attempts for row in rows.values())


# -- draining --------------------------------------------------------------------------------


class Timings:
    """Claim-to-saved time of each successful attempt, and the part of it spent in the
    download itself (HTTP, checks, file writes), shared by the fetchers of a run."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.started: dict[int, float] = {}
        self.latencies: list[float] = []
        self.downloading: dict[int, float] = {}
        self.download_times: list[float] = []
        self.failures = 0
        self.lost = 0  # claims another fetcher won
        self.last = 0.0
        self.done = threading.Event()

    def claimed(self, job_id: int, at: float) -> None:
        with self.lock:
            self.started[job_id] = at

    def lost_claim(self) -> None:
        with self.lock:
            self.lost += 1

    def downloaded(self, job_id: int, seconds: float) -> None:
        with self.lock:
            self.downloading[job_id] = seconds

    def finished(self, job_id: int, ok: bool) -> None:
        now = time.perf_counter()
        with self.lock:
            started = self.started.pop(job_id)
            download = self.downloading.pop(job_id, 0.0)
            if not ok:
                self.failures += 1
                return
            self.latencies.append(now - started)
            self.download_times.append(download)
            self.last = now
            if len(self.latencies) >= self.target:
                self.done.set()


def timed_fetcher(database: Any, recordings_dir: Path, config: Any, timings: Timings) -> Any:
    """A RecordingFetcher whose claims and attempts report to `timings`."""
    from callcenter.media.recording_fetcher import RecordingFetcher

    class TimedFetcher(RecordingFetcher):
        def _claim(self, job_id: int, *args: Any) -> Any:
            start = time.perf_counter()
            claim = super()._claim(job_id, *args)
            if claim is None:
                timings.lost_claim()
            elif hasattr(claim, "lease_until"):  # a Claim: ours now
                timings.claimed(claim.id, start)
            return claim

        def _download(self, claim: Any) -> Any:
            start = time.perf_counter()
            try:
                return super()._download(claim)
            finally:
                timings.downloaded(claim.id, time.perf_counter() - start)

        def _attempt(self, claim: Any) -> Any:
            outcome = super()._attempt(claim)
            timings.finished(claim.id, outcome.ok)
            return outcome

    return TimedFetcher(database.sessions, recordings_dir, ACCOUNT_SID, AUTH_TOKEN, config)


@dataclass
class Run:
    backend: str
    label: str
    mode: str
    count: int
    total_bytes: int
    elapsed: float
    latencies: list[float]
    download_times: list[float]
    lost: int


def drain_serial(
    database: Any, recordings_dir: Path, config: Any, count: int
) -> tuple[Timings, float]:
    """One fetcher, run_due(20) until nothing is due; (timings, start)."""
    timings = Timings(count)
    with timed_fetcher(database, recordings_dir, config, timings) as fetcher:
        start = time.perf_counter()
        while fetcher.run_due(20):
            pass
    return timings, start


def drain_fetchers(
    database: Any, recordings_dir: Path, config: Any, count: int, threads: int, timeout: float
) -> tuple[Timings, float]:
    """`threads` fetchers in threads, each calling run_due(20) back to back (no poll
    delay) until `count` downloads succeeded; (timings, start)."""
    timings = Timings(count)
    deadline = time.monotonic() + timeout
    errors: list[BaseException] = []

    def loop(fetcher: Any) -> None:
        try:
            with fetcher:
                while not timings.done.is_set() and time.monotonic() < deadline:
                    if not fetcher.run_due(20):
                        timings.done.wait(0.005)  # the rest is claimed by the others
        except BaseException as exc:
            errors.append(exc)
            timings.done.set()

    fetchers = [timed_fetcher(database, recordings_dir, config, timings) for _ in range(threads)]
    running = [threading.Thread(target=loop, args=(fetcher,)) for fetcher in fetchers]
    start = time.perf_counter()
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    if errors:
        raise errors[0]
    if len(timings.latencies) < count:
        raise SystemExit(
            f"{threads} fetchers: only {len(timings.latencies)} of {count} downloads "
            f"done after {timeout:.0f} s"
        )
    return timings, start


def drain_workers(
    database: Any, recordings_dir: Path, config: Any, count: int, workers: int, timeout: float
) -> tuple[Timings, float]:
    """`workers` DownloadWorkers until `count` downloads succeeded; (timings, start)."""
    from callcenter.media.download_worker import DownloadWorker

    timings = Timings(count)
    fetchers = [timed_fetcher(database, recordings_dir, config, timings) for _ in range(workers)]
    running = [DownloadWorker(fetcher, config.poll_seconds) for fetcher in fetchers]
    start = time.perf_counter()
    for worker in running:
        worker.start()
    finished = timings.done.wait(timeout)
    for worker in running:
        worker.stop(timeout=60)
    for fetcher in fetchers:
        fetcher.close()
    if not finished:
        raise SystemExit(
            f"{workers} workers: only {len(timings.latencies)} of {count} downloads "
            f"done after {timeout:.0f} s"
        )
    return timings, start


def measure(
    backend: str,
    database: Any,
    workdir: Path,
    server: Server,
    size_class: SizeClass,
    mode: str,
    args: argparse.Namespace,
) -> Run:
    from callcenter.config import DownloadConfig

    recordings = size_class.recordings
    recordings_dir = workdir / "recordings"
    shutil.rmtree(recordings_dir, ignore_errors=True)
    clear(database)
    enqueue(database, server, recordings)
    config = DownloadConfig(poll_seconds=args.poll_seconds)
    if mode == "1 fetcher":
        timings, start = drain_serial(database, recordings_dir, config, len(recordings))
    elif mode.endswith("fetchers"):
        timings, start = drain_fetchers(
            database, recordings_dir, config, len(recordings), args.workers, args.timeout
        )
    else:
        timings, start = drain_workers(
            database, recordings_dir, config, len(recordings), args.workers, args.timeout
        )
    failed_attempts = verify(
        database, recordings_dir, recordings, f"{backend}, {size_class.label}, {mode}"
    )
    if timings.failures or failed_attempts or len(timings.latencies) != len(recordings):
        raise SystemExit(
            f"{backend}, {size_class.label}, {mode}: {timings.failures} failed attempts "
            f"({failed_attempts} recorded), {len(timings.latencies)} downloads timed"
        )
    return Run(
        backend,
        size_class.label,
        mode,
        len(recordings),
        sum(r.size for r in recordings),
        timings.last - start,
        timings.latencies,
        timings.download_times,
        timings.lost,
    )


def recovery(
    backend: str,
    database: Any,
    workdir: Path,
    server: Server,
    args: argparse.Namespace,
    recordings: list[Recording],
) -> str:
    """Faults on the first downloads; the workers must retry every job to done."""
    from callcenter.config import DownloadConfig

    recordings_dir = workdir / "recordings"
    shutil.rmtree(recordings_dir, ignore_errors=True)
    clear(database)
    faults = {
        "fail_next": args.fail,
        "status": 503,
        "truncate_next": args.truncate,
        "corrupt_next": args.corrupt,
    }
    injected = args.fail + args.truncate + args.corrupt
    config = DownloadConfig(
        backoff_seconds=args.backoff,
        max_backoff_seconds=8 * args.backoff,
        max_attempts=max(8, injected + 1),
        poll_seconds=args.backoff,
    )
    gets_before = server.audio_gets()
    server.inject(**faults)
    enqueue(database, server, recordings)
    timings, start = drain_workers(
        database, recordings_dir, config, len(recordings), args.workers, args.timeout
    )
    elapsed = timings.last - start
    failed_attempts = verify(database, recordings_dir, recordings, f"{backend}, recovery")
    gets = server.audio_gets() - gets_before
    server.inject()  # nothing left pending for the next run
    if failed_attempts != injected or timings.failures != injected:
        raise SystemExit(
            f"{backend}, recovery: {injected} faults injected but {failed_attempts} failed "
            f"attempts recorded ({timings.failures} seen by the fetchers)"
        )
    if gets != len(recordings) + injected:
        raise SystemExit(
            f"{backend}, recovery: {gets} downloads served, expected {len(recordings) + injected}"
        )
    return (
        f"  {backend:<10} {len(recordings)} recordings, {args.fail}× HTTP 503 + "
        f"{args.truncate}× truncated + {args.corrupt}× corrupted: all {len(recordings)} "
        f"done and verified in {elapsed:.2f} s ({failed_attempts} failed attempts retried, "
        f"{gets} downloads served; backoff {args.backoff:g} s, {args.workers} workers)"
    )


# -- the machine -------------------------------------------------------------------------


def print_table(runs: list[Run]) -> None:
    print()
    print(
        f"  {'database':<10} {'recording':<12} {'size':>9} {'drained by':<11} {'n':>4} "
        f"{'seconds':>8} {'rec/s':>7} {'MB/s':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p50 dl':>7} {'p50 db':>7} {'lost':>5}"
    )
    for run in runs:
        size = run.total_bytes / run.count / 1e6
        latencies = [t * 1000 for t in run.latencies]
        downloads = [t * 1000 for t in run.download_times]
        database = [(a - b) * 1000 for a, b in zip(run.latencies, run.download_times, strict=True)]
        print(
            f"  {run.backend:<10} {run.label:<12} {size:>6.2f} MB {run.mode:<11} "
            f"{run.count:>4} {run.elapsed:>8.2f} {run.count / run.elapsed:>7.1f} "
            f"{run.total_bytes / 1e6 / run.elapsed:>7.1f} "
            f"{statistics.median(latencies):>8.1f} {quantile(latencies, 0.99):>8.1f} "
            f"{statistics.median(downloads):>7.1f} {statistics.median(database):>7.1f} "
            f"{run.lost:>5}"
        )
    print(
        "  p50/p99 ms: per recording, claim to result committed; p50 dl: the download part "
        "(HTTP, checks,\n  file written, fsynced and re-hashed); p50 db: the rest (claim "
        "and result, two commits); lost: claims\n  another fetcher won first (each one an "
        "UPDATE that matched nothing)"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30,180,600", help="recording lengths, seconds")
    parser.add_argument("--channels", default="1,2", help="1 (mono) and/or 2 (dual-channel)")
    parser.add_argument("--counts", default="60,20,6", help="recordings per length")
    parser.add_argument(
        "--workers", type=int, default=4, help="parallel fetchers and DownloadWorkers"
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=None,
        help="the workers' poll (default: downloads.poll_seconds, 5 s)",
    )
    parser.add_argument("--database-url", help="also run on this (scratch) PostgreSQL database")
    parser.add_argument("--skip-sqlite", action="store_true", help="only --database-url")
    recover = parser.add_argument_group("the recovery run")
    recover.add_argument("--recovery-count", type=int, default=12, help="30 s mono recordings")
    recover.add_argument("--fail", type=int, default=3, help="downloads answered HTTP 503")
    recover.add_argument("--truncate", type=int, default=2, help="downloads cut in half")
    recover.add_argument("--corrupt", type=int, default=2, help="downloads garbled")
    recover.add_argument("--backoff", type=float, default=0.2, help="downloads.backoff_seconds")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per drain, at most")
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a temp dir)")
    args = parser.parse_args()

    from callcenter.config import DownloadConfig

    if args.poll_seconds is None:
        args.poll_seconds = DownloadConfig().poll_seconds
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(c) for c in args.counts.split(",")]
    if len(counts) != len(sizes):
        raise SystemExit("--counts needs one count per --sizes entry")
    classes = [
        SizeClass(seconds, int(channels))
        for seconds in sizes
        for channels in args.channels.split(",")
    ]
    count_of = dict(zip(sizes, counts, strict=True))
    backends = [] if args.skip_sqlite else ["sqlite"]
    if args.database_url:
        backends.append("postgresql")
    if not backends:
        raise SystemExit("nothing to run: --skip-sqlite without --database-url")
    modes = ["1 fetcher", f"{args.workers} fetchers", f"{args.workers} workers"]
    # The recovery run's failed attempts are expected and counted, not printed.
    logging.getLogger("callcenter.recordings").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        workdir = Path(tmp)
        server = Server(workdir)
        try:
            print(
                f"recording downloads over HTTP on 127.0.0.1 ({os.cpu_count()} cores; the "
                f"API server in its own process), {args.workers} workers polling every "
                f"{args.poll_seconds:g} s",
                flush=True,
            )
            started = time.perf_counter()
            for size_class in classes:
                deposit(server.store_dir, size_class, count_of[size_class.seconds])
            recovery_set = SizeClass(30, 1)
            deposit(server.store_dir, recovery_set, args.recovery_count)
            total = sum(len(c.recordings) * c.bytes_each for c in classes) / 1e6
            print(
                f"  deposited {sum(len(c.recordings) for c in classes)} recordings "
                f"({total:.0f} MB) in {time.perf_counter() - started:.1f} s",
                flush=True,
            )

            runs: list[Run] = []
            recovered: list[str] = []
            for backend in backends:
                url = (
                    f"sqlite:///{workdir / 'bench.db'}"
                    if backend == "sqlite"
                    else args.database_url
                )
                database = open_database(url)
                pids = [os.getpid(), server.process.pid]
                busy_before, mine_before = cpu_seconds(pids)
                wall = time.perf_counter()
                try:
                    for size_class in classes:
                        for mode in modes:
                            run = measure(
                                backend, database, workdir, server, size_class, mode, args
                            )
                            runs.append(run)
                            print(
                                f"  {backend}: {size_class.label}, {mode}: {run.elapsed:.2f} s",
                                flush=True,
                            )
                    recovered.append(
                        recovery(backend, database, workdir, server, args, recovery_set.recordings)
                    )
                finally:
                    clear(database)
                    database.dispose()
                busy_after, mine_after = cpu_seconds(pids)
                others = (busy_after - busy_before) - (mine_after - mine_before)
                print(
                    f"  {backend}: other processes on this machine used "
                    f"{max(0.0, others) / (time.perf_counter() - wall):.2f} of "
                    f"{os.cpu_count()} cores meanwhile",
                    flush=True,
                )
        finally:
            server.stop()
    print_table(runs)
    print()
    print("  recovery (faults injected by the simulator; every job retried to done, verified):")
    for line in recovered:
        print(line)
    print()
    print("  every job done; every stored file has the size and sha256 of its source")


if __name__ == "__main__":
    main()
