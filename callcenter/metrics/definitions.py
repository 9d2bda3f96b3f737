"""Each metric's name and its definition in one sentence (for pages, CSV headers, docs).

T, the short-abandon threshold and N are the settings ``metrics.service_level_seconds``,
``metrics.short_abandon_seconds`` and ``metrics.fcr_days``; :func:`definition` fills them
in. A ratio is a number from 0 to 1, or None when its denominator is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from callcenter.config import MetricsConfig
from callcenter.messages import N_

Translate = Callable[[str], str]
"""A message id → its text in the reader's language (the web layer passes gettext)."""


QUEUE_FIELDS = (
    "interval_start", "queue", "offered", "answered", "answered_in_sl", "abandoned",
    "short_abandoned", "callbacks_requested", "callbacks_made", "voicemails", "service_level",
    "asa_seconds", "aht_seconds", "talk_seconds", "hold_seconds", "wrapup_seconds",
    "abandon_rate", "longest_wait_seconds", "csat_average", "csat_responses",
)  # fmt: skip
AGENT_FIELDS = (
    "agent_id", "username", "name", "handled", "outbound", "outbound_talk_seconds",
    "aht_seconds", "talk_seconds", "hold_seconds", "wrapup_seconds", "occupancy", "fcr",
    "transfers_out", "offers_missed", "offers_declined",
)  # fmt: skip

DEFINITIONS: dict[str, str] = {
    "interval_start": N_(
        "Start of the interval, in the center's time zone; a call counts in "
        "the interval in which it entered the queue."
    ),
    "queue": N_("The queue the caller waited in."),
    "offered": N_(
        "Callers who entered the queue (from the IVR, a transfer or an overflow), "
        "short abandons and call-back requests included."
    ),
    "answered": N_(
        "Callers taken by an agent while waiting on the line (call-backs are counted apart)."
    ),
    "answered_in_sl": N_("Answered callers who had waited at most T = {t} seconds."),
    "abandoned": N_("Callers who hung up while waiting, after more than {short} seconds."),
    "short_abandoned": N_(
        "Callers who hung up while waiting within {short} seconds (not abandons)."
    ),
    "callbacks_requested": N_("Waiting callers who asked to be called back (not abandons)."),
    "callbacks_made": N_(
        "Call-backs an agent took and dialed (asked for in the queue, or offered for a voicemail)."
    ),
    "voicemails": N_("Callers who left a voicemail after waiting in the queue."),
    "service_level": N_(
        "Answered within T = {t} seconds ÷ (answered + abandoned after {short} seconds)."
    ),
    "asa_seconds": N_("Average speed of answer: total queue wait of answered callers ÷ answered."),
    "aht_seconds": N_("Average handle time: (talk + hold + wrap-up) ÷ handled calls."),
    "talk_seconds": N_("Time agents were connected to the caller, not counting hold."),
    "hold_seconds": N_("Time the caller was on hold."),
    "wrapup_seconds": N_(
        "Time agents spent in wrap-up after the call (until saved, or the "
        "queue's wrap-up time ran out)."
    ),
    "abandon_rate": N_("Abandoned ÷ offered (call-backs and short abandons are not abandons)."),
    "longest_wait_seconds": N_(
        "The longest wait of a caller in the queue (a caller still waiting counts up to now)."
    ),
    "csat_average": N_("Average post-call survey score (1–5); none until surveys are answered."),
    "csat_responses": N_("Number of post-call survey answers."),
    "agent_id": N_("The agent's id."),
    "username": N_("The agent's login name."),
    "name": N_("The agent's display name."),
    "handled": N_(
        "Calls the agent took (accepted, or received by warm transfer) whose talk has ended."
    ),
    "outbound": N_(
        "Handled calls the agent placed (dial pad, a Call button, the softphone, call-backs "
        "of voicemails and follow-ups); they never enter a queue's figures."
    ),
    "outbound_talk_seconds": N_("Talk time of the calls the agent placed, not counting hold."),
    "occupancy": N_(
        "(talk + wrap-up) ÷ logged-in-available time (available, ringing, on a call or in wrap-up)."
    ),
    "fcr": N_(
        "Handled calls with no call from the same number within N = {n} days after "
        "÷ handled calls from a known number."
    ),
    "transfers_out": N_("Calls the agent handed to a queue or another agent."),
    "offers_missed": N_("Calls offered to the agent that rang out unanswered."),
    "offers_declined": N_("Calls offered to the agent that they declined."),
}

# Metrics that are ratios shown as percentages (0.5 → 50.0 %); so are percentile ranks.
PERCENTAGES = frozenset({
    "service_level", "abandon_rate", "occupancy", "fcr", "expected_service_level",
    "service_level_target", "expected_occupancy", "service_level_logged_in",
})  # fmt: skip


def percentages(names: Iterable[str]) -> list[str]:
    """Those of `names` shown as percentages: the ratios of :data:`PERCENTAGES` and the
    percentile ranks (``<metric>_rank``). The reports' payloads send this list, so the
    pages format from it rather than from a copy."""
    return [name for name in names if name in PERCENTAGES or name.endswith("_rank")]


# Which way is better, for percentile ranks: True when a higher value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "handled": True,
    "aht_seconds": False,
    "talk_seconds": False,
    "hold_seconds": False,
    "wrapup_seconds": False,
    "occupancy": True,
    "fcr": True,
    "transfers_out": False,
    "offers_missed": False,
    "offers_declined": False,
    "csat_average": True,
}


def definition(name: str, config: MetricsConfig | None = None, translate: Translate = N_) -> str:
    """The definition of a metric with the configured thresholds filled in, in the language
    of `translate` (English by default).

    >>> definition("service_level")
    'Answered within T = 20 seconds ÷ (answered + abandoned after 5 seconds).'
    """
    config = config or MetricsConfig()
    return translate(DEFINITIONS[name]).format(
        t=config.service_level_seconds, short=config.short_abandon_seconds, n=config.fcr_days
    )


def ratio(numerator: float, denominator: float) -> float | None:
    """numerator ÷ denominator, or None when the denominator is 0 (never a made-up 0)."""
    return numerator / denominator if denominator else None
