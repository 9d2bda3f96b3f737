"""Every caller we missed is followed up: a simulated caller who hangs up after waiting is on
the list once (whatever they or Twilio repeat), VIPs and known customers first, called back
from the console exactly once, and closed with an outcome."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import requests
from conftest import ROOT, LiveServer, TwilioWebhooks, start_caller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.records import open_call
from callcenter.care.followups import note_ended_call, unhandled_voicemails
from callcenter.care.models import Followup, FollowupEvent
from callcenter.models import Call, Voicemail, utcnow
from callcenter.people.agents import create_agent
from callcenter.people.customers import import_customers_csv

PASSWORD = "correct horse battery"
STRANGER = "+8613900139000"  # not a customer
KNOWN = "+8613912345678"  # 李娜 in demo/customers.csv (normal tier, zh-CN)
VIP = "+8613800138000"  # 王伟 (vip)
SUPPORT = ["1", "0"]  # the main menu's way to the support queue


def followups(app: Flask) -> list[Followup]:
    with app.extensions["callcenter"].database.session() as session:
        found = session.scalars(select(Followup).order_by(Followup.id)).all()
        for item in found:
            _ = item.events
        return list(found)


def test_a_caller_who_hangs_up_after_waiting_is_followed_up_once(
    app: Flask, phone: Any, twilio: TwilioWebhooks
) -> None:
    first = phone(from_=STRANGER, inputs=SUPPORT, hold_seconds=25)
    assert first.ended.startswith("hung up in queue support"), first.ended
    [followup] = followups(app)
    assert (followup.number, followup.status, followup.occurrences) == (STRANGER, "open", 1)
    [event] = followup.events
    assert (event.reason, event.queue, event.call_sid) == ("abandoned", "support", first.call_sid)
    assert event.waited_seconds is not None and event.waited_seconds > 5
    assert followup.sms_status is None  # support does not text (config: missed_call_sms)

    # Twilio retries the status callback (same parameters: the stored answer; another
    # delivery with new parameters runs the step again): nothing more is added.
    status = next(x for x in first.exchanges if x.url.endswith("/twilio/status"))
    path = status.url.removeprefix("https://cc.example.test")
    assert twilio.post(path, dict(status.params)).status_code == 204
    assert twilio.post(path, {**status.params, "Timestamp": "later"}).status_code == 204
    # The same number abandons again: the same follow-up, one more occurrence.
    second = phone(from_=STRANGER, inputs=SUPPORT, hold_seconds=40)
    [followup] = followups(app)
    assert followup.occurrences == 2
    assert [e.call_sid for e in followup.events] == [first.call_sid, second.call_sid]


def test_short_abandons_and_unreachable_numbers_are_not_followed_up(app: Flask, phone: Any) -> None:
    # config.yaml: metrics.short_abandon_seconds is 5.
    quick = phone(from_=STRANGER, inputs=SUPPORT, hold_seconds=3)
    assert quick.ended.startswith("hung up in queue support"), quick.ended
    phone(from_="anonymous", inputs=SUPPORT, hold_seconds=30)  # cannot be called back
    assert followups(app) == []
    with app.extensions["callcenter"].database.session() as session:
        assert session.scalar(select(func.count()).select_from(Call)) == 2


def test_vips_then_known_customers_then_the_oldest(
    app: Flask, phone: Any, client: FlaskClient
) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        import_customers_csv(session, ROOT / "demo" / "customers.csv")
        create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                     password=PASSWORD, skills=["support"])  # fmt: skip
    phone(from_=STRANGER, inputs=SUPPORT, hold_seconds=30)
    phone(from_=KNOWN, inputs=["0"], hold_seconds=30)  # known language: the main menu first
    phone(from_=VIP, inputs=["1"], hold_seconds=30)  # the VIP menu: 1 for the VIP desk
    client.post("/api/login", json={"username": "amy", "password": PASSWORD})
    answer = client.get("/api/followups").get_json()
    listed = [(item["number"], item["rank"]) for item in answer["followups"]]
    assert listed == [(VIP, "vip"), (KNOWN, "known"), (STRANGER, "unknown")]
    vip = answer["followups"][0]
    assert vip["customer"]["name"] == "王伟" and vip["language"] == "zh-CN"
    assert vip["sms"] == "pending"  # the VIP desk texts "sorry we missed you"
    [what] = vip["events"]
    assert what["text"].startswith("Waited ") and what["text"].endswith(" in VIP desk, hung up")
    assert answer["outcomes"]["reached"] == "Reached, resolved"
    assert client.get("/api/followups?status=nope").get_json() == {
        "errors": {"status": "status must be one of open, done, all"}
    }


def test_a_call_cut_off_before_the_agent_spoke_and_an_unhandled_voicemail(
    app: Flask,
) -> None:
    services = app.extensions["callcenter"]
    settings = services.settings
    now = utcnow()
    with services.database.session() as session:
        agent = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                             password=PASSWORD, skills=["support"])  # fmt: skip
        cut = open_call(session, call_sid="CA" + "c" * 32, from_raw=STRANGER,
                        to="+864008001234", flow="main", default_language="en")  # fmt: skip
        cut.queue, cut.outcome, cut.enqueued_at = "support", "queued", now - timedelta(seconds=40)
        session.flush()
        cut.agent_id, cut.outcome, cut.answered_at = agent.id, "answered", now
        cut.dequeued_at, cut.queue_wait_seconds = now, 40
        session.flush()
        cut.ended_at, cut.status = now + timedelta(seconds=3), "completed"  # never joined
        assert note_ended_call(session, settings, cut, now) is not None
        assert note_ended_call(session, settings, cut, now) is None  # once per call
        talked = open_call(session, call_sid="CA" + "d" * 32, from_raw=KNOWN,
                           to="+864008001234", flow="main", default_language="en")  # fmt: skip
        talked.queue, talked.outcome, talked.enqueued_at = "support", "queued", now
        session.flush()
        talked.agent_id, talked.outcome, talked.answered_at = agent.id, "answered", now
        talked.dequeued_at = now
        talked.context = {**talked.context, "legs": {
            talked.call_sid: {"state": "left"},
            "CA" + "e" * 32: {"state": "left", "role": "agent", "agent_id": agent.id},
        }}  # fmt: skip
        talked.ended_at = now + timedelta(minutes=5)
        session.flush()
        assert note_ended_call(session, settings, talked, now) is None
        left = open_call(session, call_sid="CA" + "f" * 32, from_raw=KNOWN,
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        message = Voicemail(
            mailbox="support",
            call_sid=left.call_sid,
            recording_sid="RE" + "1" * 32,
            from_number=KNOWN,
            created_at=now,
        )
        session.add(message)  # fmt: skip
        session.flush()
        assert unhandled_voicemails(session, settings, now + timedelta(minutes=59)) == []
        assert len(unhandled_voicemails(session, settings, now + timedelta(minutes=61))) == 1
        assert unhandled_voicemails(session, settings, now + timedelta(minutes=62)) == []
    reasons = {item.number: [e.reason for e in item.events] for item in followups(app)}
    assert reasons == {STRANGER: ["cut_off"], KNOWN: ["voicemail"]}
    with services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(FollowupEvent)) == 2


def test_called_back_from_the_console_once_then_marked_done(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    # Nobody is available: the VIP waits at the VIP desk, then hangs up.
    caller = start_caller(live_server.app, live_server.url, VIP, ["1"], hold_seconds=30)
    assert caller.result().ended.startswith("hung up in queue vip")
    amy = Console(live_server, "amy")
    amy.client.on("followups:changed", amy._recorder("followups:changed"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            listed = amy.http.get(f"{live_server.url}/api/followups").json()["followups"]
            if listed and listed[0]["sms"] == "sent":
                break
            time.sleep(0.2)
        [item] = listed
        assert item["number"] == VIP and item["sms"] == "sent"
        texts = [r for r in board.requests if r.method == "POST"
                 and r.path.endswith("/Messages.json")]  # fmt: skip
        assert [(r.get("To"), r.get("Body")) for r in texts] == [
            (VIP, "Lumina 客服：抱歉未能接听您的来电，我们会尽快给您回电。")
        ]
        url = f"{live_server.url}/api/followups/{item['id']}"
        # Call now on the follow-up: the console's call:dial with its id.
        busy = amy.call("call:dial", {"followup_id": item["id"]})
        assert "available" in busy.get("error", ""), busy
        assert amy.call("agent:status", {"status": "available"})["ok"]
        answer = amy.call("call:dial", {"followup_id": item["id"]})
        assert answer.get("ok"), answer
        call_sid = answer["call_sid"]
        again = amy.call("call:dial", {"followup_id": item["id"]})  # a double click
        assert "error" in again, again
        offer = amy.wait_for("call:offer", timeout=10, call_sid=call_sid)
        assert amy.wait_for("followups:changed", timeout=5)["open"] == 1
        assert offer["kind"] == "outbound"  # placed by the agent: nothing to accept
        assert offer["callback"]["followup"]["what"][0].endswith("in VIP desk, hung up")
        assert offer["customer"]["name"] == "王伟"
        listed = amy.http.get(f"{live_server.url}/api/followups").json()["followups"]
        assert listed[0]["assigned_to"]["id"] == team["amy"]  # taken by the agent who called
        amy.wait_for("call:connected", timeout=20, call_sid=call_sid)
        assert amy.call("call:hangup", {"call_sid": call_sid}) == {"ok": True}
        amy.wait_for("agent:state", timeout=20, status="wrap-up")
        dialed = [r.get("To") for r in board.requests if r.method == "POST"
                  and r.path.endswith("/Calls.json")]  # fmt: skip
        assert dialed.count(VIP) == 1  # the customer, dialed exactly once
        assert dialed.index(VIP) > 0 and dialed[dialed.index(VIP) - 1] != VIP  # agent first
        missing = amy.http.post(url + "/done", json={"notes": "x" * 4001})
        assert missing.status_code == 400
        assert missing.json() == {
            "errors": {"outcome": "is required", "notes": "must be at most 4000 characters"}
        }
        unknown = amy.http.post(url + "/done", json={"outcome": "maybe"})
        assert unknown.status_code == 400 and "outcome" in unknown.json()["errors"]
        done = amy.http.post(url + "/done", json={"outcome": "reached", "notes": "Booked"})
        assert done.status_code == 200, done.text
        assert done.json()["followup"]["status"] == "done"
        assert done.json()["followup"]["outcome_label"] == "Reached, resolved"
        assert amy.http.post(url + "/done", json={"outcome": "reached"}).status_code == 409
        assert amy.http.get(f"{live_server.url}/api/followups").json()["followups"] == []
        bob = requests.Session()
        bob.post(f"{live_server.url}/api/login", json={"username": "bob", "password": PASSWORD})
        closed = bob.get(f"{live_server.url}/api/followups?status=done").json()["followups"]
        assert [(c["id"], c["done_by"], c["notes"]) for c in closed] == [
            (item["id"], "1024", "Booked")
        ]
        bob.close()
    finally:
        amy.close()
