"""The phone page's calls: each a :class:`PhoneLine` (the simulated call, its thread and its
transcript as the page shows it), kept by the app's :class:`Phones`, which also hangs up the
calls whose page went away and rings the page for calls to its number.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

from callcenter.simulator.leg.call import SimulatedCall
from callcenter.simulator.leg.events import CallEvent, format_event
from callcenter.simulator.transports import is_under

log = logging.getLogger("callcenter.simulator.phone_page")

MAX_CALLS = 20
"""Calls the page may have going at once."""
IDLE_SECONDS = 60.0
"""A call whose events nobody asked for this long is hung up (its page is gone)."""
PRESENT_SECONDS = 5.0
"""Calls to a number ring on the page if it asked for them this recently (else the
simulator answers them)."""
EXTENSION = "callcenter.simulator.phone_page"
BROWSER_LANGUAGES = {
    "cmn-CN": "zh-CN",
    "cmn-TW": "zh-TW",
    "yue-CN": "zh-HK",
    "yue-HK": "zh-HK",
    "arb": "ar",
}
"""Twilio/Polly language codes a browser's speech synthesis knows by another name."""
_CREATE_LOCK = threading.Lock()


class TooManyCalls(Exception):
    """The page already has ``MAX_CALLS`` calls going."""


class PhoneLine:
    """One call of the page: the simulated call, its thread and its transcript.

    An ``incoming`` call (one the app placed to the page's number) runs in the
    switchboard's thread, so the line has no thread of its own.
    """

    def __init__(
        self, call: SimulatedCall, now: float, script_root: str = "", *, incoming: bool = False
    ) -> None:
        self.call = call
        self.script_root = script_root
        self.last_seen = now
        self.incoming = incoming
        self.error: str | None = None
        self.muted = False
        """The person's microphone is off (a browser softphone's mute: nothing else changes)."""
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None
        if not incoming:
            self.thread = threading.Thread(
                target=self._run, name=f"phone-{call.call_sid[-6:]}", daemon=True
            )

    @property
    def number(self) -> str:
        """The page's number: the one it calls from, or the one called."""
        return self.call.to if self.incoming else self.call.from_

    @property
    def ringing(self) -> bool:
        return self.incoming and self.call.status in ("queued", "ringing") and not self.ended

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def ended(self) -> bool:
        return self.call.done.is_set()

    def add(self, event: CallEvent) -> None:
        """The call's ``on_event`` hook (the call's thread)."""
        with self._lock:
            self._events.append(self._json(len(self._events), event))

    def events(self, after: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._events[after:]

    def _json(self, index: int, event: CallEvent) -> dict[str, Any]:
        details = event.details
        language = details.get("language") if event.kind == "say" else None
        url = None
        if event.kind == "play" and not details.get("digits"):
            url = self._local_path(str(details.get("url") or ""))
        return {
            "index": index,
            "kind": event.kind,
            "text": event.text,
            "line": format_event(event),
            "language": language,
            "lang": BROWSER_LANGUAGES.get(language, language) if language else None,
            "voice": details.get("voice") if event.kind == "say" else None,
            "url": url,
            "loop": details.get("loop", 1) if event.kind in ("say", "play") else None,
            "seconds": details.get("seconds"),
            "beep": details.get("beep") if event.kind == "recording" else None,
            "finish_on_key": details.get("finish_on_key") if event.kind == "recording" else None,
            "max_length": details.get("max_length") if event.kind == "recording" else None,
            "at": round(event.at, 1),
        }

    def _local_path(self, url: str) -> str | None:
        """A URL below the public URL as a path the page can load from its own origin."""
        public_url = self.call.public_url
        if not url or not is_under(public_url, url):
            return None
        parts = urlsplit(url)
        base_path = urlsplit(public_url).path.rstrip("/")
        path = parts.path[len(base_path) :] or "/"
        return self.script_root + path + (f"?{parts.query}" if parts.query else "")

    def _run(self) -> None:
        try:
            self.call.run()
        except Exception as exc:  # a bug: keep the thread quiet, but make it visible
            log.exception("phone call %s failed", self.call_sid)
            self.error = repr(exc)


class Phones:
    """The page's calls of one app: start them, find them, hang up abandoned ones.

    A reaper thread runs while there are calls: every ``sweep_every`` seconds it hangs up
    live calls nobody polled for ``idle_seconds`` and forgets ended ones as stale.
    """

    pace = 1.0
    """Real seconds per simulated second of the calls the page answers."""
    script_root = ""
    """Where the page is served (the audio paths of incoming calls' events)."""

    def __init__(
        self,
        *,
        max_calls: int = MAX_CALLS,
        idle_seconds: float = IDLE_SECONDS,
        sweep_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_calls = max_calls
        self.idle_seconds = idle_seconds
        self.sweep_every = sweep_every
        self.clock = clock
        self._lines: dict[str, PhoneLine] = {}
        self._numbers: dict[str, float] = {}  # number -> when a page last showed it
        self._clients: set[str] = set()  # client:NAME addresses a softphone registered
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._closed = False

    def live(self) -> int:
        with self._lock:
            return sum(not line.ended for line in self._lines.values())

    def start(
        self,
        make_call: Callable[[Callable[[CallEvent], None]], SimulatedCall],
        script_root: str = "",
    ) -> PhoneLine:
        """Create a call with ``make_call(on_event)`` and run it; raises TooManyCalls."""
        holder: list[PhoneLine] = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the phone is closed")
            if sum(not line.ended for line in self._lines.values()) >= self.max_calls:
                raise TooManyCalls
            call = make_call(lambda event: holder[0].add(event))
            line = PhoneLine(call, self.clock(), script_root)
            holder.append(line)
            self._add(line)
        assert line.thread is not None
        line.thread.start()
        return line

    def _add(self, line: PhoneLine) -> None:
        """Keep a line (and have the reaper watch it); hold ``_lock``."""
        self._lines[line.call_sid] = line
        if self._reaper is None:
            self._stop.clear()
            self._reaper = threading.Thread(target=self._reap, name="phone-reaper", daemon=True)
            self._reaper.start()

    # -- calls to the page's number ---------------------------------------------------------

    def present(self, number: str) -> list[PhoneLine]:
        """A page shows ``number``: calls to it ring there for ``PRESENT_SECONDS``.

        Returns the calls ringing for it now (and keeps them from being reaped).
        """
        now = self.clock()
        with self._lock:
            for stale in [n for n, seen in self._numbers.items() if now - seen > PRESENT_SECONDS]:
                del self._numbers[stale]  # pages that went away (or never came back)
            self._numbers[number] = now
            if number.startswith("client:"):
                self._clients.add(number)
            ringing = [
                line for line in self._lines.values() if line.number == number and line.ringing
            ]
        for line in ringing:
            line.last_seen = now
        return ringing

    def handset(self, number: str) -> Phones | None:
        """The switchboard's ``handsets``: the page if one showed ``number`` lately.

        A ``client:`` identity whose softphone registered once is never answered by the
        simulator again: gone from the page, its calls ring out unanswered, as on Twilio.
        """
        with self._lock:
            if self._closed:
                return None
            if number in self._clients:
                return self
            seen = self._numbers.get(number)
            if seen is None or self.clock() - seen > PRESENT_SECONDS:
                return None
        return self

    def ring(self, call: SimulatedCall) -> None:
        """A call to a page's number (:class:`~callcenter.simulator.switchboard.Handset`).

        It rings there; a page already on a call with that number, or with ``max_calls``
        going, is busy.
        """
        line = PhoneLine(call, self.clock(), self.script_root, incoming=True)
        earlier = call.on_event

        def on_event(event: CallEvent) -> None:
            line.add(event)
            if earlier is not None:
                earlier(event)

        call.on_event = on_event
        with self._lock:
            live = [other for other in self._lines.values() if not other.ended]
            busy = len(live) >= self.max_calls or any(other.number == call.to for other in live)
            self._add(line)
        if busy:
            call.decline()

    def get(self, sid: str) -> PhoneLine | None:
        with self._lock:
            return self._lines.get(sid)

    def touch(self, line: PhoneLine) -> None:
        line.last_seen = self.clock()

    def sweep(self) -> None:
        """Hang up abandoned calls; forget ended calls nobody looked at for a while."""
        now = self.clock()
        abandoned: list[PhoneLine] = []
        with self._lock:
            for sid, line in list(self._lines.items()):
                if now - line.last_seen < self.idle_seconds:
                    continue
                if line.ended:
                    del self._lines[sid]
                else:
                    abandoned.append(line)
        for line in abandoned:
            log.info("phone call %s: its page is gone, hanging up", line.call_sid)
            line.call.hangup("the caller's page went away", by="caller")

    def _reap(self) -> None:
        while not self._stop.wait(self.sweep_every):
            self.sweep()
            with self._lock:
                if not self._lines:
                    self._reaper = None
                    return

    def close(self, timeout: float = 10.0) -> None:
        """Hang up every call, wait for their threads and stop the reaper."""
        with self._lock:
            self._closed = True
            lines = list(self._lines.values())
            reaper, self._reaper = self._reaper, None
        for line in lines:
            if not line.ended:
                line.call.hangup("the phone closed", by="caller")
        for line in lines:
            if line.thread is not None:
                line.thread.join(timeout)
            else:
                line.call.done.wait(timeout)
        self._stop.set()
        if reaper is not None:
            reaper.join(timeout)


def phones_of(app: Flask) -> Phones:
    """The :class:`Phones` of an app (created on first use)."""
    with _CREATE_LOCK:
        phones = app.extensions.get(EXTENSION)
        if phones is None:
            phones = app.extensions[EXTENSION] = Phones()
        return phones
