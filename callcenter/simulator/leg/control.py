"""The REST side's seam (bridge, redirect, inline TwiML, hang-up) and the verbs that end or
move a document: ``<Hangup>``, ``<Reject>``, ``<Redirect>``, ``<Leave>`` (part of
:class:`SimulatedCall`)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from callcenter.simulator.leg.common import (
    Fetch,
    _absolute,
    _Bridge,
    _CallOver,
    _HangupRequest,
    _Redirect,
    _text,
)

HANGUP_BY = ("rest", "caller")


class Control:
    """Requests from other threads, taken at the next verb boundary, and the control verbs."""

    def bridge(self, agent: str = "agent", talk_seconds: float = 20) -> None:
        """An agent takes the caller out of the queue and talks for ``talk_seconds``.

        Afterwards the Enqueue ``action`` gets ``QueueResult=bridged`` (as on Twilio).
        Ignored until the caller is in a queue.
        """
        with self._lock:
            self._pending.append(_Bridge(agent, talk_seconds))
        self._wake.set()

    def redirect(self, url: str, method: str = "POST") -> None:
        """Like a REST call update (or queue member dequeue) with a new TwiML URL."""
        with self._lock:
            self._pending.append(_Redirect(_absolute(self.public_url, url), method.upper()))
        self._wake.set()

    def run_twiml(self, twiml: str) -> None:
        """Like a REST call update with ``Twiml``: the call runs this document next."""
        with self._lock:
            self._pending.append(_Redirect(self._doc_url, "POST", twiml))
        self._wake.set()

    def hangup(self, reason: str = "hung up via REST", *, by: str = "rest") -> None:
        """Like a REST call update with ``Status=completed`` (``canceled`` before answer).

        ``by="caller"``: the caller hangs up (an interactive call's person), which Twilio
        reports as the caller's hang-up (``QueueResult=hangup`` in a queue, ...).
        """
        if by not in HANGUP_BY:
            raise ValueError(f"by must be one of {', '.join(HANGUP_BY)}")
        with self._lock:
            self._pending.append(_HangupRequest(reason, by))
        self._wake.set()

    def poke(self) -> None:
        """Wake a paced call up to look at its state (its conference changed)."""
        self._wake.set()

    def _take_hangup(self) -> _HangupRequest | None:
        with self._lock:
            for item in self._pending:
                if isinstance(item, _HangupRequest):
                    self._pending.remove(item)
                    return item
        return None

    def _take(
        self, *, in_queue: bool, peek: bool = False
    ) -> _Bridge | _Redirect | _HangupRequest | None:
        with self._lock:
            for item in list(self._pending):
                if isinstance(item, _Bridge) and not in_queue:
                    continue
                if not peek:
                    self._pending.remove(item)
                return item
        return None

    def _intervene(self, pending: _Redirect | _HangupRequest | _Bridge) -> Fetch:
        """Act on a REST redirect or hang-up (or the caller's hang-up) between verbs."""
        if isinstance(pending, _Redirect):
            return self._rest_redirect(pending)
        assert isinstance(pending, _HangupRequest)
        self._hung_up(pending)
        raise _CallOver(pending.reason)

    def _hung_up(self, request: _HangupRequest) -> None:
        if request.by == "caller":
            self.caller_hung_up = True
        self._event("hangup", request.reason, by=request.by)

    def _rest_redirect(self, redirect: _Redirect) -> Fetch:
        if redirect.twiml is not None:
            self._event(
                "redirect", "(inline TwiML)", method="", source="rest", twiml=redirect.twiml
            )
        else:
            self._event("redirect", redirect.url, method=redirect.method, source="rest")
        return Fetch(redirect.url, redirect.method, twiml=redirect.twiml)

    def _hangup_verb(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._event("hangup", "the app hung up", by="app")
        raise _CallOver(self._app_ended("hung up by the app"))

    def _reject(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        reason = verb.get("reason", "rejected")
        self._event("reject", reason, reason=reason)
        raise _CallOver(f"rejected ({reason})", "busy" if reason == "busy" else "no-answer")

    def _redirect(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        url = urljoin(doc_url, _text(verb))
        method = verb.get("method", "POST").upper()
        self._event("redirect", url, method=method)
        return Fetch(url, method)

    def _leave_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        return None  # <Leave> outside a queue does nothing
