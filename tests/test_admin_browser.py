"""The agents page in headless Chromium: an admin adds an agent, who then logs in through
the login form; the config page says where queues, dispositions and hours are changed."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, SCREENSHOTS, LiveServer
from playwright.sync_api import Browser, Page, expect

from callcenter.people.agents import create_agent

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
SHOTS = str(SCREENSHOTS / "admin")
ADMIN_PASSWORD = "admin-password-1"
NAME = "Zhao <b>Lei</b>"


def log_in(page: Page, server: LiveServer, username: str, password: str, next_: str) -> None:
    page.goto(f"{server.url}{next_}")
    expect(page.locator("#login")).to_be_visible()  # redirected to the login form
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login button[type=submit]")


def test_an_admin_adds_an_agent_who_then_logs_in(browser: Browser, live_server: LiveServer) -> None:
    with live_server.app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="boss", display_name="Boss", agent_number="1001",
                     password=ADMIN_PASSWORD, role="admin", skills=["support"])  # fmt: skip
    admin = browser.new_context().new_page()
    errors: list[str] = []
    admin.on("pageerror", lambda error: errors.append(str(error)))
    log_in(admin, live_server, "boss", ADMIN_PASSWORD, "/admin")
    expect(admin).to_have_url(f"{live_server.url}/admin")
    expect(admin.locator("#ad-rows tr[data-username=boss]")).to_contain_text("Boss")

    admin.click("#ad-new")
    admin.fill("#ad-username", "zhao.lei")
    admin.fill("#ad-password", "zhao-password-1")
    admin.fill("#ad-name", NAME)
    admin.fill("#ad-number", "12")
    admin.fill("#ad-phone", "12345")
    admin.check("fieldset[data-field=skills] input[value=repairs]")
    admin.check("fieldset[data-field=languages] input[value=zh-CN]")
    admin.click("#ad-save")
    expect(admin.locator("#ad-field-errors")).to_contain_text("number: 3 to 8 digits")
    expect(admin.locator("#ad-field-errors")).to_contain_text("phone: '12345' is not a valid")
    admin.screenshot(path=f"{SHOTS}-form-errors.png", full_page=True)
    admin.fill("#ad-number", "1040")
    admin.fill("#ad-phone", "+86 139 0013 9001")
    admin.click("#ad-save")
    row = admin.locator("#ad-rows tr[data-username='zhao.lei']")
    expect(row).to_be_visible()
    expect(admin.locator("#ad-done")).to_contain_text("zhao.lei added")
    expect(row.locator("td").nth(0)).to_have_text(NAME)  # as text, not markup
    assert row.locator("b").count() == 0
    expect(row).to_contain_text("1040")
    expect(row).to_contain_text("repairs")
    expect(row).to_contain_text("zh-CN")
    expect(row).to_contain_text("+8613900139001")

    row.locator("button[data-action=edit]").click()
    expect(admin.locator("#ad-name")).to_have_value(NAME)
    expect(admin.locator("#ad-username")).to_be_hidden()
    admin.check("fieldset[data-field=skills] input[value=support]")
    admin.click("#ad-save")
    expect(admin.locator("#ad-done")).to_have_text("zhao.lei: changed skills")
    expect(row).to_contain_text("repairs, support")
    admin.screenshot(path=f"{SHOTS}-agents.png", full_page=True)

    agent = browser.new_context().new_page()
    log_in(agent, live_server, "zhao.lei", "zhao-password-1", "/agent")
    expect(agent).to_have_url(f"{live_server.url}/agent")
    expect(agent.locator(".topbar .who")).to_contain_text(NAME)
    assert agent.goto(f"{live_server.url}/admin").status == 403  # an agent is no admin

    admin.goto(f"{live_server.url}/admin/config")
    expect(admin.locator("#config-note")).to_contain_text("config.yaml")
    expect(admin.locator("#config-queues tr[data-queue=repairs]")).to_contain_text("45")
    expect(admin.locator("#config-dispositions")).to_contain_text("Repair booked")
    expect(admin.locator("#config-hours")).to_contain_text("09:00-21:00")
    admin.screenshot(path=f"{SHOTS}-config.png", full_page=True)
    assert errors == []
