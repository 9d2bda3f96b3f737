"""`GET /metrics`: Prometheus's text format, figures that follow a call through the center,
and who may read them (a bearer token, else loopback only)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from conftest import PUBLIC_URL, LiveServer, TwilioWebhooks, call_params
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from test_agent_socket import Console, enqueue_caller, team  # noqa: F401  (team: a fixture)

Figures = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Figures:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(server: LiveServer) -> Figures:
    response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(response.text)


def value(figures: Figures, name: str, **labels: str) -> float:
    return figures.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_figures_follow_a_call(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    realtime = live_server.app.extensions["callcenter"].extras["realtime"]
    before = scrape(live_server)
    assert value(before, "callcenter_queue_waiting", queue="support") == 0
    assert value(before, "callcenter_sockets_connected", namespace="/agent") == 0
    assert value(before, "callcenter_agents", state="offline") == 3
    assert value(before, "callcenter_download_backlog", status="pending") == 0

    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        amy.wait_for("agent:state", status="available")
        # Agents with a console are left out of the dispatcher's next pass: make her away
        # while the caller is queued, so the wait can be seen.
        assert amy.call("agent:status", {"status": "away"})["ok"]
        amy.wait_for("agent:state", status="away")
        connected = scrape(live_server)
        assert value(connected, "callcenter_sockets_connected", namespace="/agent") == 1
        assert value(connected, "callcenter_agents", state="away") == 1

        sid = "CA" + "7" * 32
        enqueue_caller(live_server, sid)
        queued = scrape(live_server)
        assert value(queued, "callcenter_queue_waiting", queue="support") == 1
        assert value(queued, "callcenter_queue_oldest_wait_seconds", queue="support") >= 0
        voice = "/twilio/voice"
        assert value(queued, "callcenter_webhook_seconds_count", route=voice) == 1
        assert value(queued, "callcenter_webhook_seconds_count", route="/twilio/gather") == 3
        assert value(queued, "callcenter_webhook_seconds_bucket", route=voice, le="15.0") == 1

        passes = value(queued, "callcenter_dispatcher_pass_seconds_count")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        realtime.run_once()
        amy.wait_for("call:offer", call_sid=sid)
        offered = scrape(live_server)
        assert value(offered, "callcenter_agents", state="ringing") == 1
        assert value(offered, "callcenter_agents", state="available") == 0
        assert value(offered, "callcenter_dispatcher_pass_seconds_count") > passes

        hooks = TwilioWebhooks(_Requests(live_server), public_url=live_server.url)
        gone = hooks.post("/twilio/status", call_params(sid, CallStatus="completed"))
        assert gone.status_code == 204
        amy.wait_for("agent:state", status="available")
        after = scrape(live_server)
        assert value(after, "callcenter_queue_waiting", queue="support") == 0
        assert value(after, "callcenter_queue_oldest_wait_seconds", queue="support") == 0
        assert value(after, "callcenter_agents", state="available") == 1
        assert value(after, "callcenter_webhook_seconds_count", route="/twilio/status") == 1
    finally:
        amy.close()


class _Requests:
    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def post(self, path: str, data: dict[str, str], headers: dict[str, str]) -> requests.Response:
        return requests.post(self.server.url + path, data=data, headers=headers, timeout=10)


def test_loopback_only_without_a_token(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    far = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/metrics", environ_base=far).status_code == 403
    # Behind a proxy every request comes from loopback: a forwarded one is refused.
    proxied = client.get("/metrics", headers={"X-Forwarded-For": "192.0.2.7"})
    assert proxied.status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_with_a_token_only_the_bearer_reads(
    make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCENTER_METRICS_TOKEN", "s3cret-metrics")
    client = make_app().test_client()
    assert client.get("/metrics").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    right = {"Authorization": "Bearer s3cret-metrics", "X-Forwarded-For": "192.0.2.7"}
    answer = client.get("/metrics", headers=right, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert answer.status_code == 200
    assert "callcenter_webhook_seconds" in answer.get_data(as_text=True)


def test_webhook_latency_per_route_in_process(app: Flask) -> None:
    client = app.test_client()
    hooks = TwilioWebhooks(client, public_url=PUBLIC_URL)
    sid = "CA" + "8" * 32
    assert hooks.post("/twilio/voice", call_params(sid)).status_code == 200
    assert hooks.post("/twilio/voice", call_params(sid)).status_code == 200  # a retry
    forged = client.post("/twilio/voice", data=call_params(sid))
    assert forged.status_code == 403
    figures = parse(client.get("/metrics").get_data(as_text=True))
    # Every answer counts, the refused one too: it also cost the server its time.
    assert value(figures, "callcenter_webhook_seconds_count", route="/twilio/voice") == 3
    assert value(figures, "callcenter_webhook_seconds_sum", route="/twilio/voice") > 0


def test_write_lock_wait_and_hold_per_caller(app: Flask) -> None:
    if app.extensions["callcenter"].database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock (PostgreSQL locks rows, and these are not measured)")
    client = app.test_client()
    hooks = TwilioWebhooks(client, public_url=PUBLIC_URL)
    assert hooks.post("/twilio/voice", call_params("CA" + "9" * 32)).status_code == 200
    figures = parse(client.get("/metrics").get_data(as_text=True))
    for name in ("callcenter_write_lock_wait_seconds", "callcenter_write_lock_held_seconds"):
        # The webhook's one write transaction, named by its route.
        assert value(figures, name + "_count", caller="/twilio/voice") == 1
    assert value(figures, "callcenter_write_lock_held_seconds_sum", caller="/twilio/voice") > 0


def test_a_scrape_leaves_no_database_connection_in_use(app: Flask) -> None:
    """Every figure is read in the scrape's one read transaction, which ends with it: a
    connection left checked out (a read after the session closed) would sit idle in a
    transaction on PostgreSQL and hold up whatever needs its locks."""
    engine = app.extensions["callcenter"].database.engine
    before = engine.pool.checkedout()
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert "callcenter_remote_deletions" in response.get_data(as_text=True)
    assert engine.pool.checkedout() == before
