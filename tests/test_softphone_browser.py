"""The console's softphone in headless Chromium against the simulator: it registers while
the agent is available, rings on the bridge's leg, answers, mutes, sends digits and hangs
up, each state on its state line."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, LiveServer, shot, start_caller
from playwright.sync_api import Browser, expect
from test_agent_socket import team  # noqa: F401
from test_console_browser import log_in

from callcenter.models import Agent
from callcenter.people.agents import set_call_preferences

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def test_the_softphone_rings_answers_mutes_and_hangs_up(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    # The agent's leg runs in real time: the bridge rings it for 20 s, which at a faster
    # pace would ring out before the click below on a loaded machine.
    live_server.app.config["SIMULATOR_PHONE_PACE"] = 1.0
    board = services.extras["simulator_switchboard"]
    with services.database.session() as session:
        set_call_preferences(session.get(Agent, team["amy"]), auto_answer=False)
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "amy")
    expect(page.locator("#connection")).to_have_text("Connected")
    state = page.locator("#sp-state")
    expect(state).to_have_text("Not registered (available agents only)")
    page.click("#go-available")
    expect(state).to_have_text("Ready")
    expect(page.locator("#sp-mode")).to_have_text("simulator")

    caller = start_caller(live_server.app, live_server.url, "+8613800138000", ["2", "2", "1#"],
                          dial_talk_seconds=900)  # fmt: skip
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    page.click("#accept")
    expect(state).to_have_text("Ringing — 王伟", timeout=15000)
    expect(page.locator("#sp-hangup")).to_be_disabled()
    page.click("#sp-answer")
    expect(state).to_contain_text("Connected 00:0", timeout=10000)
    expect(page.locator("#current-state")).to_have_text("connected", timeout=15000)
    page.click("#sp-mute")
    expect(state).to_contain_text("Muted 00:")
    expect(page.locator("#sp-mute")).to_have_text("Unmute")
    page.click("#sp-keypad-toggle")
    page.click("#sp-keypad [data-key='1']")
    page.click("#sp-keypad [data-key='#']")
    expect(page.locator("#sp-digits")).to_have_text("1#")
    page.screenshot(path=shot("softphone-connected"), full_page=False)
    page.click("#sp-hangup")
    expect(state).to_contain_text("Ended")
    expect(page.locator("#status")).to_have_text("wrap-up", timeout=15000)
    agent_legs = [call for call in board.calls() if call.to == "client:amy"]
    assert [leg.status for leg in agent_legs] == ["completed"]
    caller.result()
    assert errors == []
