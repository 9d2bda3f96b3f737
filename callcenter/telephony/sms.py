"""Text messages to callers through Twilio's Messages API (or the simulator's)."""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException
from twilio.rest import Client

log = logging.getLogger("callcenter.sms")


class SmsError(Exception):
    """Twilio refused the message or could not be reached."""


class SmsSender:
    """Sends one text message per call of :meth:`send`.

    >>> sender = SmsSender(client, "+864008001234")
    >>> sender.send("+8613800138000", "Warranty: https://example.com/help/warranty")
    'SM...'
    """

    def __init__(self, client: Client, from_number: str) -> None:
        self.client = client
        self.from_number = from_number

    def send(self, to: str, body: str, status_callback: str | None = None) -> str:
        """Queue the message; returns its SID."""
        try:
            message = self.client.messages.create(
                to=to,
                from_=self.from_number,
                body=body,
                **({"status_callback": status_callback} if status_callback else {}),
            )
        except (TwilioException, OSError) as exc:
            log.error("text message to %s failed: %s", to, exc)
            raise SmsError(str(exc)) from exc
        return str(message.sid)
