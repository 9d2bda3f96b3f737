"""Supervisors at work (pure domain: each function takes a session).

- :mod:`callcenter.supervision.steps` — stepping into a call: monitor, coach, barge, leave;
- :mod:`callcenter.supervision.steer` — steering: an agent's status, moving or taking a
  waiting caller;
- :mod:`callcenter.supervision.audit` — the audit log every such action is written to.
"""
