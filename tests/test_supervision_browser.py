"""The supervisor's actions in headless Chromium: Monitor, Coach, Barge and Leave on a live
call (the agent's console shows who coaches or joined), an agent set away with a reason,
a waiting caller moved to another queue."""

from __future__ import annotations

import os

import pytest
from conftest import CHROMIUM, LiveServer, start_caller
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from test_agent_socket import PASSWORD, team  # noqa: F401
from test_console_calls import wait_until
from test_console_calls_browser import available

from callcenter.models import Agent, Call

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def supervisor_page(browser: Browser, server: LiveServer, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/supervisor")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/supervisor")
    expect(page.locator("#connection")).to_have_text("Live")
    return page


def test_monitor_coach_barge_leave_and_steer_from_the_wallboard(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    errors: list[str] = []
    amy = available(browser, live_server, "amy", errors)
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"],
                          dial_talk_seconds=900)  # fmt: skip
    sid = caller.call_sid
    expect(amy.locator("#offer")).to_be_visible(timeout=15000)
    amy.click("#accept")
    expect(amy.locator("#current-state")).to_have_text("connected", timeout=15000)

    lead = supervisor_page(browser, live_server, errors)
    row = lead.locator(f'#live-calls tr[data-call-sid="{sid}"]')
    expect(row).to_have_attribute("data-call-state", "talking", timeout=10000)
    expect(row.locator("button[data-action=leave]")).to_be_disabled()

    row.locator("button[data-action=monitor]").click()
    expect(lead.locator("#supervision-status")).to_have_text("You are listening to the call")
    expect(row.locator(".supervisors")).to_have_text("Lead (listening)")
    expect(row.locator("button[data-action=monitor]")).to_be_disabled()
    banner = amy.locator("#supervisor-banner")
    expect(banner).to_be_hidden()  # a silent monitor is not announced by default

    row.locator("button[data-action=coach]").click()
    expect(banner).to_have_text("Coached by Lead: only you hear them")
    with services.database.session() as session:
        agent_leg = session.scalar(select(Call.agent_leg_sid).where(Call.call_sid == sid))

    def coaches() -> list[str]:
        members = board.find_conference(sid).participants.values()
        return [p.call_sid for p in members if p.call_sid_to_coach == agent_leg]

    wait_until(lambda: len(coaches()) == 1)
    (leg,) = coaches()
    wait_until(lambda: board.participant(sid, leg).connected, timeout=30)  # lead answered
    expect(amy.locator("#participants li[data-role=supervisor]")).to_contain_text("Lead (coaching)")

    row.locator("button[data-action=barge]").click()
    expect(banner).to_have_text("Lead joined the call")
    expect(lead.locator("#supervision-status")).to_have_text("You joined the call")
    expect(row.locator(".supervisors")).to_have_text("Lead (in the call)")
    if os.environ.get("CALLCENTER_TEST_SCREENSHOTS"):
        lead.screenshot(path="/tmp/x-supervise-wallboard.png", full_page=True)
        amy.screenshot(path="/tmp/x-supervise-agent.png", full_page=True)

    row.locator("button[data-action=leave]").click()
    expect(lead.locator("#supervision-status")).to_have_text("You left the call")
    expect(banner).to_be_hidden()
    wait_until(lambda: board.get_call(leg).status == "completed")
    assert board.get_call(sid).status == "in-progress"

    # A caller waits (amy is busy, bob logged out): moved to the repairs queue, to the front.
    waiting = start_caller(live_server.app, live_server.url, "+8613900139002", ["1", "0"])
    moved = lead.locator(f'#live-calls tr[data-call-sid="{waiting.call_sid}"]')
    expect(moved).to_have_attribute("data-call-state", "waiting", timeout=15000)
    moved.locator("[data-field=queue]").select_option("repairs")
    moved.locator("[data-field=front]").check()
    moved.locator("button[data-action=move]").click()
    expect(lead.locator("#supervision-status")).to_contain_text("Moved to repairs")
    expect(moved.locator("td").nth(1)).to_have_text("repairs")
    # Steer: bob (at his console, his calls are support's) away with a reason, from his row.
    bob_page = available(browser, live_server, "bob", errors)
    lead.fill("#away-reason", "1:1 with the lead")
    lead.locator(f'tr[data-agent-id="{team["bob"]}"] button[data-status=away]').click()
    expect(lead.locator("#supervision-status")).to_have_text("Status set: away")
    with services.database.session() as session:
        bob = session.get(Agent, team["bob"])
        assert (bob.status, bob.status_reason) == ("away", "1:1 with the lead")

    expect(bob_page.locator("#status")).to_have_text("away")
    assert errors == []
