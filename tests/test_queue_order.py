"""Callers wait in priority order: VIPs ahead of earlier normal callers, then time waited."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

from conftest import ROOT, TwilioWebhooks, call_params

from callcenter.calls.queues import queue_position, waiting_in_queue
from callcenter.models import Call
from callcenter.people.customers import import_customers_csv

NORMAL_EN = "+8613900139000"  # unknown caller
VIP_ZH = "+8613800138000"  # 王伟, VIP, zh-CN


def enqueue(twilio: TwilioWebhooks, sid: str, caller: str, keys: list[tuple[str, str]]) -> None:
    """Answer a call and press through menus until it reaches the support queue."""
    body = twilio.post("/twilio/voice", call_params(sid, from_=caller)).data
    for node, digits in keys:
        gather = ET.fromstring(body).find("Gather")
        assert gather is not None and f"node={node}" in gather.get("action", "")
        action = gather.get("action", "").removeprefix(twilio.public_url)
        path, query = action.split("?", 1)
        body = twilio.post(
            path,
            call_params(sid, from_=caller, Digits=digits),
            query=dict(part.split("=", 1) for part in query.split("&")),
        ).data
    assert ET.fromstring(body).find("Enqueue") is not None


def test_vip_is_placed_ahead_of_earlier_callers(app, twilio, clock) -> None:
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        import_customers_csv(session, ROOT / "demo" / "customers.csv")
    first, second, vip = ("CA" + digit * 32 for digit in "123")
    enqueue(twilio, first, NORMAL_EN, [("choose_language", "1"), ("main_menu", "0")])
    clock.now += timedelta(seconds=30)
    enqueue(twilio, second, "+8613900139001", [("choose_language", "1"), ("main_menu", "0")])
    clock.now += timedelta(seconds=30)
    # The VIP goes to the main menu from the VIP menu, then asks for an agent.
    enqueue(twilio, vip, VIP_ZH, [("vip_menu", "2"), ("main_menu", "0")])

    with services.database.session() as session:
        order = [call.call_sid for call in session.scalars(waiting_in_queue("support"))]
        assert order == [vip, first, second]
        calls = {call.call_sid: call for call in session.query(Call)}
        assert [queue_position(session, calls[sid]) for sid in (vip, first, second)] == [1, 2, 3]
        assert calls[vip].queue_priority == 60 and calls[first].queue_priority == 10

    # The wait loop announces the priority-aware place, not Twilio's first-in-first-out one.
    wait = twilio.post(
        "/twilio/queue/wait",
        call_params(first, QueuePosition="1", QueueTime="60"),
        query={"queue": "support", "lang": "en"},
    )
    says = [element.text for element in ET.fromstring(wait.data).iter("Say")]
    assert says[0] == "You are number 2 in line."

    # Once the VIP hangs up, the first caller moves up.
    twilio.post("/twilio/status", call_params(vip, CallStatus="completed", CallDuration="70"))
    with services.database.session() as session:
        call = session.query(Call).filter_by(call_sid=first).one()
        assert queue_position(session, call) == 1


def test_positions_need_a_waiting_call(app, tmp_path: Path) -> None:
    assert queue_position(None, Call(call_sid="x", outcome="abandoned")) is None  # type: ignore[arg-type]
