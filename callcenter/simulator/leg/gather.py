"""``<Gather>``: a scripted caller's next input, or an interactive person's.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from callcenter.simulator.leg.common import Fetch, _GatherSpec, _int_attr
from callcenter.simulator.leg.events import Press, Speech, _secs

SPEECH_CONFIDENCE = "0.92"


class GatherVerb:
    """Prompts, then keys or speech sent to the action."""

    def _gather(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None
    ) -> Fetch | bool | None:
        """A Fetch for the action, None to go on with the next verb, True if ``deadline``
        (the caller's patience in a queue) ran out first."""
        input_types = set(verb.get("input", "dtmf").lower().split())
        timeout = max(0, _int_attr(verb, "timeout", 5))
        finish_on_key = verb.get("finishOnKey", "#")
        num_digits = _int_attr(verb, "numDigits", 0)
        action = urljoin(doc_url, verb.get("action") or doc_url)
        method = verb.get("method", "POST").upper()
        on_empty = verb.get("actionOnEmptyResult", "false").lower() == "true"
        if self.interactive:
            return self._gather_live(
                verb,
                doc_url,
                deadline,
                _GatherSpec(
                    frozenset(input_types),
                    timeout,
                    finish_on_key,
                    num_digits,
                    action,
                    method,
                    on_empty,
                ),
            )

        upcoming = self.inputs[0] if self.inputs else None
        fits = (isinstance(upcoming, Press) and "dtmf" in input_types) or (
            isinstance(upcoming, Speech) and "speech" in input_types
        )
        for prompt in verb:
            nested = self._timed_verbs().get(prompt.tag)
            if nested is None:
                self._unsupported(prompt, " in <Gather>")
            # With an answer ready, the caller barges in on endless prompts.
            if nested(prompt, doc_url, deadline, barge_in=fits):
                return True

        if not fits:
            if self._advance(timeout, deadline):
                return True
            self._event("timeout", f"no input for {_secs(timeout)}", seconds=timeout)
            if on_empty:
                return Fetch(action, method)
            return None

        assert upcoming is not None
        self.inputs.popleft()
        if isinstance(upcoming, Speech):
            self._event("input", upcoming.text, type="speech")
            if self._advance(max(1, math.ceil(len(upcoming.text) / 12)), deadline):
                return True
            params = {"SpeechResult": upcoming.text, "Confidence": SPEECH_CONFIDENCE}
            return Fetch(action, method, params)

        digits, finished_on = "", ""
        for key in upcoming.keys:
            if finish_on_key and key in finish_on_key:
                finished_on = key
                break
            digits += key
            if num_digits and len(digits) >= num_digits:
                break
        self._event("input", upcoming.keys, type="dtmf", digits=digits)
        waited = len(digits) + len(finished_on)
        complete = finished_on or (num_digits and len(digits) >= num_digits)
        if not complete:
            waited += timeout  # Twilio waits for more keys before submitting
        if self._advance(max(1, waited), deadline):
            return True
        if not digits and not on_empty:
            return None
        params = {"Digits": digits} if digits else {}
        params["FinishedOnKey"] = finished_on
        return Fetch(action, method, params)

    def _gather_live(
        self, verb: ET.Element, doc_url: str, deadline: float | None, spec: _GatherSpec
    ) -> Fetch | bool | None:
        """An interactive Gather: prompts, then wait for the person (see :meth:`_gather`)."""
        self._listening = spec.input_types
        try:
            for prompt in verb:
                nested = self._timed_verbs().get(prompt.tag)
                if nested is None:
                    self._unsupported(prompt, " in <Gather>")
                if self._interrupted():
                    break  # typed ahead, barged in, or a REST request cut the prompt
                if nested(prompt, doc_url, deadline, barge_in=True):
                    return True
            return self._collect(spec, deadline)
        finally:
            self._listening = None
            if self.status != "completed":
                self._sort_input()  # what it did not take waits for the next Gather

    def _collect(self, spec: _GatherSpec, deadline: float | None) -> Fetch | bool | None:
        """Wait for the person's keys or words, ``spec.timeout`` at a time."""
        digits, finished_on, complete = "", "", False
        until = self.clock + spec.timeout
        while not complete:
            if self._take(in_queue=self.queue is not None, peek=True) is not None:
                return None  # a REST request or a hang-up: handled at the verb boundary
            typed = self._next_input()
            if typed is None:
                if self.clock >= until:
                    break
                if self._advance(until - self.clock, deadline):
                    return True
                continue
            item, ahead = typed.item, {"held": True} if typed.held else {}
            if isinstance(item, Speech):
                if digits:
                    self._ignored(typed)
                    continue
                self._event("input", item.text, type="speech", **ahead)
                params = {"SpeechResult": item.text, "Confidence": SPEECH_CONFIDENCE}
                return Fetch(spec.action, spec.method, params)
            taken = 0
            for key in item.keys:
                taken += 1
                if spec.finish_on_key and key in spec.finish_on_key:
                    finished_on, complete = key, True
                    break
                digits += key
                if spec.num_digits and len(digits) >= spec.num_digits:
                    complete = True
                    break
            self._event("input", item.keys[:taken], type="dtmf", digits=digits, **ahead)
            self._keep(item.keys[taken:])
            until = self.clock + spec.timeout  # Twilio waits ``timeout`` for the next key
        if not digits and not finished_on:
            self._event("timeout", f"no input for {_secs(spec.timeout)}", seconds=spec.timeout)
            return Fetch(spec.action, spec.method) if spec.on_empty else None
        if not digits and not spec.on_empty:
            return None
        params = {"Digits": digits} if digits else {}
        params["FinishedOnKey"] = finished_on
        return Fetch(spec.action, spec.method, params)

    def _gather_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        return self._gather(verb, doc_url)
