"""Today's queue figures kept between wallboard builds (`TodayFigures`) stay exact: a late
status callback for a caller who entered in an interval already closed, and a write made
through another engine (another process), are on the next board, and a bucket is only
aggregated again when its facts changed (or it is still open)."""

from __future__ import annotations

from typing import Any

from test_metrics import Day, at, database, script, settings  # noqa: F401

from callcenter.db import Database
from callcenter.supervision.board import BoardRows, build_board


def today(board: dict[str, Any]) -> dict[str, Any]:
    return {"queues": board["queues"], "intervals": board["intervals"]}


def abandoned_in(board: dict[str, Any], quarter: str) -> int:
    """Support's abandoned callers in the quarter hour starting at `quarter` (local hh:mm)."""
    intervals = board["intervals"]
    index = next(i for i, start in enumerate(intervals["starts"]) if f"T{quarter}:00" in start)
    return intervals["queues"]["support"]["abandoned"][index]


def support(board: dict[str, Any]) -> dict[str, Any]:
    return next(q["today"] for q in board["queues"] if q["name"] == "support")


def test_kept_figures_follow_late_callbacks_and_other_processes(
    database,  # noqa: F811
    settings,  # noqa: F811
    database_url,
) -> None:
    day = Day(database, settings)
    script(day)
    day.enter(7, at(5, 30))  # waiting since 10:05:30 (the 10:00 interval)
    day.enter(8, at(29, 30))  # waiting since 10:29:30 (the 10:15 interval)
    rows = BoardRows()

    def build(now) -> dict[str, Any]:
        with database.read_session() as session:
            kept = build_board(session, settings, now, rows)
            full = build_board(session, settings, now)
        assert today(kept) == today(full)
        return kept

    first = build(at(30, 10))
    assert rows.today.aggregated == 43  # every quarter hour since midnight, 10:30 still open
    again = build(at(31))
    assert rows.today.aggregated == 0  # nothing changed, the open bucket included
    assert support(again)["longest_wait_seconds"] == 25 * 60 + 30  # 7, counted from now
    assert support(again)["abandoned"] == support(first)["abandoned"] == 1
    assert abandoned_in(again, "10:00") == 1 and abandoned_in(again, "10:15") == 0

    # 8's hang-up reaches us at 10:31:30, after its interval closed: 10:15 is aggregated again.
    day.hang_up(8, at(31, 30))
    late = build(at(32))
    assert rows.today.aggregated == 1
    assert support(late)["abandoned"] == 2
    assert abandoned_in(late, "10:15") == 1

    # Another process (its own engine and connections) ends 7's wait, in the 10:00 interval.
    other = Database(database_url)
    try:
        Day(other, settings).hang_up(7, at(32, 30))
    finally:
        other.dispose()
    moved = build(at(33))
    assert rows.today.aggregated == 1
    assert support(moved)["abandoned"] == 3
    assert abandoned_in(moved, "10:00") == 2
    assert support(moved)["longest_wait_seconds"] == 27 * 60  # 7's wait, now over

    # A caller enters the open quarter hour: it is aggregated again, and only it.
    day.enter(9, at(33, 30))
    entered = build(at(34))
    assert rows.today.aggregated == 1
    assert support(entered)["offered"] == support(moved)["offered"] + 1


def test_open_interval_kept_only_while_nothing_entered_after_it_was_counted(
    database,  # noqa: F811
    settings,  # noqa: F811
    database_url,
) -> None:
    """Another process whose clock is a little ahead commits an entry stamped after the
    board's `now`: the board leaves it out, and counts it at the next build once its time
    has come, though no revision moved in between."""
    day = Day(database, settings)
    script(day)
    rows = BoardRows()

    def build(now) -> dict[str, Any]:
        with database.read_session() as session:
            kept = build_board(session, settings, now, rows)
            full = build_board(session, settings, now)
        assert today(kept) == today(full)
        return kept

    other = Database(database_url)
    try:
        Day(other, settings).enter(9, at(40, 20))
    finally:
        other.dispose()
    before = build(at(40, 10))
    after = build(at(40, 30))  # nothing written in between
    assert support(after)["offered"] == support(before)["offered"] + 1
    assert rows.today.aggregated == 1  # the open quarter hour, counted again
    build(at(40, 40))
    assert rows.today.aggregated == 0
