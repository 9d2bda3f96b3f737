"""Reports over HTTP, as CSV and from the shell: the scripted morning of tests/test_metrics.py
gives exactly its expected figures; IVR paths driven through the real engine; who may ask;
what a bad request is told. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from test_metrics import (
    FIRST_QUARTER,
    SECOND_QUARTER,
    THIRD_QUARTER,
    Day,
    at,
    empty,
    late_and_missed,
    script,
)

from callcenter.calls.outbound import call_out, dial_now
from callcenter.calls.records import get_call, open_call, record_status
from callcenter.calls.routing import call_finished, wrap_up
from callcenter.cli import main
from callcenter.db import Database
from callcenter.knowledge.usage import caller_choices
from callcenter.metrics.definitions import AGENT_FIELDS, QUEUE_FIELDS
from callcenter.models import Agent
from callcenter.people.agents import create_agent, set_presence

PASSWORD = "correct horse battery"
SHANGHAI = "+08:00"
MORNING = "from=2026-11-25T10:00&to=2026-11-25T11:00"


@pytest.fixture
def day_app(app: Flask, database_url: str, clock: Any) -> Iterator[Flask]:
    """The app, its database holding the scripted morning, a supervisor and an agent."""
    prepare(app, database_url, clock)
    yield app


def prepare(
    app: Flask, database_url: str, clock: Any, more: Callable[[Day], None] | None = None
) -> None:
    """Script the morning (and `more`) into the app's database; add a supervisor, an agent,
    an admin."""
    settings = app.extensions["callcenter"].settings
    database = Database(database_url)
    day = Day(database, settings)
    script(day)
    late_and_missed(day)
    if more is not None:
        more(day)
    with database.session() as session:
        for name, number, role in (("lead", "1030", "supervisor"), ("cara", "1031", "agent"),
                                   ("root", "1032", "admin")):  # fmt: skip
            create_agent(session, username=name, display_name=name.title(), agent_number=number,
                         password=PASSWORD, role=role)  # fmt: skip
    database.dispose()
    clock.now = at(60)


def login(client: FlaskClient, username: str) -> None:
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def iso_rows(rows: list[dict[str, Any]], queue: str = "support") -> list[dict[str, Any]]:
    return [row for row in rows if row["queue"] == queue]


def test_queue_report_json_has_every_metric_exactly(day_app: Flask, client: FlaskClient) -> None:
    login(client, "lead")
    response = client.get(f"/api/reports/queues?{MORNING}&interval=15m")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert set(body["definitions"]) == set(QUEUE_FIELDS)
    assert "T = 20 seconds" in body["definitions"]["service_level"]
    assert body["percentages"] == ["service_level", "abandon_rate"]  # what pages show as %
    assert iso_rows(body["rows"]) == [
        FIRST_QUARTER,
        SECOND_QUARTER,
        THIRD_QUARTER,
        empty("2026-11-25T10:45:00" + SHANGHAI),
    ]
    assert iso_rows(body["rows"], "vip")[0] == empty("2026-11-25T10:00:00" + SHANGHAI, "vip")
    hour = {
        **empty("2026-11-25T10:00:00" + SHANGHAI),
        "offered": 9, "answered": 4, "answered_in_sl": 3, "abandoned": 3, "short_abandoned": 1,
        "callbacks_requested": 1, "callbacks_made": 1, "service_level": 3 / 7,
        "asa_seconds": 75 / 4, "talk_seconds": 570.0, "hold_seconds": 30.0,
        "wrapup_seconds": 100.0, "aht_seconds": 700 / 5, "abandon_rate": 3 / 9,
        "longest_wait_seconds": 60.0,
    }  # fmt: skip
    assert iso_rows(body["totals"]["queues"]) == [hour]
    assert body["totals"]["all"] == {**hour, "queue": None}  # the other queues are empty
    assert body["period"] == {
        "from": "2026-11-25T10:00:00+08:00",
        "to": "2026-11-25T11:00:00+08:00",
        "timezone": "Asia/Shanghai",
    }


def test_queue_report_one_queue_by_day_with_dates(day_app: Flask, client: FlaskClient) -> None:
    login(client, "root")  # admins too
    response = client.get("/api/reports/queues?from=2026-11-25&to=2026-11-25&interval=1d"
                          "&queue=support")  # fmt: skip
    assert response.status_code == 200
    rows = response.get_json()["rows"]
    assert [(r["interval_start"], r["queue"], r["offered"], r["service_level"]) for r in rows] == [
        ("2026-11-25T00:00:00+08:00", "support", 9, 3 / 7)
    ]


def read_csv(response: Any) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")  # spreadsheets then read UTF-8
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_queue_report_as_csv(day_app: Flask, client: FlaskClient) -> None:
    login(client, "lead")
    response = client.get(f"/api/reports/queues?{MORNING}&interval=15m&queue=support&format=csv")
    assert response.status_code == 200
    assert response.content_type == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="queues_')
    rows = read_csv(response)
    assert list(rows[0]) == list(QUEUE_FIELDS)
    first = rows[0]
    assert first["interval_start"] == "2026-11-25T10:00:00+08:00"
    assert (first["offered"], first["answered"], first["service_level"]) == ("6", "3", "0.5")
    assert float(first["asa_seconds"]) == 65 / 3
    assert float(first["abandon_rate"]) == 1 / 6
    assert (first["csat_average"], first["csat_responses"]) == ("", "0")  # null, never 0
    assert rows[3]["service_level"] == "" and rows[3]["offered"] == "0"


def test_agent_report_with_ranks_json_and_csv(day_app: Flask, client: FlaskClient) -> None:
    login(client, "lead")
    body = client.get(f"/api/reports/agents?{MORNING}").get_json()
    amy, bob = body["rows"]
    assert {k: amy[k] for k in AGENT_FIELDS[3:]} == {
        "handled": 3, "outbound": 0, "outbound_talk_seconds": 0.0,
        "aht_seconds": 460 / 3, "talk_seconds": 390.0, "hold_seconds": 30.0,
        "wrapup_seconds": 40.0, "occupancy": 460 / 2420, "fcr": 2 / 3, "transfers_out": 0,
        "offers_missed": 1, "offers_declined": 0,
    }  # fmt: skip
    assert (bob["handled"], bob["transfers_out"], bob["offers_declined"]) == (2, 1, 1)
    assert amy["csat_average"] is None
    # Two peers (both took support calls): the better of two is 0.75, the worse 0.25.
    assert {k: amy["ranks"][k] for k in ("aht_seconds", "occupancy", "fcr", "csat_average")} == {
        "aht_seconds": 0.25, "occupancy": 0.75, "fcr": 0.25, "csat_average": None,
    }  # fmt: skip
    assert bob["ranks"]["aht_seconds"] == 0.75 and bob["ranks"]["fcr"] == 0.75
    assert "peers" in body["definitions"]["ranks"]
    assert body["percentages"] == [
        "occupancy", "fcr", "aht_seconds_rank", "occupancy_rank", "fcr_rank",
        "csat_average_rank",
    ]  # fmt: skip
    rows = read_csv(client.get(f"/api/reports/agents?{MORNING}&format=csv"))
    assert [(r["username"], r["handled"], r["aht_seconds_rank"], r["fcr_rank"]) for r in rows] == [
        ("amy", "3", "0.25", "0.25"),
        ("bob", "2", "0.75", "0.75"),
    ]
    assert rows[0]["csat_average_rank"] == ""


def dial_out(day: Day, username: str, number: str, start: datetime, talk: int) -> str:
    """`username` places a call to `number` at `start` (as the console's dial pad does),
    talks `talk` seconds, hangs up and saves the wrap-up 10 s later; returns its SID."""
    settings = day.settings

    def place(session: Any) -> str:
        agent = session.get(Agent, day.agents[username])
        _, sid = call_out(session, settings, agent, start, number=number)
        dial_now(session, settings, agent.id, sid, start)
        return sid

    sid = day.step(place)
    end = start + timedelta(seconds=talk)

    def hang_up(session: Any) -> None:
        call = get_call(session, sid)
        record_status(session, call, "completed", talk, end)
        call_finished(session, settings, call, end)

    day.step(hang_up)
    day.step(lambda s: wrap_up(s, settings, day.agents[username], sid, "resolved", "",
                               end + timedelta(seconds=10)))  # fmt: skip
    return sid


def outbound_calls(day: Day) -> None:
    """Amy, back from away at 10:44, dials two customers (10:45, 90 s; 10:50, 45 s)."""
    day.step(lambda s: set_presence(s.get(Agent, day.agents["amy"]), "available", at(44)))
    dial_out(day, "amy", "+8613800138000", at(45), 90)
    dial_out(day, "amy", "+8613900139077", at(50), 45)


def test_outbound_calls_count_for_their_agent_not_for_the_queues(
    app: Flask, client: FlaskClient, database_url: str, clock: Any
) -> None:
    prepare(app, database_url, clock, more=outbound_calls)
    login(client, "lead")
    body = client.get(f"/api/reports/agents?{MORNING}").get_json()
    amy, bob = body["rows"]
    # Amy's 3 calls of the morning and the 2 she placed; bob placed none.
    assert (amy["handled"], amy["outbound"], amy["outbound_talk_seconds"]) == (5, 2, 135.0)
    assert amy["talk_seconds"] == 390.0 + 135.0
    assert (bob["handled"], bob["outbound"], bob["outbound_talk_seconds"]) == (2, 0, 0.0)
    assert "placed" in body["definitions"]["outbound"]
    rows = read_csv(client.get(f"/api/reports/agents?{MORNING}&format=csv"))
    assert [(r["username"], r["outbound"], r["outbound_talk_seconds"]) for r in rows] == [
        ("amy", "2", "135.0"),
        ("bob", "0", "0.0"),
    ]
    # The queues never saw them: the hour's figures are the morning's alone.
    queues = client.get(f"/api/reports/queues?{MORNING}&interval=1h").get_json()
    hour = queues["totals"]["all"]
    assert (hour["offered"], hour["answered"], hour["talk_seconds"]) == (9, 4, 570.0)
    result = CliRunner(mix_stderr=False).invoke(
        main,
        ["report", "agents", "--from", "2026-11-25T10:00", "--to", "2026-11-25T11:00"],
        env={"CALLCENTER_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.output
    head, *lines = [line.split() for line in result.output.splitlines()]
    column = head.index("outbound")
    assert [(line[0], line[column]) for line in lines] == [("amy", "2"), ("bob", "0")]


@pytest.mark.parametrize("path", ["queues", "agents", "ivr", "staffing"])
def test_reports_are_for_supervisors_and_admins(
    day_app: Flask, client: FlaskClient, path: str
) -> None:
    query = f"/api/reports/{path}?{MORNING}&date=2026-11-25"
    assert client.get(query).status_code == 401
    login(client, "cara")
    response = client.get(query)
    assert response.status_code == 403
    assert response.get_json() == {"error": "requires the supervisor role"}
    assert client.get(query + "&format=csv").status_code == 403


def test_report_pages_are_for_supervisors(day_app: Flask, client: FlaskClient) -> None:
    assert client.get("/reports").status_code == 302  # to the login page
    login(client, "cara")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/ivr").status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("queues?to=2026-11-25",
         "from: required (an ISO date like 2026-11-25, or 2026-11-25T10:00)"),
        ("queues?from=yesterday&to=2026-11-25",
         "from: 'yesterday' is not an ISO date or date-time (2026-11-25, 2026-11-25T10:00)"),
        ("queues?from=2026-11-25&to=2026-11-24", "to: must be after from"),
        ("queues?from=2026-11-25T10:00&to=2026-11-25T10:00", "to: must be after from"),
        (f"queues?{MORNING}&interval=5m", "interval: one of 15m, 1h, 1d"),
        (f"queues?{MORNING}&queue=nope", "queue: no queue named 'nope' (support, repairs, vip)"),
        ("queues?from=2026-01-01&to=2026-11-25",
         "the period is too long for a report: at most 92 days"),
        ("queues?from=2026-09-01&to=2026-11-25&interval=15m",
         "the period is too long for 15-minute intervals: at most 31 days"),
        (f"queues?{MORNING}&format=xlsx", "format: json or csv"),
        (f"ivr?{MORNING}&flow=nope", "flow: no flow named 'nope' (main, repairs)"),
        ("staffing?date=tomorrow", "date: 'tomorrow' is not an ISO date (2026-11-25)"),
        ("staffing?date=2026-11-25&aht=-3", "aht: a number from 0 to 86400"),
        ("staffing?date=2026-11-25&calls=nan", "calls: a number from 0 to 100000"),
    ],
)  # fmt: skip
def test_bad_parameters_are_told_clearly(
    day_app: Flask, client: FlaskClient, query: str, message: str
) -> None:
    login(client, "lead")
    response = client.get(f"/api/reports/{query}")
    assert response.status_code == 400
    assert response.get_json() == {"error": message}


def test_command_line_reports(day_app: Flask, database_url: str) -> None:
    env = {"CALLCENTER_DATABASE_URL": database_url}
    cli = CliRunner(mix_stderr=False)

    class Shell:
        @staticmethod
        def invoke(args: list[str]) -> Any:
            return cli.invoke(main, args, env=env)

    runner = Shell()
    args = ["--from", "2026-11-25T10:00", "--to", "2026-11-25T11:00"]
    result = runner.invoke(args=["report", "queues", *args, "--interval", "15m",
                                 "--queue", "support"])  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["interval_start", "queue", "offered", "answered"]
    assert lines[1].split()[:6] == ["2026-11-25", "10:00", "support", "6", "3", "1"]
    # One precision down each column: ratios as percentages, seconds with two decimals.
    table = [line.split() for line in lines]
    head = table[0]
    for name, shape in (("service_level", r"\d+\.\d%|–"), ("asa_seconds", r"\d+\.\d\d|–")):
        column = head.index(name) + 1  # the interval's date and time are two words
        assert all(re.fullmatch(shape, row[column]) for row in table[1:]), (name, table)
    result = runner.invoke(args=["report", "queues", *args, "--csv"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["queue"], r["offered"]) for r in rows] == [("support", "9"), ("repairs", "0"),
                                                          ("vip", "0")]  # fmt: skip
    result = runner.invoke(args=["report", "agents", *args])
    assert result.exit_code == 0, result.output
    assert [line.split()[:2] for line in result.output.splitlines()[1:]] == [
        ["amy", "3"], ["bob", "2"],
    ]  # fmt: skip
    result = runner.invoke(args=["report", "agents", "--from", "2026-11-25", "--to", "x"])
    assert result.exit_code == 2
    assert "to: 'x' is not an ISO date" in result.stderr


# -- IVR --------------------------------------------------------------------------------------


def drive(app: Flask, n: int, steps: list[tuple[str, str | None, str | None]], ends: bool) -> None:
    """One call through the real IVR engine: its start, then each answer (node, digits,
    speech; None for silence), then a hang-up if `ends`."""
    services = app.extensions["callcenter"]
    engine = services.engine
    sid = f"CA{n:032x}"
    with services.database.session() as session:
        call = open_call(session, call_sid=sid, from_raw=f"+861390013{n:04d}",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.started_at = at(n)
        engine.start(session, call)
    attempts: dict[str, int] = {}
    for node, digits, speech in steps:
        with services.database.session() as session:
            call = get_call(session, sid)
            attempts[node] = attempts.get(node, 0) + 1
            engine.resume(session, call, "main", node, attempts[node], digits, speech)
    if ends:
        with services.database.session() as session:
            record_status(session, get_call(session, sid), "completed", 30, at(n, 50))


def callers(app: Flask) -> None:
    """Six callers through the main flow's language choice and menu."""
    drive(app, 20, [("choose_language", "1", None), ("main_menu", "0", None)], ends=True)
    drive(app, 21, [("choose_language", "2", None),
                    ("main_menu", None, "我要退款")], ends=True)  # fmt: skip
    drive(app, 22, [("choose_language", "1", None)] + [("main_menu", None, None)] * 3, ends=True)
    drive(app, 23, [("choose_language", None, None), ("choose_language", None, None),
                    ("main_menu", "7", None), ("main_menu", "4", None)], ends=True)  # fmt: skip
    drive(app, 24, [], ends=True)  # hangs up while offered the languages
    drive(app, 25, [("choose_language", "1", None)], ends=False)  # still in the menu


def test_ivr_report_counts_exits_and_hang_ups(day_app: Flask, client: FlaskClient) -> None:
    app = day_app
    callers(app)
    login(client, "lead")
    body = client.get(f"/api/reports/ivr?{MORNING}&flow=main").get_json()
    assert [flow["flow"] for flow in body["flows"]] == ["main"]
    nodes = {node["node"]: node for node in body["flows"][0]["nodes"]}

    def exits(name: str) -> dict[str, int]:
        return {e["exit"]: e["count"] for e in nodes[name]["exits"] if e["count"]}

    assert nodes["identify"]["reached"] == 6
    assert exits("identify") == {"not_found": 6}
    language = nodes["choose_language"]
    assert (language["reached"], language["hung_up"], language["timeouts"]) == (6, 1, 2)
    assert exits("choose_language") == {"key:1": 3, "key:2": 1, "timeout": 1}
    menu = nodes["main_menu"]
    assert (menu["reached"], menu["hung_up"], menu["timeouts"], menu["invalid"]) == (5, 0, 3, 1)
    assert exits("main_menu") == {"key:0": 1, "speech:3": 1, "key:4": 1, "timeout": 1}
    assert {e["exit"]: e["to"] for e in menu["exits"]}["speech:3"] == "billing_account"
    assert [e["label"] for e in menu["exits"] if e["exit"] == "speech:3"] == ["said “billing”"]
    assert nodes["billing_account"]["hung_up"] == 1  # 21 hung up when asked for the number
    assert (nodes["support_queue"]["reached"], nodes["support_queue"]["ended"]) == (2, 2)
    assert nodes["leave_message"]["ended"] == 1
    assert nodes["main_menu"]["hung_up"] == 0  # 25 is still there, not gone
    # The menu choices agree with those the knowledge base reads from the same log.
    with app.extensions["callcenter"].database.session() as session:
        choices = caller_choices(session, [f"CA{n:032x}" for n in (20, 21, 23)])
    assert choices == {
        f"CA{20:032x}": ["main.support_queue"],
        f"CA{21:032x}": ["main.billing_account"],
        f"CA{23:032x}": ["main.leave_message"],
    }
    rows = read_csv(client.get(f"/api/reports/ivr?{MORNING}&flow=main&format=csv"))
    menu_rows = {r["exit"]: r for r in rows if r["node"] == "main_menu"}
    assert (menu_rows["key:0"]["count"], menu_rows["key:0"]["to"]) == ("1", "support_queue")
    assert menu_rows["timeout"]["reached"] == "5"


def test_ivr_report_from_the_shell(day_app: Flask, database_url: str) -> None:
    """`callcenter report ivr`: a table of each node's exits with their counts, or CSV."""
    callers(day_app)
    env = {"CALLCENTER_DATABASE_URL": database_url}
    args = ["report", "ivr", "--from", "2026-11-25T10:00", "--to", "2026-11-25T11:00"]
    result = CliRunner(mix_stderr=False).invoke(main, [*args, "--flow", "main"], env=env)
    assert result.exit_code == 0, result.output
    table = [line.split() for line in result.output.splitlines()]
    assert table[0][:4] == ["flow", "node", "kind", "reached"]
    key_0 = [row for row in table if row[1] == "main_menu" and "key:0" in row]
    assert len(key_0) == 1 and key_0[0][:4] == ["main", "main_menu", "menu", "5"]
    assert key_0[0][-2:] == ["support_queue", "1"]
    result = CliRunner(mix_stderr=False).invoke(main, [*args, "--csv"], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output.lstrip("\ufeff"))))
    assert {r["flow"] for r in rows} >= {"main"}
    timeout = next(r for r in rows if r["node"] == "choose_language" and r["exit"] == "timeout")
    assert (timeout["reached"], timeout["hung_up"], timeout["count"]) == ("6", "1", "1")
    result = CliRunner(mix_stderr=False).invoke(main, [*args, "--flow", "nope"], env=env)
    assert result.exit_code == 2 and "nope" in result.stderr


def test_ivr_report_counts_late_steps_and_hang_ups(day_app: Flask, client: FlaskClient) -> None:
    """A caller who starts at 10:58 answers the menu and hangs up after 11:00: the next
    report of 10:00–11:00 counts both (calls are counted in the period they started in)."""
    app = day_app
    login(client, "lead")

    def main_nodes() -> dict[str, dict[str, Any]]:
        body = client.get(f"/api/reports/ivr?{MORNING}&flow=main").get_json()
        return {node["node"]: node for node in body["flows"][0]["nodes"]}

    drive(app, 58, [("choose_language", "1", None)], ends=False)
    menu = main_nodes()["main_menu"]
    assert (menu["reached"], menu["hung_up"]) == (1, 0)
    assert not any(e["count"] for e in menu["exits"])
    services = app.extensions["callcenter"]
    with services.database.session() as session:  # at 11:05, the menu's answer
        call = get_call(session, f"CA{58:032x}")
        services.engine.resume(session, call, "main", "main_menu", 1, "4", None)
    with services.database.session() as session:  # at 11:20, the hang-up
        record_status(session, get_call(session, f"CA{58:032x}"), "completed", 30, at(80))
    nodes = main_nodes()
    assert {e["exit"]: e["count"] for e in nodes["main_menu"]["exits"] if e["count"]} == {
        "key:4": 1
    }
    assert (nodes["leave_message"]["reached"], nodes["leave_message"]["ended"]) == (1, 1)
    assert nodes["main_menu"]["hung_up"] == 0
    # A caller who arrives after 11:00 is in the next hour's report, not this one.
    drive(app, 61, [("choose_language", "1", None)], ends=True)
    assert main_nodes()["choose_language"]["reached"] == 1
