"""The care loop closes: a voicemail and the follow-up it is on are closed together,
whichever an agent closes first (through the APIs the console uses, which tell every
console the list changed); and a call-back that does not reach the customer keeps them on
the follow-up list, through the simulator with a customer who does not answer."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.records import open_call
from callcenter.care.followups import unhandled_voicemails
from callcenter.care.models import Followup
from callcenter.models import Call, Voicemail, utcnow

STRANGER = "+8613900139000"  # not a customer
KNOWN = "+8613912345678"  # 李娜 in demo/customers.csv
VIP = "+8613800138000"  # 王伟 (vip)
SUPPORT = ["1", "0"]


def left_voicemail(server: LiveServer, number: str, n: int) -> tuple[int, int]:
    """A voicemail left an hour ago and still unhandled, on its follow-up by now: (the
    voicemail's id, the follow-up's id)."""
    services = server.app.extensions["callcenter"]
    long_ago = utcnow() - timedelta(minutes=90)
    with services.database.session() as session:
        call = open_call(session, call_sid=f"CA{n:032x}", from_raw=number, to="+864008001234",
                         flow="main", default_language="en")  # fmt: skip
        call.queue, call.ended_at = "support", long_ago
        message = Voicemail(mailbox="support", call_sid=call.call_sid,
                            recording_sid=f"RE{n:032x}", from_number=number,
                            created_at=long_ago)  # fmt: skip
        session.add(message)
        session.flush()
        [followup_id] = unhandled_voicemails(session, services.settings, utcnow())
        return message.id, followup_id


def voicemail_answer(console: Console, url: str, voicemail_id: int, status: str) -> Any:
    listed = console.http.get(f"{url}/api/voicemails?status={status}").json()["voicemails"]
    return next((item for item in listed if item["id"] == voicemail_id), None)


def followup_answer(console: Console, url: str, followup_id: int, status: str) -> Any:
    listed = console.http.get(f"{url}/api/followups?status={status}").json()["followups"]
    return next((item for item in listed if item["id"] == followup_id), None)


def test_closing_a_follow_up_handles_its_voicemail_and_the_reverse(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    url = live_server.url
    first_voicemail, first = left_voicemail(live_server, KNOWN, 1)
    second_voicemail, second = left_voicemail(live_server, STRANGER, 2)
    amy = Console(live_server, "amy")
    amy.client.on("followups:changed", amy._recorder("followups:changed"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        # Amy closes the first follow-up: its voicemail is handled with it.
        done = amy.http.post(f"{url}/api/followups/{first}/done",
                             json={"outcome": "reached", "notes": "Booked a visit"})  # fmt: skip
        assert done.status_code == 200, done.text
        amy.wait_for("followups:changed", timeout=5, open=1)
        handled = voicemail_answer(amy, url, first_voicemail, "handled")
        assert handled is not None, "the follow-up's voicemail is still open"
        assert handled["handled_by"] == "1024"
        assert handled["notes"] == f"Follow-up {first} closed: Reached, resolved. Booked a visit"
        assert voicemail_answer(amy, url, first_voicemail, "open") is None
        # The voicemail is already handled: handling it again is refused, as ever.
        again = amy.http.post(f"{url}/api/voicemails/{first_voicemail}/handled", json={})
        assert again.status_code == 409

        # Bob handles the second voicemail from the inbox: its follow-up closes with it.
        bob = Console(live_server, "bob")
        try:
            answer = bob.http.post(f"{url}/api/voicemails/{second_voicemail}/handled",
                                   json={"notes": "Called back, sorted"})  # fmt: skip
            assert answer.status_code == 200, answer.text
        finally:
            bob.close()
        amy.wait_for("followups:changed", timeout=5, open=0)
        closed = followup_answer(amy, url, second, "done")
        assert closed is not None, "the voicemail's follow-up is still open"
        shown = (closed["outcome"], closed["outcome_label"], closed["done_by"], closed["notes"])
        assert shown == ("voicemail_handled", "Closed with its voicemail", "1025",
                         "Called back, sorted")  # fmt: skip
        assert amy.http.get(f"{url}/api/followups").json()["followups"] == []
        # Closed, the follow-up takes no more: a later miss from the number opens a new one.
        late = amy.http.post(f"{url}/api/followups/{second}/done", json={"outcome": "reached"})
        assert late.status_code == 409
    finally:
        amy.close()


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out: {predicate()!r}")


def followups_of(server: LiveServer, number: str) -> list[dict[str, Any]]:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        found = session.scalars(
            select(Followup).where(Followup.number == number).order_by(Followup.id)
        ).all()
        return [
            {"id": f.id, "status": f.status, "occurrences": f.occurrences,
             "events": [(e.reason, e.call_sid) for e in f.events]}
            for f in found
        ]  # fmt: skip


def test_a_follow_up_call_back_nobody_answers_stays_on_the_list(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: "no-answer" if to == VIP else "answer"
    board.pace = 0.1  # the customer's phone rings its 60 s out in 6 s
    caller = start_caller(live_server.app, live_server.url, VIP, ["1"], hold_seconds=30)
    assert caller.result().ended.startswith("hung up in queue vip")
    [followup] = wait_for(lambda: followups_of(live_server, VIP))
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        answer = amy.call("call:dial", {"followup_id": followup["id"]})  # Call now
        assert answer.get("ok"), answer
        call_sid = answer["call_sid"]
        assert amy.wait_for("call:offer", timeout=10, call_sid=call_sid)["kind"] == "outbound"
        # The customer's phone rings out: the call-back ends without them.
        [after] = wait_for(
            lambda: [f for f in followups_of(live_server, VIP) if len(f["events"]) == 2]
        )
    finally:
        amy.close()
    assert after["id"] == followup["id"] and after["status"] == "assigned"
    assert after["events"][1] == ("callback_no_answer", call_sid)
    assert after["occurrences"] == 2
    listed = requests_followup(live_server, "amy", followup["id"])
    assert listed["events"][1]["text"] == "Called back, not reached: no answer"
    dialed = [r.get("To") for r in board.requests
              if r.method == "POST" and r.path.endswith("/Calls.json")]  # fmt: skip
    assert dialed.count(VIP) == 1


def requests_followup(server: LiveServer, username: str, followup_id: int) -> dict[str, Any]:
    console = Console(server, username)
    try:
        listed = console.http.get(f"{server.url}/api/followups?status=all").json()["followups"]
        return next(item for item in listed if item["id"] == followup_id)
    finally:
        console.close()


def test_a_queue_call_back_that_finds_the_line_busy_opens_a_follow_up(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    board.answer_policy = lambda to: "busy" if to == STRANGER else "answer"
    # Nobody is available: the caller asks to be called back (star) and hangs up.
    caller = start_caller(live_server.app, live_server.url, STRANGER, [*SUPPORT, "*"])
    assert caller.result().heard()[-1].startswith("Thank you. We will call you back")
    assert followups_of(live_server, STRANGER) == []  # asking for a call-back is no miss
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        [followup] = wait_for(lambda: followups_of(live_server, STRANGER))
    finally:
        amy.close()
    assert followup["status"] == "open"
    assert followup["events"] == [("callback_busy", caller.call_sid)]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
        assert call.ended_at is not None and call.context["callback_status"] == "busy"
