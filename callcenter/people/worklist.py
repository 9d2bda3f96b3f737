"""Items agents take from a shared list and work on (voicemails, follow-ups): who may take
one, give it back or close it.

>>> VOICEMAILS = Worklist("voicemail", "voicemails", "new", "handled", InboxError)
>>> target = VOICEMAILS.take(session, voicemail, agent, now, to_agent_id=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from callcenter.models import Agent


class WorkItem(Protocol):
    assigned_agent_id: int | None
    assigned_at: datetime | None
    status: str


@dataclass(frozen=True)
class Worklist:
    """The rules of one shared list; refusals raise `error` with a sentence."""

    noun: str
    plural: str
    open_status: str
    done_status: str
    error: type[Exception]

    def check_open(self, item: WorkItem) -> None:
        """Refuse to work on an item that is already closed."""
        if item.status == self.done_status:
            raise self.error(f"this {self.noun} is already {self.done_status}")

    def check_not_taken(self, item: WorkItem, agent: Agent, owner: int) -> None:
        """Refuse to act on an item someone other than `owner` works on (supervisors may)."""
        if item.assigned_agent_id not in (None, owner) and not agent.is_supervisor:
            raise self.error(f"someone else is working on this {self.noun}")

    def take(
        self, session: Session, item: WorkItem, agent: Agent, now: datetime,
        to_agent_id: int | None = None,
    ) -> int:  # fmt: skip
        """Assign the item to `agent` (or, for supervisors, to `to_agent_id`); the assignee."""
        self.check_open(item)
        target = to_agent_id if to_agent_id is not None else agent.id
        if target != agent.id and not agent.is_supervisor:
            raise self.error(f"only supervisors assign {self.plural} to others")
        self.check_not_taken(item, agent, target)
        if session.get(Agent, target) is None:
            raise self.error("no such agent")
        item.assigned_agent_id = target
        item.assigned_at = now
        item.status = "assigned"
        return target

    def give_back(self, item: WorkItem, agent: Agent) -> None:
        """Put an assigned item back on the list."""
        if item.status != "assigned":
            raise self.error(f"this {self.noun} is not assigned")
        self.check_not_taken(item, agent, agent.id)
        item.assigned_agent_id = None
        item.assigned_at = None
        item.status = self.open_status
