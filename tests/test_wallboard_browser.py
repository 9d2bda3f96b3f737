"""The wallboard in headless Chromium: the board renders and goes live, times tick, the
charts are drawn, a threshold set on the page colours a queue, a simulated caller appears
live and disappears on hang-up, and the page says when it is stale."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import CHROMIUM, LiveServer, shot, start_caller
from playwright.sync_api import Browser, Page, expect
from test_agent_socket import team  # noqa: F401
from test_queue_boards import queued_call
from test_queue_boards_browser import shown_seconds, wallboard_log_in

from callcenter.calls.records import get_call, mark_left_queue, open_call
from callcenter.care.models import Followup, Ticket
from callcenter.models import utcnow

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
SID = "CA" + "5" * 32


def chart_points(page: Page, field: str) -> int:
    """How many values the chart of `field` holds (Chart.js's own instance)."""
    return page.evaluate(
        """(field) => {
            const chart = Chart.getChart(document.getElementById(`chart-${field}`));
            return chart ? chart.data.datasets.reduce((n, d) => n + d.data.length, 0) : -1;
        }""",
        field,
    )


def painted_pixels(page: Page, field: str) -> int:
    return page.evaluate(
        """(field) => {
            const canvas = document.getElementById(`chart-${field}`);
            const context = canvas.getContext("2d");
            const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let painted = 0;
            for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
            return painted;
        }""",
        field,
    )


def test_the_wallboard_lives(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    realtime = services.extras["realtime"]
    # A caller waiting in support for 40 s (now, by the real clock: today's figures).
    with services.database.session() as session:
        call = open_call(session, call_sid=SID, from_raw="+8613900139000", to="+864008001234",
                         flow="main", default_language="en")  # fmt: skip
        call.queue, call.outcome, call.enqueued_at = (
            "support",
            "queued",
            utcnow() - timedelta(seconds=40),
        )
        # A caller to call back since 3 minutes ago, and an overdue ticket.
        since = utcnow() - timedelta(minutes=3)
        session.add(Followup(number="+8613900139009", open_key="+8613900139009", language="en",
                             created_at=since, last_at=since))  # fmt: skip
        session.add(Ticket(category="repair", priority="normal", status="open",
                           description="Fridge", source="agent", created_at=since,
                           updated_at=since, due_at=utcnow() - timedelta(hours=1)))  # fmt: skip
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1500, "height": 1100})
    page.on("pageerror", lambda error: errors.append(str(error)))
    wallboard_log_in(page, live_server, "lead")
    expect(page.locator("#connection")).to_have_text("Live")

    support = page.locator('#queues tr[data-queue="support"]')
    expect(support.locator("[data-field=waiting]")).to_have_text("1")
    expect(support.locator("[data-field=offered]")).to_have_text("1")
    expect(page.locator("#care-followups")).to_have_text("1")
    expect(page.locator("#care-oldest")).to_have_text(re.compile(r"^3m \d+s$"))
    expect(page.locator("#care-overdue")).to_have_text("1")
    expect(page.locator("#care-overdue")).to_have_attribute("data-alert", "alert")
    page.screenshot(path=shot("wallboard-live"))
    longest = support.locator("[data-field=longest-wait]")
    assert 40 <= shown_seconds(longest.inner_text()) < 50
    # Definitions are on the page: a hover on each heading, and the legend.
    title = page.locator('#queues-table th[data-def="service_level"]').get_attribute("title")
    assert title is not None and "T = 20 seconds" in title
    expect(page.locator("#definitions")).to_contain_text("Callers who hung up while waiting")

    # Under the default 60 s, 40 s is fine; a supervisor sets 30 s: the queue turns red.
    expect(longest).to_have_attribute("data-alert", "ok")
    support.locator("[data-field=thresholds] button").click()
    page.fill("#thresholds input[name=oldest_wait_seconds]", "30")
    page.fill("#thresholds input[name=service_level]", "90")
    page.click("#thresholds button[type=submit]")
    expect(page.locator("#thresholds")).to_be_hidden()
    expect(support.locator("[data-field=thresholds]")).to_contain_text("30s · 90%")
    expect(longest).to_have_attribute("data-alert", "alert")
    expect(support).to_have_attribute("data-alert", "alert")

    # The waiting caller is on the live calls, its time in state ticking.
    row = page.locator(f'#calls tr[data-call-sid="{SID}"]')
    expect(row).to_have_attribute("data-state", "waiting")
    time_cell = row.locator("[data-field=time]")
    first = time_cell.inner_text()
    expect(time_cell).not_to_have_text(first, timeout=3000)

    # Agents: amy's time in status counts up by itself.
    amy = page.locator('#agents tr[data-agent="amy"]')
    page.check("#show-offline")
    expect(amy).to_be_visible()
    in_status = amy.locator("[data-field=in-status]")
    before = in_status.inner_text()
    expect(in_status).not_to_have_text(before, timeout=3000)

    # Charts: Chart.js instances with today's intervals, painted on their canvases.
    for field in ("offered", "answered", "abandoned", "service_level"):
        assert chart_points(page, field) > 0, field
        assert painted_pixels(page, field) > 500, field
    offered_now = page.evaluate(
        """() => Chart.getChart(document.getElementById("chart-offered")).data.datasets
                .find((d) => d.label === "After-sales support").data.at(-1)"""
    )
    assert offered_now == 1

    # The caller hangs up: gone from the live calls and the queue, counted as abandoned.
    with services.database.session() as session:
        gone = get_call(session, SID)
        mark_left_queue(gone, "abandoned", utcnow())
        gone.status, gone.ended_at = "completed", utcnow()
    realtime.kick()
    expect(row).to_have_count(0)
    expect(support.locator("[data-field=waiting]")).to_have_text("0")
    expect(support.locator("[data-field=abandoned]")).to_have_text("1")
    page.wait_for_function(
        """() => Chart.getChart(document.getElementById("chart-abandoned")).data.datasets
                .find((d) => d.label === "After-sales support").data.at(-1) === 1"""
    )

    # A simulated caller through the IVR appears live, and disappears on hang-up.
    caller = start_caller(live_server.app, live_server.url, "+8613800138000", ["1"])
    queued_call(live_server, caller.call_sid)
    live = page.locator(f'#calls tr[data-call-sid="{caller.call_sid}"]')
    expect(live).to_have_attribute("data-state", "waiting")
    expect(live.locator("td").nth(3)).to_contain_text("王伟")
    services.extras["bridge"].hang_up(caller.call_sid)
    caller.result()
    expect(live).to_have_count(0)
    assert errors == []


def test_the_wallboard_says_when_it_is_stale(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    page = browser.new_page()
    wallboard_log_in(page, live_server, "lead")
    expect(page.locator("#connection")).to_have_text("Live")
    # The server stops sending (its dispatcher, which sends updates and keepalives, is
    # stopped): after a few seconds without a word the page says since when it is stale.
    live_server.app.extensions["callcenter"].extras["realtime"].stop()
    stale = re.compile(r"^Stale since \d\d:\d\d:\d\d$")
    expect(page.locator("#connection")).to_have_text(stale, timeout=20000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "stale")
