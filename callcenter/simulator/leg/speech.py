"""``<Say>``, ``<Play>`` and ``<Pause>``: what takes time and is heard.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from callcenter.simulator.leg.common import Fetch, _CallOver, _int_attr, _text
from callcenter.simulator.leg.events import _secs
from callcenter.simulator.transports import Exchange, TransportError, is_under

DEFAULT_PLAY_SECONDS = 10
_WIDE_RE = re.compile(
    r"[\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]"
)
WIDE_CHAR_SECONDS = 0.3
"""How long an interactive call takes to speak one CJK character (1 s per 12 others)."""
_RECORDING_URL_RE = re.compile(r"/Recordings/(RE[0-9a-f]{32})(?:\.wav)?$")


class SpeechVerbs:
    """The timed verbs, also nested in ``<Gather>``, wait and hold music."""

    def _speaking_seconds(self, text: str) -> float:
        """How long saying ``text`` takes: 1 s per 12 characters, CJK ones (interactive
        calls) 0.3 s each."""
        if not self.interactive:
            return max(1, math.ceil(len(text) / 12))
        wide = len(_WIDE_RE.findall(text))
        return max(1, math.ceil(wide * WIDE_CHAR_SECONDS + (len(text) - wide) / 12))

    def _timed_verbs(self) -> dict[str, Callable[..., bool]]:
        """The verbs that only take time, as a ``<Gather>`` nests them and wait and hold
        music play them: ``handler(verb, doc_url, deadline, barge_in)``, True if cut short."""
        return {"Say": self._say, "Play": self._play, "Pause": self._pause}

    def _say(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        text = _text(verb)
        loop = _int_attr(verb, "loop", 1) or (1 if barge_in else 0)
        once = self._speaking_seconds(text)
        details = {"language": verb.get("language", "en-US"), "loop": loop}
        if verb.get("voice"):
            details["voice"] = verb.get("voice")
        self._event("say", text, **details)
        return self._repeat(once, loop, deadline, "<Say>")

    def _play(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        loop = _int_attr(verb, "loop", 1) or (1 if barge_in else 0)
        digits = verb.get("digits")
        if digits:
            self._event("play", f"DTMF {digits}", digits=digits, loop=1)
            return self._advance(max(1, len(digits) // 2), deadline)
        url = urljoin(doc_url, _text(verb))
        transcript, seconds = self._media_info(url)
        details: dict[str, Any] = {"url": url, "loop": loop, "seconds": seconds}
        if transcript:
            details["transcript"] = transcript
        self._event("play", transcript or url, **details)
        return self._repeat(seconds, loop, deadline, "<Play>")

    def _repeat(self, once: float, loop: int, deadline: float | None, what: str) -> bool:
        """Play something ``loop`` times (0: forever); True if cut short by ``deadline``."""
        if loop > 0:
            return self._advance(once * loop, deadline)
        if deadline is None:
            # Endless audio outside a queue: the caller gives up after hold_seconds.
            self._advance(self.hold_seconds)
            self._event("hangup", f"caller hung up after {_secs(self.hold_seconds)} of {what}")
            self.caller_hung_up = True
            raise _CallOver(f"caller hung up during endless {what}")
        return self._advance(deadline - self.clock, deadline)

    def _media_info(self, url: str) -> tuple[str | None, float]:
        """(transcript, seconds) of a Play URL, as far as the simulator can know."""
        path = urlsplit(url).path
        recording = _RECORDING_URL_RE.search(path)
        if recording and is_under(self.api_url, url):
            split = urlsplit(url)
            meta_path = path.removesuffix(".wav") + ".json"
            meta_url = split._replace(path=meta_path, query="", fragment="").geturl()
            seconds = self._api_json(meta_url, "duration")
            label = f"recording {recording.group(1)}"
            return label, float(seconds) if seconds is not None else DEFAULT_PLAY_SECONDS
        if not path.lower().endswith(".mp3") or not is_under(self.public_url, url):
            return None, DEFAULT_PLAY_SECONDS
        split = urlsplit(url)
        text_url = split._replace(path=path[:-4] + ".txt", fragment="").geturl()
        try:
            response = self._send(text_url, "GET", {}, kind="media")
        except TransportError:
            return None, DEFAULT_PLAY_SECONDS
        if response.status_code != 200:
            return None, DEFAULT_PLAY_SECONDS
        transcript = " ".join(response.text.split())
        if not transcript:
            return None, DEFAULT_PLAY_SECONDS
        return transcript, self._speaking_seconds(transcript)

    def _api_json(self, url: str, key: str) -> Any:
        self.exchanges.append(Exchange("GET", url, {}, None, "api"))
        try:
            response = self.transport.request(
                "GET", url, None, {}, auth=(self.account_sid, self.auth_token)
            )
        except TransportError:
            return None
        self.exchanges[-1].status = response.status_code
        if response.status_code != 200:
            return None
        try:
            return response.json().get(key)
        except (ValueError, AttributeError):
            return None

    def _pause(
        self, verb: ET.Element, doc_url: str, deadline: float | None = None, barge_in: bool = False
    ) -> bool:
        seconds = max(0, _int_attr(verb, "length", 1))
        self._event("pause", "", seconds=seconds)
        return self._advance(seconds, deadline)

    def _say_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._say(verb, doc_url)
        return None

    def _play_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._play(verb, doc_url)
        return None

    def _pause_main(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        self._pause(verb, doc_url)
        return None
