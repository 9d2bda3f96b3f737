"""Supervisors step into calls and steer the floor, over real Socket.IO clients and the
simulator: the Participants API requests of each mode and transition, what each party
hears, the agent's `call:supervisor`, other supervisors' view, the leg never ending the
call, authorization, moves, takes, status changes, and the audit log."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
import socketio
from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import PASSWORD, Console, team  # noqa: F401
from test_console_calls import connected_call, console, wait_until
from twilio.base.exceptions import TwilioRestException

from callcenter.metrics.facts import CallHandle, QueueEntry
from callcenter.models import AuditEntry, Call, CallOffer, utcnow
from callcenter.people.agents import create_agent
from callcenter.supervision.board import build_board


def supervisor(server: LiveServer, username: str) -> Console:
    """A supervisor's wallboard socket that records `call:participants`."""
    opened = Console(server, username, namespace="/supervisor")
    opened.client.on("call:participants", opened._recorder("call:participants"),
                     namespace="/supervisor")  # fmt: skip
    return opened


def add_staff(server: LiveServer, username: str, number: str, role: str) -> int:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        return create_agent(session, username=username, display_name=username.title(),
                            agent_number=number, password=PASSWORD, role=role).id  # fmt: skip


def requests_since(board: Any, start: int, method: str, suffix: str) -> list[Any]:
    return [r for r in board.requests[start:] if r.method == method and r.path.endswith(suffix)]


def agent_leg_of(server: LiveServer, sid: str) -> str:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        return session.scalar(select(Call.agent_leg_sid).where(Call.call_sid == sid))


def audit_actions(server: LiveServer, call_sid: str) -> list[tuple[str, str]]:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.call_sid == call_sid).order_by(AuditEntry.id)
        )
        return [(row.action, row.result) for row in rows]


def test_monitor_then_coach_then_barge_then_leave(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    add_staff(live_server, "chief", "1031", "supervisor")
    amy = console(live_server, "amy")
    amy.client.on("call:supervisor", amy._recorder("call:supervisor"), namespace="/agent")
    lead, chief = supervisor(live_server, "lead"), supervisor(live_server, "chief")
    try:
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        agent_leg = agent_leg_of(live_server, sid)
        start = len(board.requests)

        # Monitor: one participant, dialed muted, never ending the conference, no beep.
        ack = lead.call("supervisor:monitor", {"call_sid": sid})
        assert ack["ok"] and ack["mode"] == "monitor" and ack["agent_id"] == team["amy"]
        leg = ack["leg"]
        (create,) = requests_since(board, start, "POST", "/Participants.json")
        assert create.get("To") == "client:lead"
        assert (create.get("Muted"), create.get("EndConferenceOnExit"), create.get("Beep")) == (
            "true", "false", "false",
        )  # fmt: skip
        assert create.get("Coaching") is None and create.get("CallSidToCoach") is None
        assert create.get("StatusCallbackEvent") == "completed"
        wait_until(lambda: board.participant(sid, leg) is not None
                   and board.participant(sid, leg).connected)  # fmt: skip
        assert set(board.hears(sid, leg)) == {sid, agent_leg}  # the supervisor hears both
        assert leg not in board.hears(sid, sid) and leg not in board.hears(sid, agent_leg)
        # Chief sees lead listening; amy is not told (announce_monitor is off).
        seen = chief.wait_for("call:participants", timeout=10, call_sid=sid)
        while not any(p["role"] == "supervisor" for p in seen["participants"]):
            seen = chief.wait_for("call:participants", timeout=10, call_sid=sid)
        (listed,) = [p for p in seen["participants"] if p["role"] == "supervisor"]
        assert (listed["name"], listed["mode"], listed["call_sid"]) == ("Lead", "monitor", leg)
        time.sleep(0.3)
        agent_view = amy.participants[sid]["participants"]  # type: ignore[attr-defined]
        assert all(p["role"] != "supervisor" for p in agent_view)
        with pytest.raises(AssertionError):
            amy.wait_for("call:supervisor", timeout=0.5)
        # The supervisor's join did not count as a party meeting the caller.
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == sid))
            assert leg not in call.context["joined"]

        # Coach: the same participant, heard by the agent only.
        start = len(board.requests)
        ack = lead.call("supervisor:coach", {"call_sid": sid})
        assert ack["ok"] and ack["leg"] == leg
        assert requests_since(board, start, "POST", "/Participants.json") == []
        (update,) = requests_since(board, start, "POST", f"/Participants/{leg}.json")
        assert (update.get("Coaching"), update.get("CallSidToCoach"), update.get("Muted")) == (
            "true", agent_leg, "false",
        )  # fmt: skip
        participant = board.participant(sid, leg)
        assert participant.coaching and participant.call_sid_to_coach == agent_leg
        assert leg in board.hears(sid, agent_leg) and leg not in board.hears(sid, sid)
        told = amy.wait_for("call:supervisor", timeout=5, call_sid=sid)
        assert (told["mode"], told["supervisor"]["name"]) == ("coach", "Lead")

        # Barge: unmuted, not coaching: everyone hears the supervisor.
        start = len(board.requests)
        assert lead.call("supervisor:barge", {"call_sid": sid})["ok"]
        (update,) = requests_since(board, start, "POST", f"/Participants/{leg}.json")
        assert (update.get("Muted"), update.get("Coaching")) == ("false", "false")
        assert update.get("CallSidToCoach") is None
        assert leg in board.hears(sid, sid) and leg in board.hears(sid, agent_leg)
        assert amy.wait_for("call:supervisor", timeout=5, call_sid=sid)["mode"] == "barge"
        again = lead.call("supervisor:barge", {"call_sid": sid})
        assert again == {"error": "you are already in on this call"}

        # Leave: the supervisor's leg hangs up; the caller and amy talk on.
        start = len(board.requests)
        assert lead.call("supervisor:leave", {"call_sid": sid})["ok"]
        (hangup,) = requests_since(board, start, "POST", f"/Calls/{leg}.json")
        assert hangup.get("Status") == "completed"
        wait_until(lambda: board.get_call(leg).status == "completed")
        assert amy.wait_for("call:supervisor", timeout=5, call_sid=sid)["mode"] == "left"
        conference = board.find_conference(sid)
        assert conference.status == "in-progress"
        assert {p.call_sid for p in conference.connected()} == {sid, agent_leg}
        assert board.get_call(sid).status == "in-progress"
        with services.database.session() as session:
            # Never an agent's part in the call: no handle for the supervisor.
            handles = session.scalars(select(CallHandle).where(CallHandle.call_sid == sid)).all()
            assert [h.agent_id for h in handles] == [team["amy"]]
        assert audit_actions(live_server, sid) == [
            ("supervisor.monitor", "ok"), ("supervisor.coach", "ok"), ("supervisor.barge", "ok"),
            ("supervisor.barge", "you are already in on this call"), ("supervisor.leave", "ok"),
        ]  # fmt: skip
    finally:
        for opened in (amy, lead, chief):
            opened.close()


def test_a_call_that_ends_takes_the_supervisor_leg_with_it(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = console(live_server, "amy")
    lead = supervisor(live_server, "lead")
    try:
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        leg = lead.call("supervisor:coach", {"call_sid": sid})["leg"]
        wait_until(lambda: board.participant(sid, leg) is not None
                   and board.participant(sid, leg).connected)  # fmt: skip
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        wait_until(lambda: board.get_call(leg).status == "completed", timeout=15)
        caller.result()

        def supervisor_left() -> bool:
            with services.database.session() as session:
                call = session.scalar(select(Call).where(Call.call_sid == sid))
                entry = call.context["legs"][leg]
                return call.ended_at is not None and entry["state"] == "left" and entry.get("ended")

        wait_until(supervisor_left, timeout=15)
        # Nothing can be done on a call that has ended.
        for event in ("supervisor:monitor", "supervisor:barge", "supervisor:leave"):
            assert lead.call(event, {"call_sid": sid}) == {"error": "the call has ended"}
    finally:
        amy.close()
        lead.close()


def test_only_supervisors_act_and_payloads_are_checked(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    # An agent cannot even connect to /supervisor, so cannot emit its events.
    http = requests.Session()
    login = http.post(f"{live_server.url}/api/login",
                      json={"username": "amy", "password": PASSWORD})  # fmt: skip
    assert login.status_code == 200
    client = socketio.Client(reconnection=False)
    cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(live_server.url, namespaces=["/supervisor"], headers={"Cookie": cookie},
                       transports=["websocket"], wait_timeout=5)  # fmt: skip
    client.disconnect()
    # What an agent's console sends on /agent under these names is not handled there.
    amy = Console(live_server, "amy")
    lead = supervisor(live_server, "lead")
    try:
        amy.wait_for("agent:state")
        with pytest.raises(socketio.exceptions.TimeoutError):
            amy.client.call("supervisor:agent-status", {"agent_id": team["bob"],
                            "status": "offline"}, namespace="/agent", timeout=1)  # fmt: skip
        sid = "CA" + "7" * 32
        cases = [
            ("supervisor:monitor", {}, "call_sid: is required"),
            ("supervisor:monitor", {"call_sid": "nope"}, "call_sid: must be a call SID"),
            ("supervisor:coach", {"call_sid": sid, "extra": 1}, "extra: is not a field"),
            (
                "supervisor:agent-status",
                {"agent_id": "2", "status": "away"},
                "agent_id: must be an integer",
            ),
            (
                "supervisor:agent-status",
                {"agent_id": team["bob"], "status": "on-call"},
                "status: must be one of available, away, offline",
            ),
            (
                "supervisor:move",
                {"call_sid": sid, "priority": 5000},
                'priority: must be 0 to 1000, or "front"',
            ),
            ("supervisor:move", {"call_sid": sid}, "give a queue, a priority, or both"),
            ("supervisor:take", {"call_sid": sid}, "no such call"),
            ("supervisor:monitor", {"call_sid": sid}, "no such call"),
        ]
        for event, data, expected in cases:
            answer = lead.call(event, data)
            assert set(answer) == {"error"}, (event, answer)
            assert answer["error"].startswith(expected), (event, answer)
        assert lead.client.call("supervisor:leave", "CA1", namespace="/supervisor", timeout=5) == {
            "error": "the payload must be one JSON object"
        }
    finally:
        amy.close()
        lead.close()
        http.close()


def test_a_supervisor_sets_a_ringing_agent_away_and_the_offer_moves_on(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    lead = supervisor(live_server, "lead")
    try:
        for opened in (amy, bob):
            opened.wait_for("agent:state")
        assert bob.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
        sid = caller.call_sid
        bob.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("agent:status", {"status": "available"})["ok"]
        ack = lead.call(
            "supervisor:agent-status",
            {"agent_id": team["bob"], "status": "away", "reason": "team meeting"},
        )
        assert ack == {"ok": True, "agent_id": team["bob"], "status": "away"}
        assert bob.wait_for("call:ended", timeout=5, call_sid=sid)["reason"] == (
            "status set by a supervisor"
        )
        state = bob.wait_for("agent:state", timeout=5, status="away")
        assert state["reason"] == "team meeting"
        amy.wait_for("call:offer", timeout=15, call_sid=sid)  # the call moved on
        # Offline: a forgotten console; the supervisors' board hears it.
        ack = lead.call("supervisor:agent-status", {"agent_id": team["bob"], "status": "offline"})
        assert ack["ok"]
        assert lead.wait_for("agent", timeout=5, id=team["bob"], status="offline")
        services = live_server.app.extensions["callcenter"]
        with services.database.session() as session:
            rows = session.scalars(
                select(AuditEntry).where(AuditEntry.agent_id == team["bob"]).order_by(AuditEntry.id)
            ).all()
            assert [(r.action, r.actor, r.details.get("status")) for r in rows] == [
                ("supervisor.agent-status", "lead", "away"),
                ("supervisor.agent-status", "lead", "offline"),
            ]
            assert rows[0].details["reason"] == "team meeting"
    finally:
        for opened in (amy, bob, lead):
            opened.close()


def test_move_keeps_the_wait_and_take_counts_as_an_accept(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    lead = supervisor(live_server, "lead")
    try:
        first = start_caller(live_server.app, live_server.url, "+8613900139001", ["1", "0"])
        second = start_caller(live_server.app, live_server.url, "+8613900139002", ["1", "0"])

        def waiting(sid: str) -> bool:
            with services.database.session() as session:
                call = session.scalar(select(Call).where(Call.call_sid == sid))
                return call is not None and call.outcome == "queued"

        wait_until(lambda: waiting(first.call_sid) and waiting(second.call_sid), timeout=15)
        with services.database.session() as session:
            before = session.scalar(select(Call).where(Call.call_sid == second.call_sid))
            entered, queue = before.enqueued_at, before.queue
        target = "repairs" if queue != "repairs" else "support"
        ack = lead.call(
            "supervisor:move", {"call_sid": second.call_sid, "queue": target, "priority": "front"}
        )
        assert ack["ok"] and ack["queue"] == target and ack["priority"] >= 1
        with services.database.session() as session:  # the wallboard shows it moved
            floor = build_board(session, services.settings, utcnow())
        rows = {c["call_sid"]: c for c in floor["calls"]}
        assert rows[second.call_sid]["queue"] == target
        assert rows[second.call_sid]["state"] == "waiting"
        with services.database.session() as session:
            moved = session.scalar(select(Call).where(Call.call_sid == second.call_sid))
            assert moved.enqueued_at == entered  # the place in time is kept
            entries = session.scalars(
                select(QueueEntry).where(QueueEntry.call_sid == second.call_sid)
            ).all()
            assert [(e.queue, e.entered_at, e.left_at) for e in entries] == [
                (target, entered, None)
            ]

        # Take: the supervisor accepts the call as an agent would; they are dialed in.
        ack = lead.call("supervisor:take", {"call_sid": second.call_sid})
        assert ack["ok"] and ack["agent_id"] == team["lead"]
        wait_until(lambda: board.find_conference(second.call_sid) is not None
                   and len(board.find_conference(second.call_sid).connected()) == 2,
                   timeout=15)  # fmt: skip
        assert lead.call("supervisor:take", {"call_sid": first.call_sid}) == {
            "error": "you are on-call: finish that first"
        }
        with services.database.session() as session:
            call = session.scalar(select(Call).where(Call.call_sid == second.call_sid))
            assert (call.agent_id, call.outcome) == (team["lead"], "answered")
            offer = session.scalar(select(CallOffer).where(CallOffer.call_sid == call.call_sid))
            assert (offer.agent_id, offer.status) == (team["lead"], "accepted")
            (entry,) = session.scalars(
                select(QueueEntry).where(QueueEntry.call_sid == call.call_sid)
            ).all()
            assert (entry.queue, entry.outcome, entry.agent_id) == (target, "answered",
                                                                    team["lead"])  # fmt: skip
            assert entry.wait_seconds == call.queue_wait_seconds
            (handle,) = session.scalars(
                select(CallHandle).where(CallHandle.call_sid == call.call_sid)
            ).all()
            assert (handle.agent_id, handle.via, handle.queue) == (team["lead"], "queue", target)
        assert [a for a, _ in audit_actions(live_server, second.call_sid)] == [
            "supervisor.move", "supervisor.take",
        ]  # fmt: skip
    finally:
        lead.close()


def test_the_audit_log_is_for_admins(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    add_staff(live_server, "root", "1099", "admin")
    lead = supervisor(live_server, "lead")
    try:
        lead.call("supervisor:agent-status", {"agent_id": team["amy"], "status": "away"})
        lead.call("supervisor:monitor", {"call_sid": "CA" + "8" * 32})
    finally:
        lead.close()
    url = f"{live_server.url}/api/audit"
    for username, status in (("lead", 403), ("amy", 403)):
        with requests.Session() as http:
            http.post(f"{live_server.url}/api/login",
                      json={"username": username, "password": PASSWORD})  # fmt: skip
            assert http.get(url).status_code == status
    assert requests.get(url).status_code == 401
    with requests.Session() as http:
        http.post(f"{live_server.url}/api/login", json={"username": "root", "password": PASSWORD})
        entries = http.get(url).json()["entries"]
        assert [(e["actor"], e["action"], e["result"]) for e in entries] == [
            ("lead", "supervisor.monitor", "no such call"),
            ("lead", "supervisor.agent-status", "ok"),
        ]
        assert entries[1]["agent_id"] == team["amy"] and entries[1]["at"]
        only = http.get(url, params={"agent_id": team["amy"]}).json()["entries"]
        assert [e["action"] for e in only] == ["supervisor.agent-status"]
        assert http.get(url, params={"from": "2026-01-01T00:00:00"}).status_code == 400


def test_the_simulator_answers_coaching_as_twilio_documents(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    client = services.extras["bridge"].client
    amy = console(live_server, "amy")
    try:
        caller = connected_call(live_server, amy)
        sid = caller.call_sid
        conference = client.conferences.list(friendly_name=sid, status="in-progress")[0].sid
        participants = client.conferences(conference).participants
        agent_leg = agent_leg_of(live_server, sid)
        refused = [
            ({"coaching": True}, 20001, "CallSidToCoach is required"),
            ({"call_sid_to_coach": "CA" + "9" * 32}, 16028, "Participant to be whispered"),
            ({"coaching": False, "call_sid_to_coach": agent_leg}, 20001, "CallSidToCoach is"),
        ]
        for fields, code, message in refused:
            with pytest.raises(TwilioRestException) as error:
                participants.create(from_="+864008001234", to="client:bob", **fields)
            assert (error.value.status, error.value.code) == (400, code)
            assert message in error.value.msg
        # CallSidToCoach alone means coaching (Twilio's default).
        made = participants.create(
            from_="+864008001234", to="client:bob", call_sid_to_coach=agent_leg
        )
        assert made.coaching is True and made.call_sid_to_coach == agent_leg
        updated = participants(made.call_sid).update(coaching=False)
        assert updated.coaching is False and updated.call_sid_to_coach is None
        with pytest.raises(TwilioRestException) as error:
            participants(made.call_sid).update(coaching=True, call_sid_to_coach=made.call_sid)
        assert error.value.code == 20001
    finally:
        amy.close()
