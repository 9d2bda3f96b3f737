"""Erlang C staffing advice against published worked examples, and the staffing report of
the scripted morning (tests/test_metrics.py) over HTTP and from the shell."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from test_reports import day_app, login  # noqa: F401 (the fixture)

from callcenter.cli import main
from callcenter.reports.erlang import (
    agents_needed,
    average_speed_of_answer,
    erlang_c,
    service_level,
)

# The classic worked example (Call Centre Helper, "Erlang C Formula – Made Simple With an
# Easy Worked Example"): 100 calls in 30 minutes, AHT 180 s, target 80 % within 20 s:
# traffic 10 Erlangs; with 11 agents the probability of waiting is 68.21 % and the service
# level 39.0 %; 12 → 44.94 % / 64.0 %; 13 → 28.53 % / 79.6 %; 14 agents reach the target
# (17.41 % wait, service level 88.8 %, ASA 7.8 s, occupancy 71.4 %).
CLASSIC = [  # agents, probability of waiting, service level within 20 s, ASA
    (11, 0.6821, 0.3896, 122.8),
    (12, 0.4494, 0.6402, 40.4),
    (13, 0.2853, 0.7956, 17.1),
    (14, 0.1741, 0.8884, 7.8),
]


@pytest.mark.parametrize(("agents", "waiting", "level", "asa"), CLASSIC)
def test_erlang_c_against_the_classic_worked_example(
    agents: int, waiting: float, level: float, asa: float
) -> None:
    assert round(erlang_c(10.0, agents), 4) == waiting
    assert round(service_level(10.0, agents, 180, 20), 4) == level
    assert round(average_speed_of_answer(10.0, agents, 180) or 0, 1) == asa


def test_agents_needed_for_the_classic_example() -> None:
    staffing = agents_needed(100, 180, 1800, 0.8, 20)
    assert (staffing.traffic, staffing.agents) == (10.0, 14)
    assert round(staffing.occupancy or 0, 3) == 0.714


# Erlang C table (probability of waiting, E_C(N, A)) as printed in queueing texts, e.g.
# Westbay Engineers' "The Erlang C formula" example: 360 calls per half hour, 240 s each
# (48 Erlangs), 55 agents: E_C = 0.2387 (to four places), occupancy 87.3 %, ASA 8.2 s.
def test_erlang_c_large_center() -> None:
    assert round(erlang_c(48.0, 55), 4) == 0.2387
    assert round(average_speed_of_answer(48.0, 55, 240) or 0, 1) == 8.2
    assert round(48 / 55, 3) == 0.873


def test_erlang_c_edges() -> None:
    assert erlang_c(0, 3) == 0.0
    assert erlang_c(5.0, 5) == 1.0  # as many agents as Erlangs: the queue never empties
    assert service_level(5.0, 4, 180, 20) == 0.0
    assert average_speed_of_answer(5.0, 5, 180) is None
    assert agents_needed(0, 180, 3600, 0.8, 20).agents == 0
    # Exact for hundreds of agents (no factorial overflow): 400 Erlangs.
    big = agents_needed(8000, 180, 3600, 0.9, 20)
    assert 400 < big.agents < 440 and big.service_level >= 0.9


def test_staffing_report_for_the_scripted_morning(day_app: Flask, client: FlaskClient) -> None:  # noqa: F811
    login(client, "lead")
    response = client.get("/api/reports/staffing?date=2026-11-25&queue=support")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    rows = body["rows"]
    assert len(rows) == 24
    assert body["percentages"] == [
        "service_level_target", "expected_service_level", "expected_occupancy",
        "service_level_logged_in",
    ]  # fmt: skip
    ten = next(r for r in rows if r["interval_start"] == "2026-11-25T10:00:00+08:00")
    # 9 callers offered, AHT 700 ÷ 5 = 140 s: 0.35 Erlangs. One agent answers 80 % within
    # 20 s: 1 − 0.35 × e^(−(1 − 0.35) × 20 ÷ 140) = 0.6893 < 0.8, so two are needed.
    assert (ten["calls"], ten["aht_seconds"], ten["traffic_erlangs"]) == (9, 140, 0.35)
    assert ten["agents_needed"] == 2
    assert ten["service_level_target"] == 0.8
    assert ten["expected_occupancy"] == 0.175
    assert round(ten["expected_service_level"], 4) == round(service_level(0.35, 2, 140, 20), 4)
    # amy and bob were logged in (available, on calls, wrap-up) the whole hour but for
    # amy's time away after missing call 9 at 10:40:20 and bob's after declining.
    assert 1.0 < ten["agents_logged_in"] <= 2.0
    nine = next(r for r in rows if r["interval_start"] == "2026-11-25T09:00:00+08:00")
    assert (nine["calls"], nine["agents_needed"], nine["expected_service_level"]) == (0, 0, None)
    assert "Erlang C" in body["definitions"]["agents_needed"]
    # A typed-in volume: 100 calls an hour of 180 s (5 Erlangs).
    planned = client.get(
        "/api/reports/staffing?date=2026-11-25&queue=support&calls=100&aht=180&format=csv"
    ).get_data(as_text=True)
    planned_rows = list(csv.DictReader(io.StringIO(planned[1:])))
    assert {r["agents_needed"] for r in planned_rows} == {
        str(agents_needed(100, 180, 3600, 0.8, 20).agents)
    }


def test_staffing_from_the_shell(day_app: Flask, database_url: str) -> None:  # noqa: F811
    env = {"CALLCENTER_DATABASE_URL": database_url}
    result = CliRunner(mix_stderr=False).invoke(
        main, ["report", "staffing", "--date", "2026-11-25", "--queue", "support"], env=env
    )
    assert result.exit_code == 0, result.output + result.stderr
    lines: list[Any] = [line.split() for line in result.output.splitlines()]
    assert lines[0][:3] == ["interval_start", "queue", "calls"]
    ten = next(line for line in lines if line[:2] == ["2026-11-25", "10:00"])
    # calls, AHT, Erlangs, agents needed, their service level, ASA and occupancy, logged in
    assert ten[2:] == ["support", "9", "140", "0.35", "2", "95.9%", "4.42", "17.5%", "1.34"]
    result = CliRunner(mix_stderr=False).invoke(
        main, ["report", "staffing", "--date", "2026-11-25", "--csv"], env=env
    )
    assert len(list(csv.DictReader(io.StringIO(result.output)))) == 24 * 3
