"""Supervision: what supervisors see of the whole center live, and what they do about it
(pure domain: each function takes a session).

- :mod:`callcenter.supervision.board` — the wallboard: queues, agents, live calls and today
  by interval, built in one read;
- :mod:`callcenter.supervision.thresholds` — the per-queue alert thresholds supervisors set;
- :mod:`callcenter.supervision.feed` — sends the board to the supervisors' pages: the full
  board, then only what changed, throttled but never dropped;
- :mod:`callcenter.supervision.steps` — stepping into a call: monitor, coach, barge, leave;
- :mod:`callcenter.supervision.steer` — steering: an agent's status, moving or taking a
  waiting caller;
- :mod:`callcenter.supervision.audit` — the audit log every such action is written to.

See docs/agent-protocol.md (the `wallboard` event, the `supervisor:*` events) and
docs/metrics.md.
"""
