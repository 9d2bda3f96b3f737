"""Reports: queue and agent figures over a period (from callcenter.metrics), where callers
go in the IVR, and Erlang C staffing advice; as JSON, CSV, text tables and pages.

- :mod:`callcenter.reports.periods` — report periods as typed (dates in the center's zone);
- :mod:`callcenter.reports.ivr` — per IVR node: reached, per exit, hang-ups;
- :mod:`callcenter.reports.erlang` and :mod:`callcenter.reports.staffing` — staffing advice;
- :mod:`callcenter.reports.output` — payloads, CSV, text tables;
- :mod:`callcenter.reports.cli` — `callcenter report …`.

HTTP: callcenter/web/reports.py. See docs/metrics.md.
"""
