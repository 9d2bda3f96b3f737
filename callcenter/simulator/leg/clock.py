"""The call's simulated clock and its transcript (part of :class:`SimulatedCall`)."""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

from callcenter.simulator.leg.events import CallEvent


class Clock:
    """Simulated time (real time with a ``pace``) and the events written down on the way."""

    def _sleep(self, seconds: float) -> float:
        """With ``pace``, wait in real time; returns the simulated seconds that passed.

        A REST intervention (bridge, redirect, hangup) wakes the call up early, so the
        verb being played is cut short and the intervention handled at once.
        """
        if self.pace <= 0 or seconds <= 0:
            return seconds
        start = time.monotonic()
        end = start + seconds * self.pace
        self._asleep_since = start
        try:
            while (left := end - time.monotonic()) > 0:
                if self._wake.wait(left):
                    self._wake.clear()
                    if self._interrupted():
                        return min(seconds, (time.monotonic() - start) / self.pace)
            return seconds
        finally:
            self._asleep_since = None

    def _event(self, kind: str, text: str = "", **details: Any) -> CallEvent:
        at = self.clock
        if self._asleep_since is not None:  # written down while waiting (dropped input)
            at += (time.monotonic() - self._asleep_since) / self.pace
        event = CallEvent(kind, text, details, at)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _advance(self, seconds: float, deadline: float | None = None) -> bool:
        """Move the clock on; True if ``deadline`` cut it short."""
        cut = False
        if deadline is not None and self.clock + seconds >= deadline:
            cut, seconds = True, max(0.0, deadline - self.clock)
        passed = self._sleep(seconds)
        self.clock += passed
        return cut and passed >= seconds

    def _timestamp(self) -> str:
        return format_datetime(self.start_time + timedelta(seconds=self.clock))
