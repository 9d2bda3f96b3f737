"""What routing steps share: the error an agent action can meet, and what a step changed.

A leaf of calls/: :mod:`callcenter.calls.routing` and the modules beside it build
:class:`Changes`; the realtime layer announces them after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from callcenter.messages import Refusal


class RoutingError(Refusal):
    """An agent action that cannot be done now (offer gone, call taken, ...)."""


@dataclass
class Changes:
    """What a routing step did, for the realtime layer to announce after the commit."""

    offers: list[tuple[int, str]] = field(default_factory=list)
    """(agent_id, call_sid) newly offered."""
    offer_expiries: dict[tuple[int, str], datetime] = field(default_factory=dict)
    """When each new offer (by agent_id, call_sid) stops being answerable, as written."""
    withdrawn: list[tuple[int, str, str]] = field(default_factory=list)
    """(agent_id, call_sid, reason) offers that ended without an accept."""
    agents: set[int] = field(default_factory=set)
    """Agents whose status changed."""
    calls: set[str] = field(default_factory=set)
    """Calls whose queue state changed."""
    ended: list[tuple[int, str]] = field(default_factory=list)
    """(agent_id, call_sid) calls that ended while connected to the agent."""
    consults: list[tuple[str, int, int, str]] = field(default_factory=list)
    """(call_sid, from agent_id, to agent_id, status) warm-transfer steps, for both agents."""
    participants: set[str] = field(default_factory=set)
    """Calls whose participants (legs in the conference, consult invitations) changed."""
    followups: set[int] = field(default_factory=set)
    """Follow-ups opened or added to (the consoles' follow-up lists refresh)."""

    def merge(self, other: Changes) -> Changes:
        self.offers += other.offers
        self.offer_expiries |= other.offer_expiries
        self.withdrawn += other.withdrawn
        self.agents |= other.agents
        self.calls |= other.calls
        self.ended += other.ended
        self.consults += other.consults
        self.participants |= other.participants
        self.followups |= other.followups
        return self

    def __bool__(self) -> bool:
        return bool(
            self.offers or self.withdrawn or self.agents or self.calls or self.ended
            or self.consults or self.participants or self.followups
        )  # fmt: skip
