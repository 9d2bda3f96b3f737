"""Erlang C: how many agents a queue needs to answer a share of callers within T seconds.

The textbook M/M/N model (calls arrive at random, handle times are exponential, nobody
abandons). Written out here rather than taken from a package: the formula is a dozen lines,
and the packages that offer it bring numerical and optimisation libraries the server has no
other use for. The tests check it against published tables (tests/test_staffing.py).

Erlang C is computed through the Erlang B recursion, which stays exact for hundreds of
agents (no factorials, no powers that overflow).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 5000


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability with `agents` servers and `traffic` Erlangs, no queue."""
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = traffic * blocking / (n + traffic * blocking)
    return blocking


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a caller has to wait (1 when the agents cannot keep up)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(traffic, agents)
    return agents * blocking / (agents - traffic * (1 - blocking))


def service_level(traffic: float, agents: int, aht: float, target_seconds: float) -> float:
    """Share of callers answered within `target_seconds`."""
    if traffic <= 0:
        return 1.0
    if agents <= traffic:
        return 0.0
    waiting = erlang_c(traffic, agents)
    return 1 - waiting * math.exp(-(agents - traffic) * target_seconds / aht)


def average_speed_of_answer(traffic: float, agents: int, aht: float) -> float | None:
    """Mean wait of all callers in seconds (None when the queue grows without end)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return None
    return erlang_c(traffic, agents) * aht / (agents - traffic)


@dataclass(frozen=True)
class Staffing:
    """The agents needed for one interval, and what to expect with them."""

    traffic: float  # Erlangs: calls × AHT ÷ interval length
    agents: int
    service_level: float
    asa_seconds: float | None
    occupancy: float | None


def agents_needed(
    calls: float, aht: float, interval_seconds: float, target: float, target_seconds: float
) -> Staffing:
    """The fewest agents that answer `target` (0–1) of `calls` within `target_seconds`."""
    traffic = calls * aht / interval_seconds if calls > 0 and aht > 0 else 0.0
    if traffic <= 0:
        return Staffing(0.0, 0, 1.0, 0.0, None)
    agents = max(1, math.floor(traffic) + 1)
    while service_level(traffic, agents, aht, target_seconds) < target and agents < MAX_AGENTS:
        agents += 1
    return Staffing(
        traffic=traffic,
        agents=agents,
        service_level=service_level(traffic, agents, aht, target_seconds),
        asa_seconds=average_speed_of_answer(traffic, agents, aht),
        occupancy=traffic / agents,
    )
