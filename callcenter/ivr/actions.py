"""The IVR's action vocabulary: what a caller gets next (speak, gather input, enqueue,
record, dial, join a conference, hang up). Plain data, rendered as TwiML by an adapter
(`telephony/twiml.py`); the engine, the queue wait and the survey produce them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Speak:
    """Speak text. `personal` prompts carry caller data and are never served from the cache."""

    text: str
    language: str
    personal: bool = False


@dataclass(frozen=True)
class PlayAudio:
    url: str


@dataclass(frozen=True)
class Silence:
    seconds: int


Prompt = Speak | PlayAudio | Silence


@dataclass(frozen=True)
class Gather:
    """Wait for key presses or speech, then call back for (flow, node, attempt)."""

    flow: str
    node: str
    attempt: int
    prompts: tuple[Prompt, ...]
    language: str
    input: tuple[str, ...] = ("dtmf",)
    timeout: int = 5
    num_digits: int | None = None
    finish_on_key: str = ""
    hints: tuple[str, ...] = ()
    callback_queue: str | None = None
    """Set on the wait loop's callback offer: the keys go to the queue's callback route."""
    survey_call: str | None = None
    """Set on a post-call survey question (`node` names it): the answer goes to the survey
    route of this call."""


@dataclass(frozen=True)
class Enqueue:
    queue: str
    language: str
    call: str | None = None
    """The call record the waiting leg belongs to, when it is not the leg's own (a customer
    we called back, waiting again after a transfer)."""


@dataclass(frozen=True)
class Record:
    mailbox: str
    max_length: int
    language: str
    goodbye: str | None = None


@dataclass(frozen=True)
class Dial:
    flow: str
    node: str
    number: str
    timeout: int


@dataclass(frozen=True)
class JoinConference:
    """Bridge this leg into a conference (the agent's and the caller's legs meet there)."""

    name: str
    start_on_enter: bool
    end_on_exit: bool
    events: bool = False
    """Ask for the conference's join/leave/start/end callbacks."""
    survey_call: str | None = None
    """When the conference ends for this leg, go on to this call's post-call survey."""


@dataclass(frozen=True)
class Leave:
    """Leave the queue (the wait is over)."""


@dataclass(frozen=True)
class Hangup:
    pass


Action = (
    Speak | PlayAudio | Silence | Gather | Enqueue | Record | Dial | JoinConference | Leave | Hangup
)
