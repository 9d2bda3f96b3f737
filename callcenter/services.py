"""The objects one application instance works with, built once by the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from twilio.request_validator import RequestValidator

from callcenter.config import Settings
from callcenter.db import Database
from callcenter.ivr.engine import IvrEngine
from callcenter.ivr.loader import FlowRegistry
from callcenter.telephony.twiml import TwimlRenderer, UrlBuilder
from callcenter.tts import PromptCache


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
    extras: dict[str, Any] = field(default_factory=dict)


def get_services() -> Services:
    """The services of the current app."""
    return current_app.extensions["callcenter"]
