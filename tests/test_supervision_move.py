"""A caller a supervisor moves to another queue hears that queue's hold treatment at once:
their live call is redirected (REST, after the commit) to a wait in the new queue, and
their place and wait are kept (tests/test_supervision.py checks the reports)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import team  # noqa: F401
from test_console_calls import wait_until
from test_supervision import supervisor

from callcenter.metrics.facts import QueueEntry
from callcenter.models import Call


def wait_queues(leg) -> list[str]:
    """The queue named by each of the caller's wait-loop fetches, in order."""
    return [
        parse_qs(urlsplit(exchange.url).query).get("queue", [""])[0]
        for exchange in list(leg.exchanges)
        if "/twilio/queue/wait" in exchange.url
    ]


def test_a_moved_caller_hears_the_new_queues_hold_message_at_once(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    lead = supervisor(live_server, "lead")
    caller = start_caller(live_server.app, live_server.url, "+8613900139003", ["1", "0"],
                          pace=0.05)  # fmt: skip
    try:

        def waiting() -> Call | None:
            with services.database.session() as session:
                call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
                return call if call is not None and call.outcome == "queued" else None

        wait_until(lambda: waiting() is not None, timeout=15)
        leg = board.get_call(caller.call_sid)
        wait_until(lambda: wait_queues(leg), timeout=15)  # the old queue's loop has started
        old = waiting().queue
        target = "repairs" if old != "repairs" else "support"
        heard_before, said_before = len(wait_queues(leg)), len(leg.events)
        assert set(wait_queues(leg)) == {old}

        assert lead.call("supervisor:move", {"call_sid": caller.call_sid, "queue": target})["ok"]
        # The next wait-loop fetch is already the new queue's (no more of the old one).
        wait_until(lambda: target in wait_queues(leg)[heard_before:], timeout=10)
        after = wait_queues(leg)[heard_before:]
        first_new = after.index(target)
        assert set(after[first_new:]) == {target}
        assert set(after[:first_new]) <= {old} and len(after[:first_new]) <= 1  # one in flight
        hold = services.settings.queues[target].hold_message["en"]
        wait_until(
            lambda: any(e.kind == "say" and hold in e.text for e in leg.events[said_before:]),
            timeout=10,
        )

        with services.database.session() as session:  # still waiting, the same wait
            call = session.scalar(select(Call).where(Call.call_sid == caller.call_sid))
            assert (call.queue, call.outcome, call.dequeued_at) == (target, "queued", None)
            entries = session.scalars(
                select(QueueEntry).where(QueueEntry.call_sid == caller.call_sid)
            ).all()
            assert [(e.queue, e.left_at) for e in entries] == [(target, None)]
    finally:
        services.extras["bridge"].hang_up(caller.call_sid)
        caller.result()
        lead.close()
