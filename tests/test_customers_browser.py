"""The customers page and the console's screen-pop in headless Chromium against the real
server: an unknown caller is made a customer from the pop (the number filled in) and is
recognized on the next call; the page shows the customer's file, escaped."""

from __future__ import annotations

import pytest
from conftest import CHROMIUM, SCREENSHOTS, LiveServer, start_caller
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from test_agent_socket import team  # noqa: F401
from test_console_kb_inbox_browser import Console

from callcenter.models import Call, Customer

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
STRANGER = "+8613900139000"
NAME = "Zhou <b>Xun</b>"
SHOTS = str(SCREENSHOTS / "customers")


def test_an_unknown_caller_becomes_a_customer_from_the_pop_and_is_recognized_next_time(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(browser, live_server, "amy")
    page = amy.page
    expect(page.locator("#connection")).to_have_text("Connected")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("available")

    caller = start_caller(live_server.app, live_server.url, STRANGER, ["1", "0"],
                          dial_talk_seconds=150)  # fmt: skip
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    expect(page.locator("#pop-name")).to_have_text("Unknown caller")
    link = page.locator("#pop-customer")
    expect(link).to_have_text("Create customer")
    page.screenshot(path=f"{SHOTS}-pop-unknown.png", full_page=True)
    # Accepted first, as an agent would (an offer rings only for the queue's offer timeout):
    # the customer is made from the call card while they talk.
    page.click("#accept")
    expect(page.locator("#current-state")).to_have_text("connected", timeout=15000)
    link = page.locator("#current-customer")  # the call's card keeps the link
    expect(link).to_have_text("Create customer")

    with amy.context.expect_page() as opened:
        link.click()
    form = opened.value
    form_errors: list[str] = []
    form.on("pageerror", lambda error: form_errors.append(str(error)))
    expect(form.locator("#cu-edit")).to_be_visible()
    expect(form.locator("#cu-phones")).to_have_value(STRANGER)
    expect(form.locator("#cu-rows")).to_contain_text("No customer found.")
    form.fill("#cu-name", "")
    form.click("#cu-save")  # the browser's own check: a name is required
    form.fill("#cu-name", NAME)
    form.fill("#cu-phones", "+86 139 0013 9000\n12345")
    form.click("#cu-save")
    expect(form.locator("#cu-field-errors")).to_contain_text("phones: '12345' is not a valid")
    form.fill("#cu-phones", "+86 139 0013 9000")
    form.fill("#cu-notes", "Asked about <script>alert(1)</script> warranty")
    form.dblclick("#cu-save")  # a double click still makes one customer
    expect(form.locator("#cu-detail")).to_be_visible()
    expect(form.locator("#cu-title")).to_contain_text(NAME)  # as text, not markup
    expect(form.locator("#cu-d-phones")).to_have_text(STRANGER)
    expect(form.locator("#cu-d-notes")).to_have_text(
        "Asked about <script>alert(1)</script> warranty"
    )
    expect(form.locator("#cu-history")).to_contain_text("amy · created")
    assert form.locator("#cu-title b").count() == 0
    form.screenshot(path=f"{SHOTS}-customer.png", full_page=True)

    expect(page.locator("#status")).to_have_text("wrap-up", timeout=60000)
    caller.result()
    page.select_option("#disposition", "resolved")
    page.click("#wrapup-submit")
    expect(page.locator("#status")).to_have_text("available")

    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        customers = session.scalars(select(Customer).where(Customer.name == NAME)).all()
        assert len(customers) == 1
        customer_id = customers[0].id

    again = start_caller(live_server.app, live_server.url, "+86 139 0013 9000", ["1", "0"],
                         hold_seconds=30)  # fmt: skip
    expect(page.locator("#offer")).to_be_visible(timeout=15000)
    expect(page.locator("#pop-name")).to_have_text(NAME)
    expect(page.locator("#pop-customer")).to_have_text("Open customer")
    expect(page.locator("#pop-customer")).to_have_attribute("href", f"/customers/{customer_id}")
    page.screenshot(path=f"{SHOTS}-pop-known.png", full_page=True)
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == again.call_sid))
        assert call is not None and call.customer_id == customer_id

    # The customer's file lists the first call, with its disposition.
    form.goto(f"{live_server.url}/customers/{customer_id}")
    expect(form.locator("#cu-calls tr")).to_have_count(2)
    expect(form.locator("#cu-calls")).to_contain_text("Resolved on the call")
    form.fill("#cu-q", "0013 9000")
    form.click("#cu-search button[type=submit]")
    expect(form.locator("#cu-rows tr")).to_have_count(1)
    assert amy.errors == [] and form_errors == []


def test_two_records_of_the_same_person_are_merged_from_the_page(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    from datetime import UTC, datetime

    from callcenter.crm.records import create_customer
    from callcenter.models import Agent

    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        amy = session.scalar(select(Agent).where(Agent.username == "amy"))
        now = datetime.now(UTC)
        keep, _ = create_customer(session, amy, {"name": "Li Lei", "phones": ["+8613900139011"],
                                  "notes": "Prefers mornings"}, ["zh-CN", "en"], now)  # fmt: skip
        other, _ = create_customer(session, amy, {"name": "Lei Li", "phones": ["+8613900139012"],
                                   "account": "LL-7", "notes": "Second line"},
                                   ["zh-CN", "en"], now)  # fmt: skip
        session.flush()
        keep_id, other_id = keep.id, other.id

    console = Console(browser, live_server, "amy")
    page = console.page
    page.goto(f"{live_server.url}/customers/{keep_id}")
    expect(page.locator("#cu-title")).to_contain_text("Li Lei")
    expect(page.locator("#cu-d-phones")).to_have_text("+8613900139011")
    page.click("#cu-merge")  # no number given: said, nothing sent
    expect(page.locator("#cu-detail-error")).to_have_text(
        "Give the number (#) of the other customer."
    )
    page.fill("#cu-merge-id", str(keep_id))  # itself: refused by the server, shown
    page.click("#cu-merge")
    expect(page.locator("#cu-detail-error")).to_contain_text("Merge: ")
    page.fill("#cu-merge-id", str(other_id))
    page.click("#cu-merge")
    expect(page.locator("#cu-d-phones")).to_have_text("+8613900139011, +8613900139012")
    expect(page.locator("#cu-d-account")).to_have_text("LL-7")  # filled from the other
    expect(page.locator("#cu-d-notes")).to_contain_text("Prefers mornings")
    expect(page.locator("#cu-d-notes")).to_contain_text("Second line")
    expect(page.locator("#cu-history")).to_contain_text(
        f"amy · merged: customer #{other_id} → customer #{keep_id}"
    )
    expect(page.locator("#cu-detail-error")).to_have_text("")
    expect(page.locator("#cu-merge-id")).to_have_value("")
    page.screenshot(path=f"{SHOTS}-merged.png", full_page=True)

    # The other record is gone: its number finds the one kept.
    page.fill("#cu-q", "+86 139 0013 9012")
    page.click("#cu-search button[type=submit]")
    expect(page.locator("#cu-rows tr")).to_have_count(1)
    expect(page.locator(f"#cu-rows tr[data-customer-id='{keep_id}']")).to_be_visible()
    page.goto(f"{live_server.url}/customers/{other_id}")
    expect(page.locator("#cu-error")).to_contain_text(f"Customer #{other_id}: ")
    with services.database.session() as session:
        assert session.get(Customer, other_id) is None
    assert console.errors == []
