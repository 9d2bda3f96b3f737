"""The download worker: a daemon thread that runs the recording fetcher every poll.

Started by ``callcenter serve`` and ``callcenter worker``; beside the downloads it sends the
deletions from Twilio of an erased person's recordings
(:class:`callcenter.media.remote_erasure.RemoteDeleter`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from callcenter.media.recording_fetcher import RecordingFetcher

log = logging.getLogger("callcenter.recordings")


class RemoteDeleterLike(Protocol):
    """What the worker runs beside the downloads (:class:`remote_erasure.RemoteDeleter`)."""

    def run_due(self, limit: int = 20) -> list[Any]: ...


class DownloadWorker:
    """A daemon thread running :meth:`RecordingFetcher.run_due` every ``poll_seconds``
    (and the deletions from Twilio of erased recordings, when given a `deleter`).

    >>> worker = DownloadWorker(fetcher, settings.downloads.poll_seconds)
    >>> worker.start()
    >>> worker.wake()  # after enqueueing, to skip the wait
    >>> worker.stop(timeout=10)
    """

    def __init__(
        self,
        fetcher: RecordingFetcher,
        poll_seconds: float,
        limit: int = 20,
        deleter: RemoteDeleterLike | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.deleter = deleter
        self.poll_seconds = poll_seconds
        self.limit = limit
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="recording-downloads", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for due jobs now instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to finish its current job and exit; True once it has."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        log.info("download worker started (poll every %.1f s)", self.poll_seconds)
        try:
            self.fetcher.remove_stale_parts()
        except OSError:
            log.exception("download worker: could not remove stale partial downloads")
        while not self._stop.is_set():
            busy = False
            try:
                outcomes = self.fetcher.run_due(self.limit)
                if self.deleter is not None:  # an erased person's recordings, from Twilio
                    outcomes += self.deleter.run_due(self.limit)
                # Something was due: look again at once (other workers may have taken
                # part of the backlog, so fewer than `limit` says nothing about the rest).
                busy = bool(outcomes)
                if not busy:
                    self.fetcher.delete_remote_copies()
            except Exception:
                log.exception("download worker: run_due failed; retrying after the poll delay")
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        log.info("download worker stopped")
