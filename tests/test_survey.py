"""The post-call survey through the simulator (signed webhooks, TwiML followed verb by verb):
the caller whose agent hangs up first rates the call, a caller who hangs up first is not
asked, a low score opens a ticket with its deadline, retried webhooks store nothing twice;
and a caller's language choice in the IVR becomes their preference."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.care.models import Ticket
from callcenter.metrics.facts import CallHandle
from callcenter.models import Call, CallEvent
from callcenter.simulator.leg.events import parse_input

RATE_EN = "Please stay on the line to rate this call from 1 to 5, 5 being the best."
RESOLVED_EN = "Was your problem solved? Press 1 for yes, 2 for no."
THANKS_EN = "Thank you for your feedback. Goodbye."
RATE_ZH = "请不要挂机，为本次通话评分，1到5分，5分为最满意。"


def heard(result: Any) -> list[str]:
    """What the caller heard, prompts played from the cache included (by their text)."""
    return [event.text for event in result.events if event.kind in ("say", "play")]


def answers_later(inputs: list[str]) -> Any:
    """The caller's survey answers, ready once they are talking to the agent (not keys
    pressed while waiting in the queue, whose wait loop takes keys too)."""

    def hook(call: Any) -> None:
        if call.conference is not None and inputs:
            call.inputs.extend(parse_input(item) for item in inputs)
            inputs.clear()

    return hook


def talk_then_agent_hangs_up(
    server: LiveServer, amy: Console, caller_number: str, survey_inputs: list[str]
) -> tuple[Any, str]:
    """A caller reaches amy through the IVR and talks until amy hangs up; returns
    (what happened to the caller, the call's SID)."""
    assert amy.call("agent:status", {"status": "available"})["ok"]
    caller = start_caller(server.app, server.url, caller_number, ["1", "0"],
                          dial_talk_seconds=900, on_wait=answers_later(survey_inputs))  # fmt: skip
    amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
    assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
    amy.wait_for("call:connected", timeout=15, call_sid=caller.call_sid)
    assert amy.call("call:hangup", {"call_sid": caller.call_sid}) == {"ok": True}
    # Amy is off the call at once: her wrap-up does not wait for the caller's survey.
    amy.wait_for("agent:state", timeout=15, status="wrap-up")
    return caller.result(), caller.call_sid


def the_call(server: LiveServer, sid: str) -> Call:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        assert call is not None
        session.expunge(call)
        return call


def events_of(server: LiveServer, sid: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        rows = session.scalars(
            select(CallEvent).where(CallEvent.call_sid == sid).order_by(CallEvent.id)
        )
        return [(row.kind, row.detail) for row in rows if row.kind.startswith(prefix)]


def test_agent_hangs_up_first_and_the_caller_rates_the_call(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        result, sid = talk_then_agent_hangs_up(live_server, amy, "+8613900139001", ["4", "1"])
    finally:
        amy.close()
    said = heard(result)
    assert said[-3:] == [RATE_EN, RESOLVED_EN, THANKS_EN]
    assert result.ended == "hung up by the app"
    call = the_call(live_server, sid)
    assert (call.csat, call.resolved) == (4, True)
    assert call.surveyed_at is not None
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        handles = session.scalars(select(CallHandle).where(CallHandle.call_sid == sid)).all()
        assert [(h.agent_id, h.csat) for h in handles] == [(team["amy"], 4)]
        # Amy's talk ended when she hung up, not when the caller finished the survey.
        assert handles[0].ended_at is not None
        assert session.scalar(select(Ticket).where(Ticket.source == "survey")) is None
    kinds = [kind for kind, _ in events_of(live_server, sid, "survey.")]
    assert kinds == ["survey.dial_ended", "survey.started", "survey.rated", "survey.resolved"]


def test_a_score_of_two_opens_a_ticket_with_its_deadline(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        result, sid = talk_then_agent_hangs_up(live_server, amy, "+8613900139002", ["2", "2"])
        tickets = amy.http.get(f"{live_server.url}/api/tickets").json()
        record = amy.http.get(f"{live_server.url}/api/calls/{sid}").json()
    finally:
        amy.close()
    assert heard(result)[-3:] == [RATE_EN, RESOLVED_EN, THANKS_EN]
    assert (record["csat"], record["resolved"]) == (2, False)
    services = live_server.app.extensions["callcenter"]
    hours = services.settings.tickets.categories["followup"].hours
    with services.database.session() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.source == "survey"))
        assert ticket is not None
        assert (ticket.category, ticket.owner_id, ticket.caller_number) == (
            "followup", team["amy"], "+8613900139002",
        )  # fmt: skip
        assert ticket.due_at == ticket.created_at + timedelta(hours=hours)
        ticket_id = ticket.id
    listed = tickets["tickets"] if isinstance(tickets, dict) else tickets
    assert ticket_id in [t["id"] for t in listed]


def test_a_caller_who_hangs_up_first_is_not_surveyed(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139003", ["1", "0"],
                              dial_talk_seconds=5, on_wait=answers_later(["5", "1"]))  # fmt: skip
        amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        result = caller.result()
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
    finally:
        amy.close()
    assert RATE_EN not in heard(result)
    call = the_call(live_server, caller.call_sid)
    assert (call.csat, call.resolved, call.surveyed_at) == (None, None, None)
    survey = events_of(live_server, caller.call_sid, "survey.")
    assert [kind for kind, _ in survey] == ["survey.dial_ended", "survey.skipped"]
