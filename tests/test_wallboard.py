"""The wallboard's figures: the scripted morning of tests/test_metrics.py, then a live moment
at 10:20 (a caller connected and on hold, one ringing, one waiting, one in the IVR, a
call-back pending), with every figure on the board checked exactly (docs/metrics.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import dispatch
from test_metrics import Day, at, database, number, script, settings, sid  # noqa: F401

from callcenter.calls.callbacks import request_callback
from callcenter.calls.participants import note_leg
from callcenter.calls.records import get_call, open_call
from callcenter.config import load_settings
from callcenter.metrics.recorder import record_hold
from callcenter.models import Customer, CustomerPhone, Voicemail
from callcenter.people.agents import create_agent
from callcenter.supervision.board import LIVE_DEFINITIONS, TODAY_FIELDS, build_board
from callcenter.supervision.feed import BoardFeed, board_changes
from callcenter.supervision.thresholds import ThresholdError, set_thresholds, thresholds

NOW = at(20)  # 10:20 local


def iso(moment) -> str:
    return moment.isoformat()


def live_moment(day: Day) -> None:
    """After the morning: what is going on at 10:20."""
    day.step(lambda s: s.add(Customer(name="王伟", tier="vip",
                                      phones=[CustomerPhone(number=number(21))])))  # fmt: skip
    # 21: bob (idle longest) answers after 10 s and puts the caller on hold at 10:19:40.
    day.enter(21, at(19))
    day.take(21, "bob", at(19, 10))
    day.step(lambda s: record_hold(s, sid(21), True, at(19, 40)))
    # 22: offered to amy at 10:19:20, ringing; 23: waiting since 10:19:30 (nobody free).
    day.enter(22, at(19, 20))
    day.beat(at(19, 20))
    day.step(lambda s: dispatch(s, day.settings, at(19, 20)))
    day.enter(23, at(19, 30))
    # 25: asks to be called back at 10:19:40 and hangs up: a call-back pending.
    day.enter(25, at(19, 35))
    day.step(lambda s: request_callback(s, get_call(s, sid(25)), at(19, 40)))
    day.hang_up(25, at(19, 41))

    # 24: a caller still in the IVR, since 10:19:45.
    def in_ivr(session):
        call = open_call(session, call_sid=sid(24), from_raw=number(24), to="+864008001234",
                         flow="main", default_language="en")  # fmt: skip
        call.started_at = at(19, 45)
        call.node = "main_menu"

    day.step(in_ivr)
    # Voicemails in support's mailbox: one handled, two not (one from yesterday).
    for n, status, when in [(31, "handled", at(5)), (32, "new", at(6)), (33, "new", at(-1440))]:
        day.step(lambda s, n=n, status=status, when=when: s.add(Voicemail(
            mailbox="support", call_sid=sid(n), recording_sid=f"RE{n:032x}", status=status,
            created_at=when)))  # fmt: skip


@pytest.fixture
def board(database, settings):  # noqa: F811
    day = Day(database, settings)
    script(day)
    live_moment(day)
    with database.session() as session:
        set_thresholds(session, settings, "support", at(19), oldest_wait_seconds=30)
    with database.session() as session:
        return day, build_board(session, settings, NOW)


def test_queue_figures_live_and_today(board) -> None:
    _day, data = board
    support = {q["name"]: q for q in data["queues"]}["support"]
    assert support["display_name"] == "After-sales support"
    # 22 (ringing) and 23 (waiting) are on the line; 25 waits to be called back.
    assert (support["waiting"], support["oldest_since"], support["callbacks"]) == (
        2, iso(at(19, 20)), 1)  # fmt: skip
    assert support["agents"] == {
        "staffed": 2, "available": 0, "softphone_not_ready": 0, "on_call": 2, "wrap_up": 0,
        "away": 0,
    }  # fmt: skip
    # The morning's 10:00–10:15 and call 6's second wait, plus 21, 22, 23 and 25.
    assert support["today"] == {
        "offered": 11, "answered": 5, "answered_in_sl": 4, "abandoned": 1,
        "short_abandoned": 1, "callbacks_requested": 2, "callbacks_made": 1, "voicemails": 0,
        "service_level": 4 / 6, "asa_seconds": 85 / 5, "aht_seconds": 700 / 5,
        "abandon_rate": 1 / 11, "longest_wait_seconds": 40.0,
    }  # fmt: skip
    assert support["voicemails_unhandled"] == 2
    assert support["thresholds"] == {
        "oldest_wait_seconds": 30, "service_level": 0.8, "custom": ["oldest_wait_seconds"],
    }  # fmt: skip
    # 40 s waited > 30 s; 67 % < 80 %.
    assert support["alerts"] == {"oldest_wait": "alert", "service_level": "alert"}
    vip = {q["name"]: q for q in data["queues"]}["vip"]
    assert (vip["waiting"], vip["callbacks"], vip["oldest_since"]) == (0, 0, None)
    assert vip["agents"]["staffed"] == 0 and vip["today"]["offered"] == 0
    assert vip["alerts"] == {"oldest_wait": "ok", "service_level": "none"}
    assert vip["thresholds"] == {"oldest_wait_seconds": 60, "service_level": 0.8, "custom": []}


def test_agent_rows(board) -> None:
    _day, data = board
    amy, bob = data["agents"]
    assert (bob["username"], bob["status"], bob["since"]) == ("bob", "on-call", iso(at(19, 10)))
    assert (bob["handled_today"], bob["aht_today_seconds"]) == (2, 120.0)
    assert bob["call"] == {
        "call_sid": sid(21), "state": "connected", "caller": number(21), "customer": "王伟",
        "tier": "vip", "queue": "support", "talk_since": iso(at(19, 10)), "on_hold": True,
        "hold_since": iso(at(19, 40)), "recording": None, "recording_paused": False,
        "supervisors": [],
    }  # fmt: skip
    assert (amy["username"], amy["status"], amy["since"]) == ("amy", "ringing", iso(at(19, 20)))
    assert (amy["handled_today"], amy["aht_today_seconds"]) == (3, 460 / 3)
    assert amy["call"]["call_sid"] == sid(22) and amy["call"]["talk_since"] is None
    assert amy["call"]["state"] == "ringing" and amy["call"]["on_hold"] is False


def test_live_calls(board) -> None:
    _day, data = board
    shown = [(c["call_sid"], c["state"], c["since"], c["queue"], c["agent"]) for c in data["calls"]]
    assert shown == [
        (sid(21), "connected", iso(at(19, 10)), "support", "Bob"),
        (sid(22), "ringing", iso(at(19, 20)), "support", "Amy"),
        (sid(23), "waiting", iso(at(19, 30)), "support", None),
        (sid(24), "ivr", iso(at(19, 45)), None, None),
    ]
    assert data["calls"][0]["customer"] == "王伟" and data["calls"][0]["tier"] == "vip"
    assert data["calls"][3]["node"] == "main_menu"


def test_supervisors_on_a_call(board, database, settings) -> None:  # noqa: F811
    """Who is on a call in which mode: on the live call and on its agent's row; a
    supervisor who left is no longer shown."""
    _day, before = board
    assert [c["supervisors"] for c in before["calls"]] == [[], [], [], []]
    with database.session() as session:
        chief = create_agent(session, username="chief", display_name="Chief", agent_number="1090",
                             password="chief-secret-1", role="supervisor")  # fmt: skip
        lead = create_agent(session, username="lead", display_name="Lead", agent_number="1091",
                            password="lead-secret-12", role="admin")  # fmt: skip
        call = get_call(session, sid(21))
        note_leg(call, "CA" + "c" * 32, role="supervisor", agent_id=chief.id, mode="coach",
                 state="connected")  # fmt: skip
        note_leg(call, "CA" + "d" * 32, role="supervisor", agent_id=lead.id, mode="monitor",
                 state="left")  # fmt: skip
        ids = chief.id, lead.id
    with database.session() as session:
        data = build_board(session, settings, NOW)
    on_call = [{"id": ids[0], "name": "Chief", "mode": "coach"}]
    assert [c["supervisors"] for c in data["calls"]] == [on_call, [], [], []]
    bob = {a["username"]: a for a in data["agents"]}["bob"]
    assert bob["call"]["supervisors"] == on_call
    with database.session() as session:  # lead steps in again: a new leg
        note_leg(get_call(session, sid(21)), "CA" + "e" * 32, role="supervisor",
                 agent_id=ids[1], mode="monitor", state="connecting")  # fmt: skip
    with database.session() as session:
        data = build_board(session, settings, NOW)
    assert data["calls"][0]["supervisors"] == [
        *on_call, {"id": ids[1], "name": "Lead", "mode": "monitor"},
    ]  # fmt: skip


def test_today_by_quarter_hour(board) -> None:
    _day, data = board
    intervals = data["intervals"]
    assert intervals["starts"][0] == "2026-11-25T00:00:00+08:00"
    assert intervals["starts"][-2:] == ["2026-11-25T10:00:00+08:00", "2026-11-25T10:15:00+08:00"]
    assert len(intervals["starts"]) == 42
    support = intervals["queues"]["support"]
    assert support["offered"][-2:] == [6, 5]
    assert support["answered"][-2:] == [3, 2]
    assert support["abandoned"][-2:] == [1, 0]
    assert support["short_abandoned"][-2:] == [1, 0]
    assert support["service_level"][-2:] == [0.5, 1.0]
    assert support["offered"][:-2] == [0] * 40 and support["service_level"][0] is None
    center = intervals["all"]
    assert center["offered"][-2:] == [6, 5] and center["service_level"][-2:] == [0.5, 1.0]
    assert intervals["queues"]["vip"]["offered"] == [0] * 42


def test_settings_and_definitions_on_the_board(board, database) -> None:  # noqa: F811
    day, data = board
    assert data["settings"]["service_level_seconds"] == 20
    assert data["settings"]["short_abandon_seconds"] == 5
    assert data["settings"]["interval_minutes"] == 15
    assert set(data["definitions"]) == {*TODAY_FIELDS, *LIVE_DEFINITIONS}
    assert "T = 20 seconds" in data["definitions"]["service_level"]
    assert "5 seconds" in data["definitions"]["short_abandoned"]
    other = load_settings(overrides={"instance_dir": day.settings.instance_dir,
                                     "metrics": {"service_level_seconds": 30}})  # fmt: skip
    with database.session() as session:
        changed = build_board(session, other, NOW)
    assert "T = 30 seconds" in changed["definitions"]["service_level"]
    support = {q["name"]: q for q in changed["queues"]}["support"]
    assert support["today"]["answered_in_sl"] == 4  # 10, 15, 10, 10 s: all within 30


def test_thresholds_validation_and_defaults(database, settings) -> None:  # noqa: F811
    with database.session() as session:
        with pytest.raises(ThresholdError):
            set_thresholds(session, settings, "nope", at(0), service_level=0.5)
        for bad in ({"service_level": 1.5}, {"service_level": "x"}, {"oldest_wait_seconds": 0},
                    {"oldest_wait_seconds": 2.5}, {"oldest_wait_seconds": True}, {}):  # fmt: skip
            with pytest.raises(ThresholdError):
                set_thresholds(session, settings, "vip", at(0), **bad)
        set_thresholds(session, settings, "vip", at(0), service_level=0.9, oldest_wait_seconds=20)
    with database.session() as session:
        assert thresholds(session, settings)["vip"]["service_level"] == 0.9
        back = set_thresholds(session, settings, "vip", at(1), service_level=None)
    assert back == {"oldest_wait_seconds": 20, "service_level": 0.8,
                    "custom": ["oldest_wait_seconds"]}  # fmt: skip


def test_the_feed_sends_the_full_board_then_only_what_changed() -> None:
    boards = [
        {"generated_at": "1", "day": "d", "queues": [{"name": "q", "waiting": 0}],
         "agents": [{"id": 1, "status": "available"}, {"id": 2, "status": "away"}],
         "calls": [], "intervals": {}, "settings": {}, "definitions": {}},
    ]  # fmt: skip
    sent: list[tuple[dict, str | None]] = []
    feed = BoardFeed(lambda: boards[-1], lambda payload, to: sent.append((payload, to)),
                     interval=0, keepalive=3600)  # fmt: skip
    feed.send_full("page-1")
    assert sent[0][1] == "page-1" and sent[0][0]["full"] is True
    assert sent[0][0]["agents"] == boards[0]["agents"]
    feed.touch()
    assert feed.publish() is False  # nothing changed: nothing sent
    boards.append({**boards[0], "generated_at": "2",
                   "agents": [{"id": 1, "status": "on-call"}],
                   "calls": [{"call_sid": "CA1", "state": "connected"}]})  # fmt: skip
    feed.touch()
    assert feed.publish() is True
    update, to = sent[-1]
    assert to is None and update["full"] is False
    assert update["agents"] == [{"id": 1, "status": "on-call"}]
    assert update["agents_removed"] == [2]
    assert update["calls"] == [{"call_sid": "CA1", "state": "connected"}]
    assert "queues" not in update and "intervals" not in update
    assert board_changes(boards[1], boards[1]) == {}


def test_the_feed_holds_back_within_its_window_and_sends_at_its_end() -> None:
    state = {"waiting": 0}
    sent: list[dict] = []
    feed = BoardFeed(lambda: {"generated_at": "t", "queues": [dict(state)]},
                     lambda payload, to: sent.append(payload), interval=0.3,
                     keepalive=3600)  # fmt: skip
    feed.send_full("page")
    feed.touch()
    feed.publish()  # builds now (first in its window)
    state["waiting"] = 1
    feed.touch()
    assert feed.publish() is False  # inside the window: held back
    due = feed.due_in()
    assert due is not None and 0 < due <= 0.3
    import time

    time.sleep(due + 0.01)
    assert feed.publish() is True
    assert sent[-1]["queues"] == [{"waiting": 1}]


def test_nobody_listening_builds_nothing() -> None:
    built: list[int] = []
    feed = BoardFeed(lambda: built.append(1) or {"generated_at": "t"}, lambda p, to: None,
                     interval=0, keepalive=3600)  # fmt: skip
    feed.listening = lambda: False
    feed.touch()
    assert feed.publish() is False and built == []
    assert feed.due_in() == pytest.approx(3600, abs=1)


def test_board_is_quick_enough_for_a_live_update(board, database, settings) -> None:  # noqa: F811
    import time

    with database.session() as session:
        started = time.perf_counter()
        build_board(session, settings, NOW + timedelta(seconds=1))
        assert time.perf_counter() - started < 0.5


def test_customer_care_on_the_board(board, database, settings) -> None:  # noqa: F811
    """Follow-ups open (and the oldest's start, which the page counts up) and tickets open,
    overdue and due soon (within `tickets.due_soon_hours`), on the board and in its feed."""
    from callcenter.care.models import Followup, Ticket

    _day, before = board
    with database.session() as session:
        # A follow-up done, two open; tickets: overdue, due in 1 h (soon), due in 3 days,
        # and one resolved although overdue (not counted).
        for n, status, created in [(41, "done", at(1)), (42, "open", at(3)), (43, "open", at(9))]:
            session.add(Followup(number=number(n), open_key=None if status == "done"
                                 else number(n), language="en", status=status,
                                 created_at=created, last_at=created))  # fmt: skip
        for status, due in [("open", NOW - timedelta(hours=1)), ("in_progress", NOW +
                            timedelta(hours=1)), ("open", NOW + timedelta(days=3)),
                            ("resolved", NOW - timedelta(hours=5))]:  # fmt: skip
            session.add(Ticket(category="repair", priority="normal", status=status,
                               description="Fridge", source="agent", created_at=at(1),
                               updated_at=at(1), due_at=due))  # fmt: skip
    with database.session() as session:
        after = build_board(session, settings, NOW)
    # The morning left three follow-ups (callers who hung up after waiting), the first at
    # 10:03:10; no tickets.
    assert before["care"] == {
        "followups": {"open": 3, "oldest_since": iso(at(3, 10))},
        "tickets": {"open": 0, "overdue": 0, "due_soon": 0},
    }
    assert after["care"] == {
        "followups": {"open": 5, "oldest_since": iso(at(3))},
        "tickets": {"open": 3, "overdue": 1, "due_soon": 1},
    }
    assert board_changes(before, after)["care"] == after["care"]
