"""A call created through the REST API rings before it asks for TwiML.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

from collections.abc import Callable

from callcenter.simulator.leg.common import _CallOver
from callcenter.simulator.leg.events import _secs


class Ringing:
    """Call progress events and the far end answering (or not)."""

    def _progress(self, event: str, call_status: str | None = None, **extra: str) -> None:
        """A call progress event (initiated, ringing, answered, completed), if subscribed."""
        if not self.status_callback_url or event not in self.status_callback_events:
            return
        params = {
            **self.call_params(),
            **extra,
            "Timestamp": self._timestamp(),
            "SequenceNumber": str(self._sequence),
            "CallbackSource": "call-progress-events",
        }
        if call_status is not None:
            params["CallStatus"] = call_status
        self._sequence += 1
        self._notify(self.status_callback_url, self.status_callback_method, params)

    def _ring(self) -> None:
        """An outbound call: initiated, ringing, then answered (or busy, no-answer, ...)."""

        def canceled() -> None:
            request = self._take_hangup()
            if request is not None:
                self._event("hangup", request.reason, by=request.by)
                raise _CallOver(request.reason, "canceled")

        self._progress("initiated", "initiated")
        canceled()
        if self.answer == "failed":
            self._event("ringing", f"{self.to}: the call failed", result="failed")
            raise _CallOver(f"the call to {self.to} failed", "failed")
        self.status = "ringing"
        self._event("ringing", self.to)
        self._progress("ringing")
        answer = self.answer
        if self.person_answers:
            answer = self._wait_for_person(canceled)
        elif answer == "busy":
            self._advance(1)
        elif answer == "no-answer":
            self._advance(self.timeout)
        else:
            self._advance(min(self.ring_seconds, self.timeout))
        canceled()
        if answer == "busy":
            raise _CallOver(f"{self.to} is busy", "busy")
        if answer == "no-answer":
            raise _CallOver(f"no answer from {self.to} after {_secs(self.timeout)}", "no-answer")
        self.status = "in-progress"
        self._answered_at = self.clock
        self._event("answered", self.to)
        self._progress("answered")

    def _wait_for_person(self, canceled: Callable[[], None]) -> str:
        """Ring until the person answers or declines (``busy``), or ``timeout`` passes."""
        deadline = self.clock + self.timeout
        while True:
            canceled()
            with self._lock:
                choice = self._choice
            if choice is not None:
                return choice
            if self.clock >= deadline:
                return "no-answer"
            self._advance(deadline - self.clock, deadline)
