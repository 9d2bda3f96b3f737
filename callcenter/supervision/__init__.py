"""Supervision: what supervisors see of the whole center live, and what they set.

- :mod:`callcenter.supervision.board` — the wallboard: queues, agents, live calls and today
  by interval, built in one read (pure domain);
- :mod:`callcenter.supervision.thresholds` — the per-queue alert thresholds supervisors set;
- :mod:`callcenter.supervision.feed` — sends the board to the supervisors' pages: the full
  board, then only what changed, throttled but never dropped.

See docs/agent-protocol.md (the `wallboard` event) and docs/metrics.md.
"""
