"""An agent who takes calls in the browser is not offered calls while their console's
softphone cannot ring (`softphone:state` on `/agent`), with real python-socketio clients
against a live server; agents who take calls on their phone, and consoles that say nothing
of a softphone, are offered calls as before."""

from __future__ import annotations

import time

from conftest import LiveServer
from sqlalchemy import select
from test_agent_socket import Console, enqueue_caller, team  # noqa: F401

from callcenter.models import Agent, AuditEntry, CallOffer, utcnow
from callcenter.people.agents import set_call_preferences


def offered_to(server: LiveServer, call_sid: str) -> list[str]:
    """Usernames of the agents this call was offered to, in order."""
    with server.app.extensions["callcenter"].database.session() as session:
        offers = session.scalars(
            select(CallOffer).where(CallOffer.call_sid == call_sid).order_by(CallOffer.id)
        ).all()
        return [offer.agent.username for offer in offers]


def offered_next_caller(server: LiveServer, console: Console, sid: str, **caller: str) -> None:
    """A caller reaches the support queue, a dispatcher pass runs, `console` hears the offer."""
    enqueue_caller(server, sid, **caller)
    server.app.extensions["callcenter"].extras["realtime"].run_once()
    console.wait_for("call:offer", call_sid=sid)


def available(*consoles: Console) -> None:
    """Each goes available in turn (the first has then been idle the longest)."""
    for console in consoles:
        assert console.call("agent:status", {"status": "available"})["ok"]
        console.wait_for("agent:state", status="available")
        time.sleep(0.05)  # distinct idle times: longest-idle picks the first


def test_an_agent_whose_softphone_cannot_ring_is_not_offered_calls_until_it_is_ready(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        amy.wait_for("agent:state")
        bob.wait_for("agent:state")
        available(amy, bob)  # amy idle the longest: she would get the next call
        ack = amy.call("softphone:state", {"state": "unreachable", "reason": "timed out"})
        assert ack == {"ok": True, "state": "unreachable", "offered": False}
        state = amy.wait_for("agent:state", softphone_unreachable=True)
        assert state["status"] == "available"  # still available: only not offered calls

        first = "CA" + "a1" * 16
        offered_next_caller(live_server, bob, first)
        assert offered_to(live_server, first) == ["bob"]

        # A repeated report changes nothing; "ready" makes amy routable again.
        assert amy.call("softphone:state", {"state": "unreachable"})["offered"] is False
        ack = amy.call("softphone:state", {"state": "ready"})
        assert ack == {"ok": True, "state": "ready", "offered": True}
        amy.wait_for("agent:state", softphone_unreachable=False)
        second = "CA" + "b2" * 16
        offered_next_caller(live_server, amy, second, caller="+8613900139001")
        assert offered_to(live_server, second) == ["amy"]

        with services.database.session() as session:
            audit = session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "agent.softphone")
                .order_by(AuditEntry.id)
            ).all()
            assert [(e.actor, e.agent_id, e.details["state"]) for e in audit] == [
                ("amy", team["amy"], "unreachable"),
                ("amy", team["amy"], "ready"),
            ]
            assert audit[0].details["reason"] == "timed out"
    finally:
        amy.close()
        bob.close()


def test_an_agent_who_takes_calls_on_a_phone_is_offered_calls_whatever_the_softphone_says(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        set_call_preferences(
            session.get(Agent, team["amy"]), takes_calls_on="phone", phone="+8613912345678"
        )
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    try:
        amy.wait_for("agent:state")
        bob.wait_for("agent:state")
        available(amy, bob)
        ack = amy.call("softphone:state", {"state": "unreachable"})
        assert ack == {"ok": True, "state": "unreachable", "offered": True}
        sid = "CA" + "c3" * 16
        offered_next_caller(live_server, amy, sid)
        assert offered_to(live_server, sid) == ["amy"]
    finally:
        amy.close()
        bob.close()


def test_closing_the_console_forgets_its_softphone(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """A console without a softphone (no report at all) after one that could not ring is
    offered calls: the report went with the console that made it."""
    services = live_server.app.extensions["callcenter"]
    amy = Console(live_server, "amy")
    amy.wait_for("agent:state")
    assert amy.call("softphone:state", {"state": "unreachable"})["offered"] is False
    amy.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with services.database.session() as session:
            if session.get(Agent, team["amy"]).softphone_unreachable_since is None:
                break
        time.sleep(0.05)
    else:
        raise AssertionError("the closed console's report was kept")
    amy = Console(live_server, "amy")
    try:
        assert amy.wait_for("agent:state")["softphone_unreachable"] is False
        available(amy)
        sid = "CA" + "d4" * 16
        offered_next_caller(live_server, amy, sid)
    finally:
        amy.close()


def test_a_bad_softphone_report_is_refused(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        answer = amy.call("softphone:state", {"state": "broken"})
        assert answer["error"].startswith("state: must be")
        assert amy.call("softphone:state", {})["error"] == "state: is required"
    finally:
        amy.close()


def test_a_report_left_by_a_console_gone_with_its_process_is_forgotten_on_connect(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """Its process died before the console could close: the next console (here one without
    a softphone) starts routable, and says so in its first `agent:state`."""
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        session.get(Agent, team["amy"]).softphone_unreachable_since = utcnow()
    amy = Console(live_server, "amy")
    try:
        assert amy.wait_for("agent:state")["softphone_unreachable"] is False
        with services.database.session() as session:
            assert session.get(Agent, team["amy"]).softphone_unreachable_since is None
        available(amy)
        sid = "CA" + "f6" * 16
        offered_next_caller(live_server, amy, sid)
    finally:
        amy.close()
