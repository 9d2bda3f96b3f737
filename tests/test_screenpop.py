"""The screen-pop says what kind of offer it is and shows labels, not codes."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from callcenter.calls.callbacks import call_back_voicemail, request_callback
from callcenter.calls.outbound import dial_now
from callcenter.calls.records import get_call, log_event, open_call
from callcenter.models import Agent, Voicemail
from callcenter.people.agents import create_agent
from callcenter.screenpop import offer_payload


def _call(session, sid: str, clock, minutes_ago: int = 0):  # type: ignore[no-untyped-def]
    call = open_call(session, call_sid=sid, from_raw="+8613900139000", to="+864008001234",
                     flow="main", default_language="en")  # fmt: skip
    call.started_at = clock.now - timedelta(minutes=minutes_ago)
    return call


def test_inbound_offer_shows_labels_names_and_what_the_caller_entered(app: Flask, clock) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy Chen", agent_number="1024",
                           password="long enough password", skills=["support"])  # fmt: skip
        earlier = _call(session, "CA" + "1" * 32, clock, minutes_ago=60)
        earlier.queue, earlier.outcome, earlier.agent_id = "support", "answered", amy.id
        earlier.disposition = "repair_booked"
        hung_up = _call(session, "CA" + "2" * 32, clock, minutes_ago=30)
        hung_up.outcome = "ivr-hangup"
        call = _call(session, "CA" + "3" * 32, clock)
        call.queue, call.outcome, call.enqueued_at = "support", "queued", clock.now
        for node in ("identify", "main_menu", "order_number"):
            log_event(session, call.call_sid, "ivr.node", flow="main", node=node)
            if node == "main_menu":
                log_event(session, call.call_sid, "ivr.input", flow="main", node=node, input="2")
    with services.database.session() as session:
        call = get_call(session, "CA" + "3" * 32)
        pop = offer_payload(session, services.settings, call, clock.now + timedelta(seconds=75))
    assert pop["kind"] == "inbound" and pop["callback"] is None
    assert pop["queue"]["waited_seconds"] == 75
    assert [(step["label"], step["input"]) for step in pop["ivr"]["path"]] == [
        ("Identify", None), ("Main menu", "2"), ("Order number", None),
    ]  # fmt: skip
    hung, booked = pop["history"]
    assert (hung["outcome_label"], hung["disposition_label"]) == ("Hung up in the menu", None)
    assert booked["disposition_label"] == "Repair booked"
    assert (booked["agent"], booked["agent_name"]) == ("1024", "Amy Chen")


def test_call_back_offers_say_that_accepting_dials_the_customer(app: Flask, clock) -> None:
    services = app.extensions["callcenter"]
    settings = services.settings
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy Chen", agent_number="1024",
                           password="long enough password", skills=["support"])  # fmt: skip
        asked = _call(session, "CA" + "4" * 32, clock, minutes_ago=3)
        asked.queue, asked.outcome = "support", "queued"
        asked.enqueued_at = clock.now - timedelta(minutes=3)
        assert request_callback(session, asked, clock.now - timedelta(seconds=146))
        pop = offer_payload(session, settings, asked, clock.now)
        assert pop["kind"] == "callback"
        assert pop["callback"]["number"] == "+8613900139000"
        assert pop["callback"]["requested_seconds_ago"] == 146
        assert pop["callback"]["voicemail"] is None

        # A voicemail call-back: the new call has no IVR path; the message's call had one.
        original = _call(session, "CA" + "5" * 32, clock, minutes_ago=20)
        original.queue, original.outcome = "support", "voicemail"
        log_event(session, original.call_sid, "ivr.node", flow="main", node="main_menu")
    with services.database.session() as session:
        amy = session.scalar(select(Agent).where(Agent.username == "amy"))
        voicemail = Voicemail(
            mailbox="support", call_sid="CA" + "5" * 32, recording_sid="RE" + "d" * 32,
            from_number="+8613900139000", duration_seconds=12,
            created_at=clock.now - timedelta(minutes=19),
        )  # fmt: skip
        session.add(voicemail)
        amy.status = "available"
        session.flush()
        # Placed from the inbox (Call now): the agent's own outbound call, nothing to accept.
        _changes, sid = call_back_voicemail(session, settings, voicemail, amy, clock.now)
        dial_now(session, settings, amy.id, sid, clock.now)
        pop = offer_payload(session, settings, get_call(session, sid), clock.now, amy)
    assert pop["kind"] == "outbound"
    assert pop["callback"]["voicemail"] == {
        "id": voicemail.id, "mailbox": "support", "duration_seconds": 12,
        "left_seconds_ago": 19 * 60, "call_sid": "CA" + "5" * 32,
    }  # fmt: skip
    assert [step["label"] for step in pop["ivr"]["path"]] == ["Main menu"]
