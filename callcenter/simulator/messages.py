"""Text messages sent through the Messages API (part of :class:`~callcenter.simulator.board.Board`).

Each is ``queued``, then ``sent`` and ``delivered`` at once by the worker
(``delivery_policy`` may make it ``undelivered`` or ``failed``), with a status callback at
each step.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from callcenter.simulator.callbacks import _Callback
from callcenter.simulator.common import _now
from callcenter.simulator.transports import API_VERSION

log = logging.getLogger("callcenter.simulator")
MAX_MESSAGE_LENGTH = 1600
DELIVERY_RESULTS = ("delivered", "undelivered", "failed")
DELIVERY_ERRORS = {
    "undelivered": (30003, "Unreachable destination handset"),
    "failed": (30008, "Unknown error"),
}
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def message_segments(body: str) -> int:
    """How many SMS segments ``body`` takes: 160 GSM-7 characters (153 each when split; the
    extension characters count twice) or, with any other character, 70 UTF-16 units (67)."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in body):
        units = sum(2 if char in _GSM_EXTENDED else 1 for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


@dataclass(eq=False)
class Message:
    """A text message sent through the Messages API (the switchboard keeps it in memory)."""

    sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    media_urls: tuple[str, ...]
    status_callback: str | None
    date_created: datetime
    date_updated: datetime
    date_sent: datetime | None = None
    status: str = "queued"
    """queued, then sent and delivered (or undelivered), or failed."""
    direction: str = "outbound-api"
    error_code: int | None = None
    error_message: str | None = None

    @property
    def num_segments(self) -> int:
        return message_segments(self.body)


class Messages:
    """Send, list, fetch and delete text messages."""

    def send_message(
        self,
        to: str,
        body: str = "",
        *,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        media_urls: Iterable[str] = (),
        status_callback: str | None = None,
    ) -> Message:
        """Send a text message (REST ``Messages`` create): it is ``queued`` and then, from
        the worker, ``sent`` and ``delivered`` (or what the ``delivery_policy`` says), with
        a status callback to ``status_callback`` at each step.  Raises ValueError without
        a sender, RuntimeError once the board is closed."""
        if not from_ and not messaging_service_sid:
            raise ValueError("a message needs From or MessagingServiceSid")
        media = tuple(media_urls)
        now = _now()
        message = Message(
            sid=("MM" if media else "SM") + secrets.token_hex(16),
            to=to,
            from_=from_ or None,
            body=body,
            messaging_service_sid=messaging_service_sid or None,
            media_urls=media,
            status_callback=status_callback,
            date_created=now,
            date_updated=now,
        )
        with self.lock:
            if self._closed:
                raise RuntimeError("the switchboard is closed")
            self._messages[message.sid] = message
            self._submit(lambda: self._deliver_message(message))
        return message

    def messages(self, to: str | None = None, from_: str | None = None) -> list[Message]:
        """The messages sent (to ``to``, from ``from_``), oldest first."""
        with self.lock:
            return [
                message
                for message in self._messages.values()
                if (to is None or message.to == to) and (from_ is None or message.from_ == from_)
            ]

    def get_message(self, sid: str) -> Message | None:
        with self.lock:
            return self._messages.get(sid)

    def delete_message(self, sid: str) -> bool:
        """Forget a message; False if unknown.  Raises ValueError while it is queued."""
        with self.lock:
            message = self._messages.get(sid)
            if message is None:
                return False
            if message.status == "queued":
                raise ValueError(f"message {sid} is queued")
            del self._messages[sid]
            return True

    def _deliver_message(self, message: Message) -> None:
        """The worker's job: the message is sent and delivered (or not), calling back."""
        result = self.delivery_policy(message.to) if self.delivery_policy else "delivered"
        if result not in DELIVERY_RESULTS:
            log.warning("delivery policy said %r for %s: delivering", result, message.to)
            result = "delivered"
        for status in ("sent", result) if result != "failed" else ("failed",):
            with self.lock:
                now = _now()
                message.status = status
                message.date_updated = now
                if status == "sent":
                    message.date_sent = now
                if status in DELIVERY_ERRORS:
                    message.error_code, message.error_message = DELIVERY_ERRORS[status]
                callback = self._message_event(message)
            if callback is not None:
                self._deliver(callback)

    def _message_event(self, message: Message) -> _Callback | None:
        if not message.status_callback:
            return None
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "To": message.to,
        }
        if message.from_:
            params["From"] = message.from_
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code is not None:
            params["ErrorCode"] = str(message.error_code)
        return _Callback(message.status_callback, "POST", params)
