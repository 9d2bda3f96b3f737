"""Tickets and follow-ups, live: reminders to owners, follow-up list updates, missed-call texts.

`CareWatch.check` runs in the dispatcher's housekeeping (after every pass, see
`Realtime.housekeeping`):

- voicemails still unhandled after `followups.voicemail_minutes` become follow-ups;
- each ticket's owner hears `ticket:due` on `/agent` once when its deadline is
  `tickets.due_soon_hours` away and once when it has passed;
- the "sorry we missed you" texts of new follow-ups (queues with `missed_call_sms`) are
  sent, each once;
- consoles hear `followups:changed` (the list's counts) when the list changed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_socketio import SocketIO

from callcenter.care.followups import (
    claim_texts,
    followup_counts,
    housekeeping_due,
    text_sent,
    unhandled_voicemails,
)
from callcenter.care.models import Ticket
from callcenter.care.ticket_reminders import due_reminders, reminders_due
from callcenter.care.ticket_views import describe as describe_ticket
from callcenter.db import LOCK_TIMEOUT
from callcenter.models import utcnow
from callcenter.services import Services
from callcenter.telephony.sms import SmsError, SmsSender

log = logging.getLogger("callcenter.care")

AGENT_NS = "/agent"


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


class CareWatch:
    """The tickets' and follow-ups' part of the dispatcher's housekeeping."""

    def __init__(self, socketio: SocketIO, services: Services, sms: SmsSender | None) -> None:
        self.socketio = socketio
        self.services = services
        self.sms = sms

    def check(self) -> None:
        settings = self.services.settings
        database = self.services.database
        now = utcnow()
        outbox: list[tuple[str, Any, str | None]] = []
        with database.read_session(LOCK_TIMEOUT) as session:  # most passes: nothing due
            due = housekeeping_due(session, settings, now) or reminders_due(session, settings, now)
        if not due:
            return
        with database.session() as session:
            opened = unhandled_voicemails(session, settings, now)
            for owner_id, ticket_id, state in due_reminders(session, settings, now):
                ticket = session.get(Ticket, ticket_id)
                if ticket is not None:
                    payload = {"state": state, "ticket": describe_ticket(session, settings,
                                                                         ticket, now)}  # fmt: skip
                    outbox.append(("ticket:due", payload, agent_room(owner_id)))
            texts = claim_texts(session, settings)
        if opened:
            self.followups_changed()
        if opened or outbox:  # new follow-ups, tickets now due soon or overdue: the wallboard
            self.services.announcer.touch()
        for event, data, room in outbox:
            self.socketio.emit(event, data, to=room, namespace=AGENT_NS)
        for followup_id, number, text in texts:
            self._text(followup_id, number, text)

    def _text(self, followup_id: int, number: str, text: str) -> None:
        sid = None
        if self.sms is not None and text:
            try:
                sid = self.sms.send(number, text)
            except SmsError as exc:
                log.warning("missed-call text for follow-up %s failed: %s", followup_id, exc)
        with self.services.database.session() as session:
            text_sent(session, followup_id, sid, utcnow())

    def followups_changed(self) -> None:
        """Tell every agent console the follow-up list changed (with its counts)."""
        with self.services.database.read_session() as session:
            counts = followup_counts(session, utcnow())
        self.socketio.emit("followups:changed", counts, namespace=AGENT_NS)
