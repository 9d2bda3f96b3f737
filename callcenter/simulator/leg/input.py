"""What the person of an interactive call does: keys, words, answering.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

from typing import Any

from callcenter.simulator.leg.common import _Typed
from callcenter.simulator.leg.events import CallerInput, Press, Speech

MAX_HELD_INPUT = 32
"""Inputs an interactive call keeps for its next ``<Gather>`` at most (more are dropped)."""


class PersonInput:
    """Input given from other threads, sorted for the ``<Gather>`` that listens (if any)."""

    def press(self, keys: str) -> None:
        """The person on an interactive call presses keys (``"1"``, ``"12345678#"``)."""
        self._give(Press(keys))

    def say(self, text: str) -> None:
        """The person on an interactive call says something (to a speech ``<Gather>``)."""
        text = " ".join(str(text).split())
        if not text:
            raise ValueError("say something: the text is empty")
        self._give(Speech(text))

    def _give(self, item: CallerInput) -> None:
        if not self.interactive:
            raise RuntimeError("only an interactive call takes input while it runs")
        with self._lock:
            self._live.append(_Typed(item))
        self._wake.set()

    def pick_up(self) -> None:
        """The person answers the ringing call (``person_answers``)."""
        self._choose("answer")

    def decline(self) -> None:
        """The person rejects the ringing call: Twilio reports it ``busy``."""
        self._choose("busy")

    def _choose(self, choice: str) -> None:
        if not self.person_answers:
            raise RuntimeError("nobody is asked to answer this call")
        with self._lock:
            if self._choice is None:
                self._choice = choice
        self._wake.set()

    def held_input(self) -> list[str]:
        """The keys (and quoted words) kept for the next Gather, oldest first."""
        with self._lock:
            return [typed.label() for typed in self._live if typed.held]

    def _interrupted(self) -> bool:
        """Something for the call to handle: a REST request, a change in its conference
        or (interactive) input for the Gather that listens."""
        if self._take(in_queue=self.queue is not None, peek=True) is not None:
            return True
        membership = self.conference
        if membership is not None and membership.version != self._seen_version:
            return True
        if self.person_answers and self.status == "ringing" and self._choice is not None:
            return True
        return self.interactive and self._sort_input()

    def _sort_input(self) -> bool:
        """Sort the person's input; True if the listening Gather has some.

        A Gather (or Record) that listens drops what it does not listen for.  While none
        listens, input is kept for the next one, like a phone's keypad buffer (at most
        ``MAX_HELD_INPUT``); in a conference (``_DEAF``) it goes to the other party.
        """
        listening = self._listening
        ignored: list[_Typed] = []
        held: list[_Typed] = []
        with self._lock:
            if listening is None:
                kept = sum(typed.held for typed in self._live)
                for typed in list(self._live):
                    if typed.held:
                        continue
                    if kept >= MAX_HELD_INPUT:
                        self._live.remove(typed)
                        ignored.append(typed)
                    else:
                        typed.held, kept = True, kept + 1
                        held.append(typed)
            else:
                while self._live:
                    kind = "dtmf" if isinstance(self._live[0].item, Press) else "speech"
                    if kind in listening:
                        break
                    ignored.append(self._live.popleft())
            ready = listening is not None and bool(self._live)
        for typed in held:
            self._event("held", typed.describe(), type=self._input_type(typed))
        for typed in ignored:
            reason = "too much typed ahead" if listening is None else ""
            self._ignored(typed, reason)
        return ready

    @staticmethod
    def _input_type(typed: _Typed) -> str:
        return "dtmf" if isinstance(typed.item, Press) else "speech"

    def _ignored(self, typed: _Typed, reason: str = "") -> None:
        details: dict[str, Any] = {"type": self._input_type(typed)}
        if isinstance(typed.item, Press):
            details["keys"] = typed.item.keys
        if reason:
            details["reason"] = reason
        self._event("ignored", typed.describe(), **details)

    def _drop_input(self, reason: str) -> None:
        """Drop everything typed so far (a recording starts, a conference is joined)."""
        with self._lock:
            dropped = list(self._live)
            self._live.clear()
        for typed in dropped:
            self._ignored(typed, reason)

    def _keep(self, keys: str) -> None:
        """Keys pressed after the ones a Gather took: first in line for the next one."""
        if keys:
            with self._lock:
                self._live.appendleft(_Typed(Press(keys)))

    def _next_input(self) -> _Typed | None:
        """The person's next input the listening Gather takes (others are dropped)."""
        if not self._sort_input():
            return None
        with self._lock:
            return self._live.popleft() if self._live else None
