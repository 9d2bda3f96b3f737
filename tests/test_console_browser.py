"""The agent console driven in headless Chromium (Debian's package, through Playwright):
log in, go available, see the screen-pop, accept, wrap up."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, LiveServer, start_caller
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from test_agent_socket import PASSWORD, team  # noqa: F401

from callcenter.models import Agent, Call

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def log_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/agent")
    expect(page).to_have_url(f"{server.url}/login?next=/agent")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{server.url}/agent")


def test_agent_takes_a_call_in_the_browser(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "amy")
    expect(page.locator("#connection")).to_have_text("Connected")
    expect(page.locator("#status")).to_have_text("offline")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("available")

    # 王伟 (a VIP who prefers Chinese) calls: VIP menu 2, main menu 2, his order number.
    caller = start_caller(
        live_server.app, live_server.url, "+8613800138000", ["2", "2", "12345678#"],
        dial_talk_seconds=150,  # three real seconds in the conference
    )  # fmt: skip
    sid = caller.call_sid
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    expect(page.locator("#pop-name")).to_have_text("王伟")
    expect(page.locator("#pop-tier")).to_have_text("vip")
    expect(page.locator("#pop-account")).to_have_text("ACME-1001")
    expect(page.locator("#pop-inputs")).to_contain_text("12345678")
    expect(page.locator("#status")).to_have_text("ringing")

    page.click("#accept")
    expect(page.locator("#current")).to_be_visible()
    expect(page.locator("#offer")).to_be_hidden()
    expect(page.locator("#current-name")).to_have_text("王伟")
    # The agent's leg joins the caller's conference; the caller talks, then hangs up.
    expect(page.locator("#current-state")).to_have_text("connected", timeout=15000)
    expect(page.locator("#status")).to_have_text("wrap-up", timeout=15000)
    heard = caller.result().heard()
    assert "1 0 2 4号客服为您服务。" in heard

    page.select_option("#disposition", "repair_booked")
    page.fill("#notes", "Booked a TV repair <script>alert(1)</script>")
    page.click("#wrapup-submit")
    expect(page.locator("#current")).to_be_hidden()
    expect(page.locator("#status")).to_have_text("available")
    assert errors == []

    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        amy = session.scalar(select(Agent).where(Agent.username == "amy"))
        assert (call.agent_id, call.disposition) == (amy.id, "repair_booked")
        assert call.wrapup_notes == "Booked a TV repair <script>alert(1)</script>"
        assert amy.status == "available"


def test_the_pop_of_an_unknown_caller_shows_no_empty_notes_box(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    """A caller with no customer record has no notes: the pop shows no empty yellow box."""
    page = browser.new_page()
    log_in(page, live_server, "amy")
    expect(page.locator("#connection")).to_have_text("Connected")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("available")
    start_caller(live_server.app, live_server.url, "+8613900000009", ["1", "0"])
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    expect(page.locator("#pop-name")).to_have_text("Unknown caller")
    expect(page.locator("#pop-notes")).to_be_hidden()
    expect(page.locator("#pop-account")).to_be_visible()
