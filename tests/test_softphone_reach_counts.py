"""An available agent whose browser softphone cannot ring is not offered calls, so no
count that tells a supervisor or a waiting caller how many agents can take calls counts
them: the consoles' "agents free", the wallboard's "available" (they stay "staffed") and
the caller's estimated wait."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

from conftest import LiveServer, TwilioWebhooks, call_params
from test_agent_socket import Console, team  # noqa: F401
from test_prometheus import scrape, value
from test_softphone_reach import available
from test_wallboard_socket import WallboardPage, queue_of

from callcenter.calls.records import open_call
from callcenter.models import utcnow
from callcenter.people.agents import create_agent, set_call_preferences


def test_agents_free_and_the_wallboard_leave_out_an_agent_whose_softphone_cannot_ring(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy, bob = Console(live_server, "amy"), Console(live_server, "bob")
    board = WallboardPage(live_server, "lead")
    try:
        amy.wait_for("agent:state")
        bob.wait_for("agent:state")
        available(amy, bob)
        board.until(lambda b: queue_of(b, "support")["agents"]["available"] == 2)

        assert amy.call("softphone:state", {"state": "unreachable"})["offered"] is False
        board.until(lambda b: b["agents"][team["amy"]]["softphone_unreachable"])
        board.until(lambda b: queue_of(b, "support")["agents"]["available"] == 1)
        support = queue_of(board.board, "support")["agents"]
        assert support["staffed"] == 2  # still logged in and available: only not offered calls
        assert support["softphone_not_ready"] == 1
        assert queue_of(board.board, "repairs")["agents"]["available"] == 0  # amy's skill only

        def free(summary: list[dict[str, object]]) -> dict[str, object]:
            return {q["name"]: q["agents_available"] for q in summary}  # type: ignore[misc]

        summary = free(bob.wait_for("queues"))
        while summary["support"] != 1:
            summary = free(bob.wait_for("queues"))
        assert summary["repairs"] == 0  # amy's skill only
        figures = scrape(live_server)  # the states as set; the softphones apart
        assert value(figures, "callcenter_agents", state="available") == 2
        assert value(figures, "callcenter_agents_softphone_not_ready") == 1

        assert amy.call("softphone:state", {"state": "ready"})["offered"] is True
        board.until(lambda b: queue_of(b, "support")["agents"]["available"] == 2)
        assert queue_of(board.board, "support")["agents"]["softphone_not_ready"] == 0
        while free(bob.wait_for("queues"))["support"] != 2:
            pass
    finally:
        board.close()
        amy.close()
        bob.close()


def test_the_estimated_wait_leaves_out_an_agent_whose_softphone_cannot_ring(
    app, twilio: TwilioWebhooks, clock
) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        agents = {}
        for number, name in (("1024", "amy"), ("1025", "bo"), ("1026", "cy")):
            agents[name] = create_agent(
                session, username=name, display_name=name, agent_number=number,
                password="long enough password", skills=["support"],
            )  # fmt: skip
            agents[name].status = "available"
        agents["amy"].softphone_unreachable_since = utcnow()  # takes calls in the browser
        set_call_preferences(agents["cy"], takes_calls_on="phone", phone="+8613912345678")
        agents["cy"].softphone_unreachable_since = utcnow()  # rings on the phone all the same
        done = open_call(session, call_sid="CA" + "d" * 32, from_raw="+8613900139001",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        done.queue, done.outcome = "support", "answered"
        done.answered_at = clock.now - timedelta(minutes=30)
        done.ended_at = done.answered_at + timedelta(seconds=570)  # 600 s with wrap-up
        waiting = open_call(session, call_sid="CA" + "e" * 32, from_raw="+8613900139000",
                            to="+864008001234", flow="main", default_language="en")  # fmt: skip
        waiting.queue, waiting.outcome, waiting.enqueued_at = "support", "queued", clock.now
    wait = twilio.post(
        "/twilio/queue/wait",
        call_params("CA" + "e" * 32, QueuePosition="1", QueueTime="5"),
        query={"queue": "support", "lang": "en"},
    )
    says = [element.text for element in ET.fromstring(wait.data).iter("Say")]
    # 1 caller × 600 s ÷ 2 agents who can ring (bo, and cy on the phone) = 5 minutes.
    assert says[1] == "The estimated wait is about 5 minutes."
