"""The objects one application instance works with, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import current_app
from twilio.request_validator import RequestValidator

from callcenter.calls.queues import WaitEstimates
from callcenter.config import Settings
from callcenter.db import Database
from callcenter.ivr.engine import IvrEngine
from callcenter.ivr.registry import FlowRegistry
from callcenter.media.tts import PromptCache
from callcenter.telephony.twiml import TwimlRenderer, UrlBuilder


class Announcer(Protocol):
    """Tells consoles what changed, after the change is committed."""

    def publish(self, changes: Any) -> None: ...

    def call_connected(self, call_sid: str) -> None: ...

    def kick(self) -> None:
        """Ask the dispatcher for a pass now: a committed change may make or end an offer."""

    def touch(self) -> None:
        """Something the boards show changed, nothing the dispatcher acts on: no pass."""


class SilentAnnouncer:
    """For command-line use and tests without consoles."""

    def publish(self, changes: Any) -> None:
        return None

    def call_connected(self, call_sid: str) -> None:
        return None

    def kick(self) -> None:
        return None

    def touch(self) -> None:
        return None


@dataclass
class Services:
    settings: Settings
    database: Database
    flows: FlowRegistry
    engine: IvrEngine
    prompts: PromptCache
    renderer: TwimlRenderer
    urls: UrlBuilder
    validator: RequestValidator
    announcer: Announcer = field(default_factory=SilentAnnouncer)
    wait_estimates: WaitEstimates = field(default_factory=WaitEstimates)
    extras: dict[str, Any] = field(default_factory=dict)


def get_services() -> Services:
    """The services of the current app."""
    return current_app.extensions["callcenter"]
