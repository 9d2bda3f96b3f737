"""The wallboard built from the rows of the last build (`BoardRows`) is exactly the board
built from nothing, after every step of a scripted day: the morning of tests/test_metrics.py,
the live moment of tests/test_wallboard.py, then holds, recordings, supervisors, a renamed
agent, status changes and hang-ups. Rows that did not change are reused (the same objects),
and the updates the feed sends, merged as a page merges them, give the full board."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from test_metrics import Day, at, database, script, settings, sid  # noqa: F401
from test_wallboard import NOW, live_moment

from callcenter.calls.participants import note_leg
from callcenter.calls.records import get_call
from callcenter.media.call_recordings import set_paused
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

    def rename(username: str, name: str):
        def act(session):
            session.scalar(select(Agent).where(Agent.username == username)).display_name = name

        return act

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
