"""The wallboard built from the rows of the last build (`BoardRows`) is exactly the board
built from nothing, after every step of a scripted day: the morning of tests/test_metrics.py,
the live moment of tests/test_wallboard.py, then holds, recordings, supervisors, a renamed
agent, status changes and hang-ups. Rows that did not change are reused (the same objects),
and the updates the feed sends, merged as a page merges them, give the full board."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.sql import visitors
from test_metrics import Day, at, database, script, settings, sid  # noqa: F401
from test_wallboard import NOW, live_moment

import callcenter.supervision.board as board_module
from callcenter.calls.participants import note_leg
from callcenter.calls.records import get_call
from callcenter.care.models import Followup, Ticket
from callcenter.db import Database
from callcenter.media.call_recordings import set_paused
from callcenter.metrics.facts import AGENT_BOARD_COLUMNS
from callcenter.metrics.recorder import record_hold
from callcenter.models import Agent, CallRecording
from callcenter.people.agents import create_agent, set_presence
from callcenter.supervision.board import BoardRows, build_board
from callcenter.supervision.feed import KEYED, board_changes


def merge(page: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """An update merged into a page's board, as docs/agent-protocol.md tells pages to."""
    merged = {**page, **{k: v for k, v in update.items() if k not in KEYED}}
    for section, key in KEYED.items():
        rows = {row[key]: row for row in page[section]}
        for row in update.get(section, []):
            rows[row[key]] = row
        for gone in update.get(f"{section}_removed", []):
            rows.pop(gone, None)
        merged[section] = list(rows.values())
    return {k: v for k, v in merged.items() if not k.endswith("_removed")}


def by_key(board: dict[str, Any]) -> dict[str, Any]:
    """A board with its rows keyed (a page's merge keeps the rows, not their order)."""
    return {**board, **{s: {row[k]: row for row in board[s]} for s, k in KEYED.items()}}


class WatchedDay(Day):
    """After every step: the incremental board equals a full build, and the page that
    merged every update shows the full board."""

    def __init__(self, database, settings) -> None:  # noqa: F811
        super().__init__(database, settings)
        self.rows = BoardRows()
        self.last: dict[str, Any] | None = None
        self.page: dict[str, Any] | None = None
        self.steps = 0
        self.reused = 0

    def step(self, action):
        result = super().step(action)
        with self.database.session() as session:
            full = build_board(session, self.settings, NOW)
            kept = build_board(session, self.settings, NOW, self.rows)
        assert kept == full
        if self.last is None:
            self.page = kept
        else:
            assert self.page is not None
            self.page = merge(self.page, board_changes(self.last, kept))
            before = {a["id"]: a for a in self.last["agents"]}
            self.reused += sum(1 for a in kept["agents"] if before.get(a["id"]) is a)
        assert by_key(self.page) == by_key(full)
        self.last = kept
        self.steps += 1
        return result


def rename(username: str, name: str):
    def act(session):
        session.scalar(select(Agent).where(Agent.username == username)).display_name = name

    return act


def test_incremental_board_equals_a_full_build_after_every_step(database, settings) -> None:  # noqa: F811
    day = WatchedDay(database, settings)
    script(day)
    live_moment(day)
    # Bob takes the caller off hold, and puts them on hold again.
    day.step(lambda s: record_hold(s, sid(21), False, at(19, 50)))
    day.step(lambda s: record_hold(s, sid(21), True, at(19, 55)))

    # Bob's call is recorded, the recording paused, then resumed.
    def recording(session):
        call = get_call(session, sid(21))
        session.add(CallRecording(call_sid=call.call_sid, leg_sid=call.call_sid,
                                  agent_id=call.agent_id, status="in-progress",
                                  recording_sid="RE" + "7" * 32))  # fmt: skip

    def pause(paused: bool):
        def act(session):
            set_paused(session, sid(21), paused, None, at(19, 56))

        return act

    day.step(recording)
    day.step(pause(True))
    day.step(pause(False))

    # A supervisor coaches bob's call, then bob is renamed: the call's agent and the
    # supervisor's name come from the agents' rows.
    def coach(session):
        chief = create_agent(session, username="chief", display_name="Chief", agent_number="1090",
                             password="chief-secret-1", role="supervisor")  # fmt: skip
        session.flush()
        note_leg(get_call(session, sid(21)), "CA" + "c" * 32, role="supervisor",
                 agent_id=chief.id, mode="coach", state="connected")  # fmt: skip

    day.step(coach)
    day.step(rename("bob", "Robert"))
    day.step(rename("chief", "The Chief"))
    # The supervisor leaves; bob's caller hangs up; bob wraps up; amy goes away.
    day.step(lambda s: note_leg(get_call(s, sid(21)), "CA" + "c" * 32, role="supervisor",
                                state="left"))  # fmt: skip
    day.hang_up(21, at(19, 58))
    day.wrap(21, "bob", at(19, 59))

    def away(session):
        set_presence(session.get(Agent, day.agents["amy"]), "away", at(19, 59), "lunch")

    day.step(away)
    day.hang_up(23, at(19, 59))
    assert day.steps > 30
    # Most steps touch one or two agents: the others' rows were reused, not rebuilt.
    assert day.reused > day.steps // 2


def test_agents_and_their_day_are_read_again_only_when_their_stamp_moved(
    database,  # noqa: F811
    settings,  # noqa: F811
    database_url,
) -> None:
    """The agents' rows (and their handled calls today) are kept between builds until a
    transaction, in this process or another, changes what the board shows of an agent (or
    any handle); a console heartbeat does not count. The board equals a full build all
    along."""
    day = Day(database, settings)
    script(day)
    live_moment(day)
    rows = BoardRows()

    def build() -> dict[str, Any]:
        with database.read_session() as session:
            kept = build_board(session, settings, NOW, rows)
            full = build_board(session, settings, NOW)
        assert kept == full
        return kept

    build()
    reads = dict(rows.reads)
    day.beat(NOW)  # heartbeats only
    build()
    assert rows.reads == reads  # nothing read again

    # Another process renames bob and puts amy away: read again, and shown.
    other = Database(database_url)
    try:
        Day(other, settings).step(rename("bob", "Robert"))
        board = build()
        assert rows.reads["agents"] == reads["agents"] + 1
        assert rows.reads["handles"] == reads["handles"]
        assert "Robert" in {agent["name"] for agent in board["agents"]}

        def away(session):
            agent = session.scalar(select(Agent).where(Agent.username == "amy"))
            set_presence(agent, "away", NOW, "lunch")

        Day(other, settings).step(away)
        board = build()
        amy = next(agent for agent in board["agents"] if agent["username"] == "amy")
        assert (amy["status"], amy["reason"]) == ("away", "lunch")

        # ... and takes bob's caller off hold (a handle): the day is read again, not the rows.
        reads = dict(rows.reads)
        Day(other, settings).step(lambda s: record_hold(s, sid(21), False, at(19, 50)))
        board = build()
        assert rows.reads["handles"] == reads["handles"] + 1
        assert rows.reads["agents"] == reads["agents"]
        bob = next(agent for agent in board["agents"] if agent["username"] == "bob")
        assert bob["call"]["on_hold"] is False
    finally:
        other.dispose()


def test_the_agents_stamp_watches_every_column_the_board_reads() -> None:
    read = {
        element.name
        for element in visitors.iterate(board_module._AGENTS)
        if isinstance(element, Column)
    }
    assert read - {"id"} <= set(AGENT_BOARD_COLUMNS)


def test_care_counts_are_read_again_only_when_tickets_or_follow_ups_changed(
    database,  # noqa: F811
    settings,  # noqa: F811
    database_url,
) -> None:
    """The care counts are kept until a ticket's status or due time, or a follow-up's status,
    changes in any process; overdue and due soon still follow the clock."""
    day = Day(database, settings)
    script(day)
    rows = BoardRows()

    def build(now) -> dict[str, Any]:
        with database.read_session() as session:
            kept = build_board(session, settings, now, rows)
            full = build_board(session, settings, now)
        assert kept == full
        return kept["care"]

    assert build(NOW)["tickets"] == {"open": 0, "overdue": 0, "due_soon": 0}
    other = Database(database_url)
    try:

        def ticket(session):
            session.add(Ticket(category="repair", priority="normal", status="open",
                               description="Fridge", source="agent", created_at=at(1),
                               updated_at=at(1), due_at=NOW + timedelta(minutes=30)))  # fmt: skip

        Day(other, settings).step(ticket)
        assert build(NOW)["tickets"] == {"open": 1, "overdue": 0, "due_soon": 1}
        reads = rows.care.reads
        # An hour later, nothing written: overdue now, from what was kept.
        assert build(NOW + timedelta(hours=1))["tickets"] == {"open": 1, "overdue": 1,
                                                               "due_soon": 0}  # fmt: skip
        day.beat(NOW)
        build(NOW)
        assert rows.care.reads == reads

        def resolve(session):
            session.scalar(select(Ticket)).status = "resolved"
            for followup in session.scalars(select(Followup)):
                followup.status, followup.open_key = "done", None

        Day(other, settings).step(resolve)
        care = build(NOW)
        assert rows.care.reads == reads + 1
        assert care == {"followups": {"open": 0, "oldest_since": None},
                        "tickets": {"open": 0, "overdue": 0, "due_soon": 0}}  # fmt: skip
    finally:
        other.dispose()


def test_handled_today_kept_only_up_to_the_build_time(database, settings) -> None:  # noqa: F811
    """A build whose time is before some of today's handles began (another process's
    clock ahead) counts them only from a build at or after their start."""
    day = Day(database, settings)
    script(day)
    live_moment(day)
    rows = BoardRows()
    for now in (at(10), NOW, at(5), NOW):
        with database.read_session() as session:
            assert build_board(session, settings, now, rows) == build_board(session, settings, now)
