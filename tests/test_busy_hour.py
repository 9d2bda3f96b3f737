"""`callcenter simulate busy-hour` against a live server: simulated callers through its
simulator's phone API, agents on real Socket.IO consoles; afterwards the reports show
the hour's calls (answered, abandoned, call-backs asked for)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import LiveServer, app_config, close_app
from flask import Flask
from werkzeug.serving import make_server

from callcenter.app import create_app
from callcenter.cli import main
from callcenter.db import Database
from callcenter.people.agents import create_agent

PASSWORD = "correct horse battery"
ALWAYS = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def open_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """The app on a real port, open around the clock on the real clock (the hour runs
    now), its dispatcher running as under `callcenter serve`."""
    before = set(threading.enumerate())
    server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(app_config(
        tmp_path, database_url, public_url=url, twilio_api_url=url + "/simulator",
        hours={"support": {"timezone": "UTC", "weekly": ALWAYS}},
    ))  # fmt: skip
    app.config["SIMULATOR_PHONE_PACE"] = 0.05  # what callers hear, 20 times faster
    server.app = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.extensions["callcenter"].extras["realtime"].start()
    try:
        yield LiveServer(url, app)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        close_app(app, before)


def test_a_short_busy_hour_shows_in_the_reports(open_server: LiveServer, database_url: str
                                                ) -> None:  # fmt: skip
    live_server = open_server
    app = live_server.app
    result = CliRunner(mix_stderr=False).invoke(
        main,
        ["simulate", "busy-hour", "--url", live_server.url, "--callers", "20", "--agents", "2",
         "--minutes", "0.5", "--abandon", "0.2", "--callback", "0.1", "--seed", "3"],
        env={"CALLCENTER_DATABASE_URL": database_url},
    )  # fmt: skip
    assert result.exit_code == 0, (result.output, result.stderr)
    counts = dict(line.strip().split(": ") for line in result.output.splitlines()
                  if line.startswith("  "))  # fmt: skip
    seen = (result.output, result.stderr)
    assert counts.get("called") == "20" and counts.get("queued") == "20", seen
    answered, abandoned, callbacks = (int(counts.get(what, 0)) for what in
                                      ("answered", "abandoned", "asked_callback"))  # fmt: skip
    assert answered + abandoned + callbacks == 20, seen
    # Wrap-ups: the answered callers, and the call-backs the app then places to agents.
    assert answered >= 5 and int(counts.get("wrapped_up", 0)) >= answered, seen
    assert abandoned >= 1 and callbacks >= 1, seen  # 2 agents for 20 callers: lines form

    database = Database(database_url)
    with database.session() as session:
        create_agent(session, username="lead", display_name="Lead", agent_number="1030",
                     password=PASSWORD, role="supervisor")  # fmt: skip
    database.dispose()
    client = app.test_client()
    login = client.post("/api/login", json={"username": "lead", "password": PASSWORD})
    assert login.status_code == 200
    settings = app.extensions["callcenter"].settings
    today = datetime.now(ZoneInfo(settings.timezone)).date().isoformat()
    body = client.get(f"/api/reports/queues?from={today}&to={today}&interval=1d").get_json()
    total = body["totals"]["all"]
    assert total["offered"] == 20
    # Each caller's wait ended one way; a caller who gave up just as an agent accepted
    # counts as answered (the agent had them), so the callers' own tally may differ by that.
    gave_up = total["abandoned"] + total["callbacks_requested"]
    assert total["answered"] + gave_up == 20, total
    assert total["answered"] >= answered and 1 <= gave_up <= abandoned + callbacks, total
    agents = client.get(f"/api/reports/agents?from={today}&to={today}").get_json()["rows"]
    simulated = [row for row in agents if row["username"].startswith("sim.agent")]
    assert sum(row["handled"] for row in simulated) >= total["answered"]
    assert all(row["handled"] for row in simulated)  # both agents took calls
    ivr = client.get(f"/api/reports/ivr?from={today}&to={today}&flow=main").get_json()
    menu = {n["node"]: n for n in ivr["flows"][0]["nodes"]}["main_menu"]
    assert menu["reached"] == 20
    assert {e["exit"]: e["count"] for e in menu["exits"]}["key:0"] == 20
