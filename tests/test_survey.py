"""The post-call survey through the simulator (signed webhooks, TwiML followed verb by verb):
the caller whose agent hangs up first rates the call, a caller who hangs up first is not
asked, a low score opens a ticket with its deadline, retried webhooks store nothing twice;
and a caller's language choice in the IVR becomes their preference."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from conftest import LiveServer, TwilioWebhooks, call_params, start_caller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.records import open_call
from callcenter.care.models import Ticket
from callcenter.metrics.facts import CallHandle
from callcenter.models import Call, CallEvent, Customer
from callcenter.people.agents import create_agent
from callcenter.people.customers import import_customers_csv
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


def test_a_chinese_caller_answers_by_speech(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139004", ["2", "0"],
                              dial_talk_seconds=900,
                              on_wait=answers_later(["我打四分", "没有解决"]))  # fmt: skip
        amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:hangup", {"call_sid": caller.call_sid}) == {"ok": True}
        result = caller.result()
    finally:
        amy.close()
    assert RATE_ZH in heard(result)
    call = the_call(live_server, caller.call_sid)
    assert (call.language, call.csat, call.resolved) == ("zh-CN", 4, False)
    rated = [detail for kind, detail in events_of(live_server, caller.call_sid, "survey.rated")]
    assert rated == [{"score": 4, "via": "speech", "ticket": None}]


# -- retried webhooks, signed as Twilio signs them ---------------------------------------------

SID = "CA" + "5" * 32


def answered_call(app: Flask) -> int:
    """A call amy answered from the support queue, still on the line; returns amy's id."""
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                           password="a-long-password-1", role="agent", skills=["support"],
                           languages=["en"])  # fmt: skip
        call = open_call(session, call_sid=SID, from_raw="+8613900139005", to="+864008001234",
                         flow="main", default_language="en")  # fmt: skip
        call.queue, call.agent_id, call.answered_at = "support", amy.id, call.started_at
        return amy.id


def test_retried_survey_webhooks_store_the_answer_once(app: Flask, twilio: TwilioWebhooks) -> None:
    answered_call(app)
    start = ("/twilio/survey", call_params(SID, DialCallStatus="completed"),
             {"call": SID, "seq": 5})  # fmt: skip
    first = twilio.post(*start)
    assert first.status_code == 200
    assert "/twilio/survey/answer?call=" + SID in first.get_data(as_text=True)
    assert twilio.post(*start).get_data() == first.get_data()
    rate_1 = ("/twilio/survey/answer", call_params(SID, Digits="1"),
              {"call": SID, "question": "rate", "attempt": 1, "seq": 6})  # fmt: skip
    answered = twilio.post(*rate_1)
    assert "question=resolved" in answered.get_data(as_text=True)
    assert twilio.post(*rate_1).get_data() == answered.get_data()
    # A later score for the same call (not a retry) is logged and ignored.
    again = twilio.post("/twilio/survey/answer", call_params(SID, Digits="5"),
                        {"call": SID, "question": "rate", "attempt": 2, "seq": 7})  # fmt: skip
    assert again.status_code == 200
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == SID))
        assert call.csat == 1
        kinds = session.scalars(
            select(CallEvent.kind)
            .where(CallEvent.call_sid == SID, CallEvent.kind.like("survey.%"))
            .order_by(CallEvent.id)
        ).all()
        assert kinds == ["survey.dial_ended", "survey.started", "survey.rated", "survey.ignored"]
        tickets = session.scalars(select(Ticket).where(Ticket.source == "survey")).all()
        assert len(tickets) == 1 and tickets[0].due_at is not None


def test_a_caller_gone_when_the_conference_ends_hears_nothing(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    answered_call(app)
    answer = twilio.post("/twilio/survey", call_params(SID, CallStatus="completed"),
                         {"call": SID, "seq": 5})  # fmt: skip
    assert answer.status_code == 200
    assert "<Gather" not in answer.get_data(as_text=True)


def test_an_unsigned_survey_answer_is_refused(app: Flask, client: FlaskClient) -> None:
    answered_call(app)
    refused = client.post(f"/twilio/survey/answer?call={SID}&question=rate&attempt=1",
                          data=call_params(SID, Digits="1"))  # fmt: skip
    assert refused.status_code == 403


# -- the language a caller chooses -------------------------------------------------------------

NEW_CUSTOMER = "name,phone,tier,language,account,notes\n陈静,+8613900139077,normal,,,\n"


def test_the_language_a_known_caller_chooses_becomes_their_preference(
    app: Flask, phone: Any
) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        import_customers_csv(session, io.StringIO(NEW_CUSTOMER))
    first = phone(from_="+8613900139077", inputs=["2"], hold_seconds=5)
    assert "For English, press 1." in heard(first)
    with services.database.session() as session:
        customer = session.scalar(select(Customer).where(Customer.name == "陈静"))
        assert customer is not None and customer.language == "zh-CN"
        logged = session.scalars(
            select(CallEvent.detail).where(CallEvent.kind == "customer.language")
        ).all()
        assert logged == [{"customer": customer.id, "old": None, "new": "zh-CN"}]
    # Next time the menu speaks Chinese at once, without asking.
    second = phone(from_="+8613900139077", hold_seconds=5)
    assert "For English, press 1." not in heard(second)
    assert heard(second)[0].startswith("陈静")


def test_an_unknown_callers_choice_changes_no_customer(app: Flask, phone: Any) -> None:
    phone(from_="+8613900139078", inputs=["2"], hold_seconds=5)
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        assert session.scalars(select(Customer)).all() == []
        kinds = session.scalars(select(CallEvent.kind)).all()
        assert "ivr.language" in kinds and "customer.language" not in kinds
