"""``<Enqueue>``: waiting in a queue until an agent takes the call.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

import math
import secrets
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urljoin

from callcenter.simulator.leg.common import (
    DEFAULT_HOLD_MUSIC_CHUNK,
    Fetch,
    QueueState,
    _Bridge,
    _CallOver,
    _HangupRequest,
    _Redirect,
    _text,
)
from callcenter.simulator.leg.events import _secs


class EnqueueVerb:
    """The queue wait, its waitUrl documents and what ends it."""

    def _enqueue(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        name = _text(verb)
        action = urljoin(doc_url, verb.get("action")) if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        wait_url = urljoin(doc_url, verb.get("waitUrl")) if verb.get("waitUrl") else None
        wait_method = verb.get("waitUrlMethod", "POST").upper()
        queue = QueueState(name, "QU" + secrets.token_hex(16), self.clock)
        self.queue = queue
        self._event("enqueue", name, queue_sid=queue.sid, position=queue.position)
        deadline = self.clock + self.hold_seconds
        try:
            outcome = self._wait_in_queue(queue, wait_url, wait_method, deadline)
        finally:
            self.queue = None
        kind, payload = outcome
        queue_time = math.ceil(self.clock - queue.entered_at)
        result_params = {
            "QueueResult": kind,
            "QueueSid": queue.sid,
            "QueueTime": str(queue_time),
        }
        if kind == "hangup":
            self.caller_hung_up = payload == "caller"
            if self.caller_hung_up:
                self.status = "completed"
                self._event(
                    "hangup",
                    f'caller hung up after {_secs(queue_time)} in queue "{name}"',
                    by="caller",
                    queue=name,
                )
            if action:
                self._notify(action, method, {**self.call_params(), **result_params})
            if self.caller_hung_up:
                raise _CallOver(f"hung up in queue {name} after {queue_time}s")
            raise _CallOver(self._app_ended(f"hung up by the app in queue {name}"))
        if kind == "redirected":
            assert isinstance(payload, _Redirect)
            if action:
                self._notify(action, method, {**self.call_params(), **result_params})
            return self._rest_redirect(payload)
        if kind == "leave":
            self._event("leave", name, queue_time=queue_time)
        if action:
            return Fetch(action, method, result_params)
        return None

    def _wait_in_queue(
        self, queue: QueueState, wait_url: str | None, wait_method: str, deadline: float
    ) -> tuple[str, Any]:
        """Play the wait music until something happens: ('hangup'|'leave'|'bridged'|...)."""
        if wait_url is None:
            self._event("hold", "default hold music", queue=queue.name)
        while True:
            outcome = self._queue_checkpoint(queue, deadline)
            if outcome is not None:
                return outcome
            if wait_url is None:
                self._advance(DEFAULT_HOLD_MUSIC_CHUNK, deadline)
                continue
            outcome = self._run_wait_document(queue, Fetch(wait_url, wait_method), deadline)
            if outcome is not None:
                return outcome

    def _queue_checkpoint(self, queue: QueueState, deadline: float) -> tuple[str, Any] | None:
        if self.on_wait is not None and self._last_wait_hook != self.clock:
            self._last_wait_hook = self.clock
            self.on_wait(self)
        pending = self._take(in_queue=True)
        if isinstance(pending, _Bridge):
            self._event(
                "bridged",
                f"{pending.agent} for {_secs(pending.talk_seconds)}",
                agent=pending.agent,
                queue=queue.name,
                talk_seconds=pending.talk_seconds,
            )
            queue_time = self.clock - queue.entered_at
            self._advance(pending.talk_seconds)
            queue.entered_at = self.clock - queue_time  # QueueTime counts waiting only
            return "bridged", pending
        if isinstance(pending, _Redirect):
            return "redirected", pending
        if isinstance(pending, _HangupRequest):
            if pending.by == "caller":
                return "hangup", "caller"
            self._event("hangup", pending.reason, by="rest")
            raise _CallOver(pending.reason)
        if self.clock >= deadline:
            return "hangup", "caller"
        return None

    def _queue_params(self, queue: QueueState) -> dict[str, str]:
        waited = str(math.ceil(self.clock - queue.entered_at))
        return {
            "QueuePosition": str(queue.position),
            "QueueSid": queue.sid,
            "QueueTime": waited,
            "AvgQueueTime": waited,
            "CurrentQueueSize": "1",
        }

    def _run_wait_document(
        self, queue: QueueState, fetch: Fetch | None, deadline: float
    ) -> tuple[str, Any] | None:
        """One pass of waitUrl TwiML (following Redirects and Gather actions)."""
        timed = self._timed_verbs()
        while fetch is not None:
            fetch.params = {**self._queue_params(queue), **fetch.params}
            doc_url, root = self._fetch_twiml(fetch)
            fetch = None
            for verb in root:
                if verb.tag in timed:
                    if timed[verb.tag](verb, doc_url, deadline):
                        return "hangup", "caller"
                elif verb.tag == "Gather":
                    outcome = self._gather(verb, doc_url, deadline)
                    if outcome is True:
                        return "hangup", "caller"
                    if isinstance(outcome, Fetch):
                        fetch = outcome
                        break
                elif verb.tag == "Redirect":
                    fetch = self._redirect(verb, doc_url)
                    break
                elif verb.tag == "Leave":
                    return "leave", None
                elif verb.tag == "Hangup":
                    self._event("hangup", "the app hung up", by="app", queue=queue.name)
                    return "hangup", "app"
                else:
                    self._unsupported(verb, " in the waitUrl")
                outcome = self._queue_checkpoint(queue, deadline)
                if outcome is not None:
                    return outcome
        return None
