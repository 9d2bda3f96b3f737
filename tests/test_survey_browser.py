"""The survey's answers on the consoles, in headless Chromium against the real server: a
caller rates a call 2 (not solved) through the simulator; the agent's recent calls show it
and the call record page says it."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, LiveServer, shot
from playwright.sync_api import Browser, expect
from test_agent_socket import Console, team  # noqa: F401
from test_console_kb_inbox_browser import Console as BrowserConsole
from test_survey import talk_then_agent_hangs_up

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def test_the_call_record_and_recent_calls_show_the_survey(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        _, sid = talk_then_agent_hangs_up(live_server, amy, "+8613900139006", ["2", "2"])
    finally:
        amy.close()
    console = BrowserConsole(browser, live_server, "amy")
    page = console.page
    row = page.locator(f"#recent-calls tr[data-call-sid='{sid}']")
    expect(row.locator("td.csat")).to_have_text("2/5 · not solved")
    row.locator("a").click()
    expect(page).to_have_url(f"{live_server.url}/calls/{sid}")
    expect(page.locator("#call-csat")).to_have_text("2 of 5")
    expect(page.locator("#call-resolved")).to_have_text("no")
    expect(page.locator("#call-timeline tr[data-kind='survey.rated']")).to_be_visible()
    page.screenshot(path=shot("survey-call"), full_page=True)
    assert console.errors == []
