"""SQLite's write lock per caller over a bench run, from the app's `/metrics`.

`lock_histograms` reads the `callcenter_write_lock_wait_seconds` and
`callcenter_write_lock_held_seconds` histograms; `lock_figures` turns two readings (before
and after a run) into one line per caller: write transactions, held and waited p50/p99
(interpolated within buckets, as Prometheus' histogram_quantile does) and totals.
"""

from __future__ import annotations

import re
from collections import defaultdict

LOCK_SAMPLE = re.compile(
    r'^callcenter_write_lock_(wait|held)_seconds_(bucket|count|sum)\{caller="([^"]*)"'
    r'(?:,le="([^"]+)")?\} (\S+)$'
)


def lock_histograms(server_url: str) -> dict[tuple[str, str], dict[str, float]]:
    """The write-lock histograms of `/metrics` (SQLite only): per (wait|held, caller), each
    bucket's cumulative count by its bound, and `count` and `sum`."""
    import requests

    found: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    try:
        text = requests.get(server_url + "/metrics", timeout=10).text
    except requests.RequestException:
        return {}
    for line in text.splitlines():
        match = LOCK_SAMPLE.match(line)
        if match:
            kind, part, caller, bound, value = match.groups()
            found[(kind, caller)][bound if part == "bucket" else part] = float(value)
    return dict(found)


def _bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def lock_figures(
    before: dict[tuple[str, str], dict[str, float]], after: dict[tuple[str, str], dict[str, float]]
) -> list[str]:
    """Per caller, over the run (after minus before): write transactions, held p50/p99 and
    total, waited p50/p99 and total; the longest holders (by total held) first."""

    def delta(key: tuple[str, str]) -> dict[str, float]:
        old = before.get(key, {})
        return {name: value - old.get(name, 0.0) for name, value in after.get(key, {}).items()}

    def quantiles(figures: dict[str, float]) -> tuple[float, float]:
        buckets = sorted(
            (float(bound), count)
            for bound, count in figures.items()
            if bound not in ("count", "sum")
        )
        return _bucket_quantile(buckets, 0.5), _bucket_quantile(buckets, 0.99)

    rows = []
    every = {"wait": defaultdict(float), "held": defaultdict(float)}
    for caller in sorted({caller for kind, caller in after if kind == "held"}):
        held, wait = delta(("held", caller)), delta(("wait", caller))
        if held.get("count", 0) <= 0:
            continue
        for kind, figures in (("held", held), ("wait", wait)):
            for name, value in figures.items():
                every[kind][name] += value
        rows.append((held.get("sum", 0.0), caller, held, wait))
    lines = []
    for label, held, wait in [("all", every["held"], every["wait"])] + [
        (caller, held, wait) for _, caller, held, wait in sorted(rows, reverse=True)[:14]
    ]:
        h50, h99 = quantiles(held)
        w50, w99 = quantiles(wait)
        lines.append(
            f"{label[:60]:<60} n {held.get('count', 0):>6.0f}  held p50 {h50 * 1e3:6.1f} p99 "
            f"{h99 * 1e3:6.1f} ms, {held.get('sum', 0):5.1f} s  waited p50 {w50 * 1e3:6.1f} "
            f"p99 {w99 * 1e3:6.1f} ms, {wait.get('sum', 0):5.1f} s"
        )
    return lines
