"""The supervisor's actions on the wallboard in headless Chromium, from the Actions cells of
its live calls and agents tables: Monitor, Coach, Barge and Leave on a live call (the agent's
console shows who coaches or joined, the board who is on the call), a waiting caller moved
to another queue, an agent set away with a reason."""

from __future__ import annotations

import os

import pytest
from conftest import CHROMIUM, LiveServer, shot, start_caller
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
    # One live calls table: the wallboard's, with the actions in each row's Actions cell.
    expect(lead.locator("#supervision")).to_have_count(0)
    row = lead.locator(f'#calls tr[data-call-sid="{sid}"]')
    expect(row).to_have_attribute("data-state", "connected", timeout=10000)
    actions = row.locator("td.actions")
    expect(actions.locator("button[data-action=monitor]")).to_be_enabled()
    expect(actions.locator("button[data-action=leave]")).to_have_count(0)  # not on it yet
    notice = lead.locator("#supervision-status")

    actions.locator("button[data-action=monitor]").click()
    expect(notice).to_have_text("You are listening to the call")
    expect(row.locator("[data-field=supervisors]")).to_have_text("Lead (listening)")
    expect(actions.locator("button[data-action=monitor]")).to_have_attribute("aria-pressed", "true")
    expect(actions.locator("button[data-action=monitor]")).to_be_disabled()
    expect(actions.locator("button[data-action=leave]")).to_be_enabled()
    amy_row = lead.locator(f'#agents tr[data-agent-id="{team["amy"]}"]')
    expect(amy_row.locator("[data-field=supervisors]")).to_have_text("Lead (listening)")
    expect(amy_row.locator("button[data-status=away]")).to_be_disabled()  # on a call
    banner = amy.locator("#supervisor-banner")
    expect(banner).to_be_hidden()  # a silent monitor is not announced by default

    actions.locator("button[data-action=coach]").click()
    expect(banner).to_have_text("Coached by Lead: only you hear them")
    expect(row.locator("[data-field=supervisors]")).to_have_text("Lead (coaching)")
    expect(actions.locator("button[data-action=coach]")).to_have_attribute("aria-pressed", "true")
    expect(actions.locator("button[data-action=monitor]")).to_be_enabled()
    with services.database.session() as session:
        agent_leg = session.scalar(select(Call.agent_leg_sid).where(Call.call_sid == sid))

    def coaches() -> list[str]:
        members = board.find_conference(sid).participants.values()
        return [p.call_sid for p in members if p.call_sid_to_coach == agent_leg]

    wait_until(lambda: len(coaches()) == 1)
    (leg,) = coaches()
    wait_until(lambda: board.participant(sid, leg).connected, timeout=30)  # lead answered
    expect(amy.locator("#participants li[data-role=supervisor]")).to_contain_text("Lead (coaching)")

    actions.locator("button[data-action=barge]").click()
    expect(banner).to_have_text("Lead joined the call")
    expect(notice).to_have_text("You joined the call")
    expect(row.locator("[data-field=supervisors]")).to_have_text("Lead (in the call)")
    if os.environ.get("CALLCENTER_TEST_SCREENSHOTS"):
        lead.screenshot(path=shot("supervise-wallboard"), full_page=True)
        amy.screenshot(path=shot("supervise-agent"), full_page=True)

    actions.locator("button[data-action=leave]").click()
    expect(notice).to_have_text("You left the call")
    expect(banner).to_be_hidden()
    expect(row.locator("[data-field=supervisors]")).to_have_text("")
    expect(actions.locator("button[data-action=leave]")).to_have_count(0)
    wait_until(lambda: board.get_call(leg).status == "completed")
    assert board.get_call(sid).status == "in-progress"

    # A caller waits (amy is busy, bob logged out): moved to the repairs queue, to the front.
    waiting = start_caller(live_server.app, live_server.url, "+8613900139002", ["1", "0"])
    moved = lead.locator(f'#calls tr[data-call-sid="{waiting.call_sid}"]')
    expect(moved).to_have_attribute("data-state", "waiting", timeout=15000)
    moved.locator("select[data-field=move-to]").select_option("repairs")
    moved.locator("[data-field=front]").check()
    moved.locator("button[data-action=move]").click()
    expect(notice).to_have_text("Moved to Repairs and warranty, at the front")
    expect(moved.locator("td[data-field=queue]")).to_have_text("Repairs and warranty")
    expect(moved.locator("select[data-field=move-to]")).to_have_value("repairs")
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == waiting.call_sid))
        assert call.queue == "repairs" and call.queue_priority >= 1
    # Steer: bob (at his console, his calls are support's) away with a reason, from his row.
    bob_page = available(browser, live_server, "bob", errors)
    bob_row = lead.locator(f'#agents tr[data-agent-id="{team["bob"]}"]')
    expect(bob_row.locator("button[data-status=available]")).to_be_disabled()
    lead.fill("#away-reason", "1:1 with the lead")
    bob_row.locator("button[data-status=away]").click()
    expect(notice).to_have_text("Bob is now away (1:1 with the lead)")
    with services.database.session() as session:
        bob = session.get(Agent, team["bob"])
        assert (bob.status, bob.status_reason) == ("away", "1:1 with the lead")
    expect(bob_row).to_have_attribute("data-status", "away")
    expect(bob_row.locator("[data-field=status]")).to_contain_text("1:1 with the lead")
    expect(bob_row.locator("button[data-status=available]")).to_be_enabled()
    # An offline agent is not at a console: only they can make themselves available.
    own_row = lead.locator(f'#agents tr[data-agent-id="{team["lead"]}"]')
    expect(own_row).to_have_attribute("data-status", "offline")
    expect(own_row.locator("button[data-status=away]")).to_be_disabled()
    expect(own_row.locator("button[data-status=available]")).to_be_disabled()

    expect(bob_page.locator("#status")).to_have_text("away")
    assert errors == []
