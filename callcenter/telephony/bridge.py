"""Bridge an accepted call to its agent through Twilio's REST API (or the simulator's).

The caller is taken out of the queue by redirecting their call to TwiML that announces the
agent's number and joins a conference named after the call; the agent is dialed into the
same conference (a `client:` identity for the browser softphone, or their phone).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from callcenter.telephony.twiml import UrlBuilder

log = logging.getLogger("callcenter.bridge")


@dataclass(frozen=True)
class AgentLeg:
    username: str
    number: str
    phone: str | None = None

    @property
    def address(self) -> str:
        return self.phone or f"client:{self.username}"


class BridgeError(Exception):
    """Twilio refused or could not be reached."""


def rest_client(account_sid: str, auth_token: str, api_url: str) -> Client:
    """A twilio.rest.Client talking to `api_url` (Twilio, or the local simulator)."""
    client = Client(account_sid, auth_token)
    client.api.base_url = api_url
    return client


class CallBridge:
    """Moves callers to agents with two REST requests."""

    def __init__(self, client: Client, urls: UrlBuilder, caller_id: str) -> None:
        self.client = client
        self.urls = urls
        self.caller_id = caller_id

    def connect(self, call_sid: str, agent: AgentLeg, language: str) -> str:
        """Announce the agent to the caller and dial the agent in; returns the agent leg SID."""
        try:
            self.client.calls(call_sid).update(
                url=self.urls("/twilio/bridge/caller", agent=agent.number, lang=language),
                method="POST",
            )
            leg = self.client.calls.create(
                to=agent.address,
                from_=self.caller_id,
                url=self.urls("/twilio/bridge/agent", call=call_sid),
                method="POST",
                status_callback=self.urls("/twilio/bridge/agent-status", call=call_sid),
                status_callback_method="POST",
                status_callback_event=["answered", "completed"],
            )
        except (TwilioException, OSError) as exc:
            log.error("bridging %s to %s failed: %s", call_sid, agent.username, exc)
            raise BridgeError(str(exc)) from exc
        return str(leg.sid)

    def hang_up(self, call_sid: str) -> None:
        try:
            self.client.calls(call_sid).update(status="completed")
        except (TwilioException, OSError) as exc:
            raise BridgeError(str(exc)) from exc
