"""The vocabulary shared by the leg's modules: limits, what a verb hands back, control flow."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import phonenumbers

from callcenter.simulator.leg.events import CallerInput, Press

APPLICATION_ERROR_MESSAGE = "We are sorry, an application error has occurred. Goodbye."
DIAL_RESULTS = ("completed", "busy", "no-answer", "failed")
ANSWERS = ("answer", "busy", "no-answer", "failed")
"""What the far end of an outbound (REST-created) call does."""
CALL_PROGRESS_EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_HOLD_MUSIC_CHUNK = 10


@dataclass
class Fetch:
    """Go fetch a TwiML document (and then run ``after``, e.g. a recording callback)."""

    url: str
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None
    twiml: str | None = None
    """Inline TwiML (a REST ``Twiml`` parameter): run it instead of requesting ``url``."""


@dataclass
class QueueState:
    """The queue the caller is in, visible to the REST side while they wait."""

    name: str
    sid: str
    entered_at: float
    position: int = 1


@dataclass(frozen=True)
class _Bridge:
    agent: str
    talk_seconds: float


@dataclass(frozen=True)
class _Redirect:
    url: str
    method: str
    twiml: str | None = None


@dataclass(frozen=True)
class _GatherSpec:
    """What an interactive ``<Gather>`` listens for and where it sends the result."""

    input_types: frozenset[str]
    timeout: int
    finish_on_key: str
    num_digits: int
    action: str
    method: str
    on_empty: bool


@dataclass
class _Typed:
    """What the person of an interactive call did, waiting for the call to take it."""

    item: CallerInput
    held: bool = False
    """Kept for the next Gather (announced by a ``held`` event)."""

    def label(self) -> str:
        return self.item.keys if isinstance(self.item, Press) else f'"{self.item.text}"'

    def describe(self) -> str:
        if isinstance(self.item, Press):
            return f"pressed {self.item.keys}"
        return f'said "{self.item.text}"'


@dataclass(frozen=True)
class _HangupRequest:
    reason: str
    by: str = "rest"


class _CallOver(Exception):
    """Ends the call (control flow, not an error)."""

    def __init__(self, ended: str, status: str = "completed") -> None:
        super().__init__(ended)
        self.ended = ended
        self.status = status


def _country(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    return phonenumbers.region_code_for_number(parsed) or ""


def _absolute(base: str, path_or_url: str) -> str:
    """A path starting with '/' is appended to ``base``; a full URL is kept."""
    if path_or_url.startswith("/"):
        return base.rstrip("/") + path_or_url
    return path_or_url


def _int_attr(element: ET.Element, name: str, default: int) -> int:
    try:
        return int(float(element.get(name, default)))
    except (TypeError, ValueError):
        return default


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())
