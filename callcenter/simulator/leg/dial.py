"""``<Dial>``: numbers and clients (answered per ``dial_result``) and conferences of the
switchboard (part of :class:`SimulatedCall`)."""

from __future__ import annotations

import math
import secrets
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from callcenter.simulator.conferences import ConferenceOptions
from callcenter.simulator.leg.common import (
    DEFAULT_HOLD_MUSIC_CHUNK,
    Fetch,
    _CallOver,
    _HangupRequest,
    _int_attr,
    _Redirect,
    _text,
)
from callcenter.simulator.leg.events import _secs

if TYPE_CHECKING:
    from callcenter.simulator.conferences import Participant


DEFAULT_DIAL_TIME_LIMIT = 14400
_DEAF: frozenset[str] = frozenset()
"""``_listening`` in a conference: the person's keys go to the other party, not to the app."""


class DialVerb:
    """Dialling a number (simulated far end) or joining a conference until it ends."""

    def _dial(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        conference = verb.find("Conference")
        if conference is not None:
            return self._dial_conference(verb, conference, doc_url)
        targets: list[dict[str, str]] = []
        if verb.text and verb.text.strip():
            targets.append({"type": "number", "value": verb.text.strip()})
        for noun in verb:
            if noun.tag not in ("Number", "Client", "Sip", "Queue", "Conference"):
                self._unsupported(noun, " in <Dial>")
            targets.append({"type": noun.tag.lower(), "value": _text(noun)})
        timeout = max(0, _int_attr(verb, "timeout", 30))
        result = self.dial_result
        talked = 0
        if result == "completed":
            talked = math.ceil(self.dial_talk_seconds)
        elif result == "no-answer":
            self._advance(timeout)
        else:
            self._advance(1)
        dial_sid = "CA" + secrets.token_hex(16)
        label = ", ".join(
            t["value"] if t["type"] == "number" else f"{t['type']}:{t['value']}" for t in targets
        )
        self._event(
            "dial",
            label or "(nobody)",
            targets=targets,
            result=result,
            duration=talked,
            dial_call_sid=dial_sid,
            caller_id=verb.get("callerId"),
        )
        self._advance(talked)
        if not verb.get("action"):
            return None
        params = {
            "DialCallStatus": result,
            "DialCallSid": dial_sid,
            "DialCallDuration": str(talked),
        }
        return Fetch(urljoin(doc_url, verb.get("action")), verb.get("method", "POST"), params)

    def _dial_conference(self, verb: ET.Element, noun: ET.Element, doc_url: str) -> Fetch | None:
        """Join a switchboard conference and stay until it ends (or the call leaves it)."""
        name = _text(noun)
        options = ConferenceOptions.from_twiml(noun, doc_url)
        board = self._board()
        action = urljoin(doc_url, verb.get("action")) if verb.get("action") else None
        method = verb.get("method", "POST").upper()
        time_limit = max(1, _int_attr(verb, "timeLimit", DEFAULT_DIAL_TIME_LIMIT))
        participant = board.join(self, name, options)
        self.conference = participant
        if self.interactive:  # keys in a conversation go to the other party
            self._drop_input("joined a conference")
            self._listening = _DEAF
        joined = self.clock
        self._event(
            "conference",
            name,
            conference_sid=participant.conference_sid,
            start_conference_on_enter=options.start_conference_on_enter,
            end_conference_on_exit=options.end_conference_on_exit,
            muted=options.muted,
        )
        left = False
        try:
            outcome = self._in_conference(participant, options, joined, joined + time_limit)
            left = True
        finally:
            if not left:  # the call ended (hung up, error): it leaves the conference
                board.leave(participant, "hangup")
            self.conference = None
            self._listening = None
        if outcome == "redirected":
            pending = self._take(in_queue=False)
            assert isinstance(pending, _Redirect)
            return self._rest_redirect(pending)
        params = {"DialCallStatus": "completed"}
        if outcome == "caller":
            spent = math.ceil(self.clock - joined)
            self.caller_hung_up = True
            self.status = "completed"
            self._event(
                "hangup", f'caller hung up after {_secs(spent)} in conference "{name}"', by="caller"
            )
            if action:
                self._notify(action, method, {**self.call_params(), **params})
            raise _CallOver(f"hung up in conference {name} after {spent}s")
        if action is None:
            return None
        return Fetch(action, method, params)

    def _in_conference(
        self, participant: Participant, options: ConferenceOptions, joined: float, limit: float
    ) -> str:
        """Stay in the conference; returns how it ended for the call.

        ``removed`` (the conference ended, or the call was removed from it), ``redirected``
        (a REST redirect is pending; the call already left), ``caller`` (the caller's
        patience or talk time ran out; the call already left) or ``time-limit``.
        """
        board = participant.board
        name = participant.conference.friendly_name
        seen = None
        talk_until: float | None = None
        waiting_logged = False
        while True:
            if self.on_wait is not None and self._last_wait_hook != self.clock:
                self._last_wait_hook = self.clock
                self.on_wait(self)
            pending = self._take(in_queue=False, peek=True)
            if isinstance(pending, _Redirect):
                board.leave(participant, "redirected")
                return "redirected"
            if isinstance(pending, _HangupRequest):
                self._take(in_queue=False)
                if pending.by == "caller":
                    board.leave(participant, "hangup")
                    return "caller"
                self._event("hangup", pending.reason, by="rest")
                raise _CallOver(pending.reason)
            state = board.state(participant)
            self._seen_version = state.version
            self._conference_changes(seen, state, name)
            seen = state
            if state.removed is not None:
                self._event(
                    "left-conference",
                    name,
                    reason=state.removed,
                    seconds=math.ceil(self.clock - joined),
                )
                return "removed"
            if state.status == "in-progress" and talk_until is None:
                talk_until = self.clock + self.dial_talk_seconds
            patience = talk_until if talk_until is not None else joined + self.hold_seconds
            deadline = min(patience, limit)
            if self.clock >= deadline:
                if limit <= patience:
                    board.leave(participant, "time-limit")
                    self._event(
                        "left-conference",
                        name,
                        reason="time limit",
                        seconds=math.ceil(self.clock - joined),
                    )
                    return "time-limit"
                board.leave(participant, "hangup")
                return "caller"
            if state.hold:
                self._conference_music(state.hold_url, state.hold_method, "holdUrl", deadline)
            elif state.status == "init" and options.wait_url:
                self._conference_music(options.wait_url, options.wait_method, "waitUrl", deadline)
            else:
                if state.status == "init" and options.wait_url is None and not waiting_logged:
                    waiting_logged = True
                    self._event("hold", "default conference wait music", conference=name)
                self._advance(min(DEFAULT_HOLD_MUSIC_CHUNK, deadline - self.clock), deadline)

    def _conference_changes(self, old: Any, new: Any, name: str) -> None:
        """Write down what changed in the call's conference membership."""
        if new.status == "in-progress" and (old is None or old.status != "in-progress"):
            self._event("conference-start", name, conference_sid=new.conference_sid)
        if new.hold and (old is None or not old.hold):
            self._event("on-hold", new.hold_url or "default hold music", url=new.hold_url)
        elif old is not None and old.hold and not new.hold:
            self._event("off-hold")
        if new.muted and (old is None or not old.muted):
            self._event("muted")
        elif old is not None and old.muted and not new.muted:
            self._event("unmuted")

    def _conference_music(self, url: str | None, method: str, label: str, deadline: float) -> None:
        """Wait or hold music: one pass of the TwiML at ``url`` (None: Twilio's default
        music), cut short by any change for the call to look at."""
        start = self.clock
        fetch: Fetch | None = Fetch(url, method) if url else None
        timed = self._timed_verbs()
        while fetch is not None:
            doc_url, root = self._fetch_twiml(fetch)
            fetch = None
            for verb in root:
                if self._interrupted() or self.clock >= deadline:
                    return
                if verb.tag in timed:
                    if timed[verb.tag](verb, doc_url, deadline):
                        return
                elif verb.tag == "Redirect":
                    fetch = self._redirect(verb, doc_url)
                    break
                else:
                    self._unsupported(verb, f" in the {label}")
        if self.clock == start and not self._interrupted():
            # Default music, or a document that took no time: wait a while.
            self._advance(min(DEFAULT_HOLD_MUSIC_CHUNK, deadline - self.clock), deadline)
