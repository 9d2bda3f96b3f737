"""Click-to-call in headless Chromium against the real server and its simulator: Call on a
customer's record places the call, the console pops the customer's record as an outbound
call, and the call ends in the usual wrap-up; the dial pad says why a number is refused."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import CHROMIUM, SCREENSHOTS, LiveServer, chromium
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from test_agent_socket import team  # noqa: F401
from test_console_kb_inbox_browser import Console

from callcenter.models import Call, CustomerPhone

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
WANG = "+8613800138000"  # 王伟 (demo/customers.csv)
SHOTS = str(SCREENSHOTS / "outbound")


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_call_on_a_customer_record_pops_it_on_the_console_and_ends_in_wrap_up(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        wang = session.scalar(select(CustomerPhone.customer_id).where(CustomerPhone.number == WANG))
    amy = Console(browser, live_server, "amy")
    console = amy.page
    expect(console.locator("#status")).to_have_text("offline")

    # The dial pad refuses what config.yaml does not allow, in words.
    console.fill("#dial-number", "+447911123456")
    console.click("#dial-submit")
    expect(console.locator("#dial-error")).to_contain_text("go available first")
    console.click("#go-available")
    expect(console.locator("#status")).to_have_text("available")
    console.click("#dial-submit")
    expect(console.locator("#dial-error")).to_have_text("calls to +44 numbers are not allowed")

    record = amy.context.new_page()
    record.goto(f"{live_server.url}/customers/{wang}")
    expect(record.locator("#cu-title")).to_contain_text("王伟")
    record.click("#cu-call")
    expect(record.locator("#cu-call-status")).to_contain_text("Calling 王伟")
    record.screenshot(path=f"{SHOTS}-customer.png", full_page=True)

    # The console pops the customer's record: an outbound call, nothing to accept.
    expect(console.locator("#offer")).to_be_visible()
    expect(console.locator("#offer-title")).to_have_text("Outbound call")
    expect(console.locator("#pop-name")).to_have_text("王伟")
    expect(console.locator("#accept")).to_be_hidden()
    expect(console.locator("#current")).to_be_visible()
    expect(console.locator("#current-state")).to_have_text("connected", timeout=20000)
    console.screenshot(path=f"{SHOTS}-console.png", full_page=True)

    console.click("#hangup")
    expect(console.locator("#current-state")).to_have_text("wrap-up", timeout=20000)
    expect(console.locator("#offer")).to_be_hidden()
    console.select_option("#disposition", "resolved")
    console.click("#wrapup-submit")
    expect(console.locator("#current")).to_be_hidden(timeout=10000)
    with services.database.session() as session:
        call = session.scalar(select(Call))
        assert (call.direction, call.customer_id, call.disposition) == (
            "outbound",
            wang,
            "resolved",
        )
    recent = console.locator("#recent-calls tr").first
    console.reload()
    expect(recent).to_contain_text("Outbound", timeout=10000)
    expect(recent).to_contain_text("王伟")
    console.screenshot(path=f"{SHOTS}-recent.png", full_page=True)
    assert amy.errors == []
