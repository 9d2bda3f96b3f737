"""What happens on a simulated call: the caller's inputs, the events written down, the result."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from callcenter.simulator.transports import Exchange

_DTMF_RE = re.compile(r"^[0-9*#]+$")


@dataclass(frozen=True)
class Press:
    """The caller presses keys, e.g. ``Press("12345#")``."""

    keys: str

    def __post_init__(self) -> None:
        if not _DTMF_RE.fullmatch(self.keys):
            raise ValueError(f"not DTMF keys: {self.keys!r} (use 0-9, * and #)")


@dataclass(frozen=True)
class Speech:
    """The caller says a phrase, e.g. ``Speech("sales please")``."""

    text: str


CallerInput = Press | Speech


def parse_input(value: str | CallerInput) -> CallerInput:
    """``"123#"`` is a key press, anything else a spoken phrase."""
    if isinstance(value, Press | Speech):
        return value
    text = str(value).strip()
    return Press(text) if _DTMF_RE.fullmatch(text) else Speech(text)


@dataclass
class CallEvent:
    """Something the caller heard or did. ``at`` is simulated seconds since the answer."""

    kind: str
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


HEARD_KINDS = ("say", "play", "error")


@dataclass
class CallResult:
    call_sid: str
    events: list[CallEvent]
    ended: str
    exchanges: list[Exchange]
    status: str = "completed"
    duration: int = 0
    recordings: list[str] = field(default_factory=list)
    unused_inputs: list[CallerInput] = field(default_factory=list)
    """Scripted inputs still waiting when the call ended."""

    def heard(self) -> list[str]:
        """What the caller heard, in order: spoken texts, played transcripts (or URLs)."""
        return [event.text for event in self.events if event.kind in HEARD_KINDS]

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def transcript(self) -> str:
        return "\n".join(format_event(event) for event in self.events)


def _secs(value: float) -> str:
    return f"{value:g}s"


def format_event(event: CallEvent) -> str:
    """One readable line per event, for the CLI."""
    d = event.details
    kind = event.kind
    if kind == "say":
        tags = ", ".join(t for t in (d.get("language"), d.get("voice")) if t)
        loop = f" (x{d['loop']})" if d.get("loop", 1) != 1 else ""
        return f"Say ({tags}): {event.text}{loop}"
    if kind == "play":
        loop = f" (x{d['loop']})" if d.get("loop", 1) != 1 else ""
        if d.get("digits"):
            return f"Play DTMF: {d['digits']}"
        if d.get("transcript"):
            return f'Play: "{event.text}" [{d.get("url")}]{loop}'
        return f"Play: {event.text}{loop}"
    if kind == "pause":
        return f"Pause: {_secs(d.get('seconds', 0))}"
    if kind == "input":
        ahead = " (typed ahead)" if d.get("held") else ""
        if d.get("type") == "speech":
            return f'Said: "{event.text}"{ahead}'
        return f"Pressed: {event.text}{ahead}"
    if kind == "timeout":
        return f"No input: {event.text}"
    if kind == "ignored":
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return f"Not listening, dropped: {event.text}{reason}"
    if kind == "held":
        return f"Kept for the next Gather: {event.text}"
    if kind == "recording":
        keys = d.get("finish_on_key") or ""
        finish = f"press {' or '.join(keys)} or hang up" if 0 < len(keys) <= 2 else "hang up"
        beep = "beep, " if d.get("beep") else ""
        return f"Recording ({beep}{finish} to finish, {_secs(d.get('max_length', 0))} at most)"
    if kind == "enqueue":
        return f'In queue "{event.text}", position {d.get("position", 1)}'
    if kind == "hold":
        return f"Hold: {event.text}"
    if kind == "leave":
        return f'Left queue "{event.text}" after {_secs(d.get("queue_time", 0))}'
    if kind == "bridged":
        return f"Connected: {event.text}"
    if kind == "record":
        return f"Recorded: {event.text}"
    if kind == "dial":
        return f"Dial {event.text}: {d.get('result')} ({_secs(d.get('duration', 0))})"
    if kind == "redirect":
        return f"Redirect: {event.text}"
    if kind == "hangup":
        return f"Hangup: {event.text}"
    if kind == "reject":
        return f"Rejected: {event.text}"
    if kind == "error":
        return f"Application error ({d.get('reason', '')}): {event.text}"
    if kind == "unsupported":
        return f"Unsupported verb: {event.text}"
    if kind == "loop":
        return f"Stopped: {event.text}"
    if kind == "status":
        return f"Call {event.text}"
    if kind == "ringing":
        return f"Ringing: {event.text}"
    if kind == "answered":
        return f"Answered: {event.text}"
    if kind == "conference":
        return f'In conference "{event.text}"'
    if kind == "conference-start":
        return f'Conference "{event.text}" started'
    if kind == "left-conference":
        return (
            f'Left conference "{event.text}" ({d.get("reason")}) after {_secs(d.get("seconds", 0))}'
        )
    if kind == "on-hold":
        return f"On hold: {event.text}"
    if kind == "off-hold":
        return "Off hold"
    if kind == "muted":
        return "Muted"
    if kind == "unmuted":
        return "Unmuted"
    return f"{kind.capitalize()}: {event.text}"
