"""Call-center metrics: definitions, the facts they are computed from, and the computations
(pure domain: each function takes a session and the settings).

- :mod:`callcenter.metrics.definitions` — each metric's name and one-sentence definition;
- :mod:`callcenter.metrics.facts` — the tables written as calls happen (queue entries,
  agent handles of calls, agent status spans, IVR stays);
- :mod:`callcenter.metrics.recorder` — what writes them;
- :mod:`callcenter.metrics.ivr_paths` — the IVR path facts, from the IVR's step events;
- :mod:`callcenter.metrics.queues` — queue rows per interval, totals, today so far;
- :mod:`callcenter.metrics.agents` — agent rows and percentile ranks among peers.

See docs/metrics.md.
"""
