"""The queue boards in headless Chromium: the agent console's Queues card is filled when the
page loads, and the wallboard's longest wait counts up by itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from conftest import CHROMIUM, LiveServer
from playwright.sync_api import Browser, Page, expect
from test_agent_socket import PASSWORD, team  # noqa: F401
from test_console_browser import log_in

from callcenter.calls.records import open_call
from callcenter.models import utcnow

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def shown_seconds(text: str) -> int:
    """`1m 5s` or `42s` back to seconds."""
    match = re.fullmatch(r"(?:(\d+)m )?(\d+)s", text)
    assert match, text
    return int(match.group(1) or 0) * 60 + int(match.group(2))


def test_queue_cards_are_filled_on_load_and_the_longest_wait_ticks(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    # No broadcast at all: whatever the pages show, they got when they connected.
    services.extras["realtime"].stop()
    now = utcnow()
    with services.database.session() as session:
        for index, outcome, waited in [(1, "queued", 65), (2, "queued", 5), (3, "callback", 90)]:
            call = open_call(session, call_sid=f"CA{index:032x}", from_raw="+8613900139000",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.queue, call.outcome = "support", outcome
            call.enqueued_at = now - timedelta(seconds=waited)
    errors: list[str] = []

    agent_page = browser.new_page()
    agent_page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(agent_page, live_server, "amy")
    support = agent_page.locator('#queues tr[data-queue="support"]')
    expect(support.locator("[data-field=waiting]")).to_have_text("2")
    expect(support.locator("[data-field=callbacks]")).to_have_text("1")
    vip = agent_page.locator('#queues tr[data-queue="vip"]')
    expect(vip.locator("[data-field=waiting]")).to_have_text("0")

    wallboard = browser.new_context().new_page()
    wallboard.on("pageerror", lambda error: errors.append(str(error)))
    wallboard_log_in(wallboard, live_server, "lead")
    row = wallboard.locator('#queues tr[data-queue="support"]')
    expect(row.locator("[data-field=waiting]")).to_have_text("2")
    expect(row.locator("[data-field=callbacks]")).to_have_text("1")
    longest = row.locator("[data-field=longest-wait]")
    first = longest.inner_text()
    assert 65 <= shown_seconds(first) < 80  # the caller on the line, not the call-back
    expect(longest).not_to_have_text(first, timeout=3000)  # it counts up with no event
    assert shown_seconds(longest.inner_text()) > shown_seconds(first)
    assert errors == []


def wallboard_log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/supervisor")
    expect(page).to_have_url(f"{server.url}/login?next=/supervisor")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/supervisor")
