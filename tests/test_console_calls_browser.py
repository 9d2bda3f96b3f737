"""The agent console's call card in headless Chromium: which controls each call state
allows, the participants list, the consult offer and the call-back offer's wording."""

from __future__ import annotations

import re

import pytest
from conftest import CHROMIUM, LiveServer, start_caller
from playwright.sync_api import Browser, Page, expect
from test_agent_socket import team  # noqa: F401
from test_console_browser import log_in

from callcenter.models import Agent
from callcenter.people.agents import set_call_preferences

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
CALL_CONTROLS = (
    "#hold", "#resume", "#hangup", "#rec-pause", "#rec-resume", "#transfer-submit",
    "#consult-submit", "#complete-transfer", "#cancel-consult", "#add-submit",
)  # fmt: skip


def available(
    browser: Browser, server: LiveServer, username: str, errors: list[str], *, waiting: bool = False
) -> Page:
    """The agent's console, logged in and available; with a call ``waiting`` already, the
    offer may come at once, so "ringing" counts too."""
    page = browser.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, server, username)
    expect(page.locator("#connection")).to_have_text("Connected")
    page.click("#go-available")
    status = re.compile(r"^(available|ringing)$") if waiting else "available"
    expect(page.locator("#status")).to_have_text(status)
    return page


def test_controls_are_disabled_while_connecting(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    board = live_server.app.extensions["callcenter"].extras["simulator_switchboard"]
    board.answer_policy = lambda to: "no-answer" if to == "client:amy" else "answer"
    errors: list[str] = []
    page = available(browser, live_server, "amy", errors)
    start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    page.click("#accept")
    expect(page.locator("#current-state")).to_have_text("connecting")
    for control in CALL_CONTROLS:
        expect(page.locator(control)).to_be_disabled()
    assert errors == []


def test_a_ring_nobody_answers_clears_the_call_card(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    live_server.app.config["SIMULATOR_PHONE_PACE"] = 0.1  # her softphone rings 2 s
    with services.database.session() as session:
        set_call_preferences(session.get(Agent, team["amy"]), auto_answer=False)
    errors: list[str] = []
    page = available(browser, live_server, "amy", errors)
    start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"], hold_seconds=900)
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    page.click("#accept")
    expect(page.locator("#current-state")).to_have_text("connecting")
    # The agent's leg rings out: the caller goes back to the queue, the agent away, and
    # the card of a call she never joined goes with it.
    expect(page.locator("#status")).to_have_text("away", timeout=30000)
    expect(page.locator("#status-reason")).to_have_text("(missed a call)")
    expect(page.locator("#current")).to_be_hidden()
    page.click("#go-available")
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    assert errors == []


def test_warm_transfer_in_two_consoles(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    errors: list[str] = []
    amy = available(browser, live_server, "amy", errors)
    caller = start_caller(live_server.app, live_server.url, "+8613800138000", ["2", "2", "1#"],
                          dial_talk_seconds=900)  # fmt: skip
    expect(amy.locator("#offer")).to_be_visible(timeout=15000)
    expect(amy.locator("#offer-title")).to_have_text("Incoming call")
    expect(amy.locator("#pop-ivr")).to_contain_text("Main menu")
    expect(amy.locator("#pop-ivr")).not_to_contain_text("main.main_menu")
    amy.click("#accept")
    expect(amy.locator("#current-state")).to_have_text("connected", timeout=15000)
    people = amy.locator("#participants li")
    expect(people).to_have_count(2)
    expect(people.nth(0)).to_contain_text("王伟")
    expect(people.nth(1)).to_contain_text("Amy (1024) (you)")
    expect(amy.locator("#rec-indicator")).to_have_text("● REC", timeout=15000)
    expect(amy.locator("#hold")).to_be_enabled()
    expect(amy.locator("#complete-transfer")).to_be_disabled()

    bob = available(browser, live_server, "bob", errors)
    amy.fill("#consult-agent", "1025")
    amy.click("#consult-submit")
    expect(amy.locator("#consult-status")).to_have_text(
        "Waiting for Bob (1025) to accept the consult…"
    )
    expect(bob.locator("#offer")).to_be_visible()
    expect(bob.locator("#offer-title")).to_have_text("Consult from Amy (1024)")
    expect(bob.locator("#pop-kind")).to_contain_text(
        "Amy (1024) wants to hand you their call with 王伟"
    )
    expect(bob.locator("#pop-participants li")).to_have_count(3)
    expect(bob.locator("#pop-participants li").nth(2)).to_contain_text("invited")
    bob.click("#accept")
    expect(bob.locator("#current-state")).to_have_text("consulting")
    expect(bob.locator("#hold")).to_be_disabled()
    expect(bob.locator("#hangup")).to_have_text("Leave consult")
    expect(amy.locator("#complete-transfer")).to_be_enabled(timeout=10000)
    for page in (amy, bob):
        expect(page.locator("#participants li")).to_have_count(3, timeout=10000)
        expect(page.locator("#participants li").nth(0)).to_contain_text("on hold")
        expect(page.locator("#participants li").nth(2)).to_contain_text("connected")

    amy.click("#complete-transfer")
    expect(amy.locator("#status")).to_have_text("wrap-up", timeout=10000)
    expect(amy.locator("#current-state")).to_have_text("wrap-up")
    expect(amy.locator("#rec-indicator")).to_be_hidden()
    for control in CALL_CONTROLS:
        expect(amy.locator(control)).to_be_disabled()
    expect(bob.locator("#current-state")).to_have_text("connected")
    expect(bob.locator("#hold")).to_be_enabled()
    amy.select_option("#disposition", "escalated")
    amy.click("#wrapup-submit")
    expect(amy.locator("#current")).to_be_hidden()
    expect(amy.locator("#wrapup-error")).to_have_text("")
    bob.click("#hangup")
    expect(bob.locator("#status")).to_have_text("wrap-up", timeout=15000)
    caller.result()
    assert errors == []


def test_a_call_back_offer_says_it_dials_the_customer(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0", "*"])
    caller.result()
    errors: list[str] = []
    page = available(browser, live_server, "amy", errors, waiting=True)
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    expect(page.locator("#offer-title")).to_have_text("Call-back request")
    expect(page.locator("#pop-kind")).to_contain_text(
        "Accepting dials the customer at +8613900139000. They asked to be called back"
    )
    expect(page.locator("#pop-wait")).to_be_hidden()
    assert errors == []
