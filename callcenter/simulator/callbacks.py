"""The switchboard's status callbacks, sent in order by a worker thread (part of :class:`Board`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from callcenter.simulator.transports import TransportError, send_signed

log = logging.getLogger("callcenter.simulator")


@dataclass(frozen=True)
class _Callback:
    url: str
    method: str
    params: dict[str, str]


class CallbackWorker:
    """Callbacks and jobs that must not run inside a REST request."""

    def _dispatch(self, callbacks: Iterable[_Callback | None]) -> None:
        """Send callbacks (lock held, so they go out in the order of the changes): inline
        by the owner of a private board, else through the worker, never from the thread of
        a REST request."""
        pending = [callback for callback in callbacks if callback is not None]
        if not pending:
            return
        if self.owner is not None:
            for callback in pending:
                self.owner._notify(callback.url, callback.method, callback.params)
            return
        self._submit(*pending)

    def _submit(self, *jobs: _Callback | Callable[[], None]) -> None:
        """Hand callbacks to send, or jobs to run, to the worker, in this order."""
        with self.lock:
            if self._worker is None:
                if self._closed:
                    log.warning("switchboard closed: %d callbacks or jobs dropped", len(jobs))
                    return
                self._worker = threading.Thread(
                    target=self._work, name="sim-switchboard-callbacks", daemon=True
                )
                self._worker.start()
            for job in jobs:
                self._queue.put(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if isinstance(job, _Callback):
                    self._deliver(job)
                else:
                    job()
            except Exception as exc:  # a bug: keep the worker going, but make it visible
                log.exception("switchboard job failed")
                self.errors.append(f"worker: {exc!r}")
            finally:
                self._queue.task_done()

    def _deliver(self, callback: _Callback) -> None:
        try:
            response = send_signed(
                self.transport,
                self.validator,
                callback.url,
                callback.method,
                callback.params,
                kind="callback",
                exchanges=self.callbacks,
            )
        except TransportError as exc:
            log.warning("status callback to %s failed: %s", callback.url, exc)
            return
        if not 200 <= response.status_code < 300:
            log.warning("status callback %s answered %s", callback.url, response.status_code)
