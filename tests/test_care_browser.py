"""The follow-up list, the ticket form of a call and the tickets page, in headless Chromium
against the real server: a VIP who hung up while waiting is at the top of the list, is called
back from it, gets a complaint ticket with its promised deadline, and is marked done."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import CHROMIUM, SCREENSHOTS, LiveServer, chromium, start_caller
from playwright.sync_api import Browser, expect
from sqlalchemy import func, select
from test_agent_socket import team  # noqa: F401
from test_console_kb_inbox_browser import Console

from callcenter.care.models import Followup, Ticket, TicketCall

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
WANG = "+8613800138000"  # 王伟, VIP (demo/customers.csv)
STRANGER = "+8613900139000"
SHOTS = str(SCREENSHOTS / "care")


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_missed_vip_is_called_back_gets_a_ticket_and_is_marked_done(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    stranger = start_caller(live_server.app, live_server.url, STRANGER, ["1", "0"],
                            hold_seconds=30)  # fmt: skip
    assert stranger.result().ended.startswith("hung up in queue support")
    vip = start_caller(live_server.app, live_server.url, WANG, ["1"], hold_seconds=30)
    assert vip.result().ended.startswith("hung up in queue vip")

    amy = Console(browser, live_server, "amy")
    page = amy.page
    items = page.locator("#fu-list li.fu")
    expect(items).to_have_count(2)
    first = items.nth(0)
    expect(first.locator(".fu-caller")).to_have_text("王伟")
    expect(first.locator(".fu-rank")).to_have_text("VIP")
    expect(first).to_contain_text("in VIP desk, hung up")
    expect(items.nth(1).locator(".fu-caller")).to_have_text(STRANGER)
    expect(items.nth(1)).to_contain_text("in After-sales support, hung up")
    expect(page.locator("#fu-count")).to_have_text("2")
    page.screenshot(path=f"{SHOTS}-followups.png", full_page=True)

    # Not available yet: calling back says why, on the item.
    first.locator("button.fu-call").click()
    expect(first.locator(".error")).to_contain_text("go available first")
    page.click("#go-available")
    expect(page.locator("#status")).to_have_text("available")
    first = page.locator("#fu-list li.fu").nth(0)
    first.locator("button.fu-call").click()  # Call now: the agent's phone, then the customer
    expect(page.locator("#offer")).to_be_visible()
    expect(page.locator("#offer-title")).to_have_text("Follow-up call-back")
    expect(page.locator("#pop-kind")).to_contain_text(f"You are calling {WANG}")
    expect(page.locator("#pop-kind")).to_contain_text("in VIP desk, hung up")
    expect(page.locator("#accept")).to_be_hidden()  # placed by the agent: nothing to accept
    expect(page.locator("#fu-message")).to_contain_text("Calling back")
    wang = page.locator("#fu-list li.fu").filter(has_text="王伟")
    expect(wang.locator(".fu-status")).to_have_text("Assigned to me")  # taken by calling
    expect(page.locator("#current")).to_be_visible()
    expect(page.locator("#ticket-call")).to_have_text("For the current call with 王伟.")

    # The ticket form: a venting complaint is promised within 12 hours (config.yaml).
    page.select_option("#ticket-category", "complaint")
    expect(page.locator("#ticket-kind-label")).to_be_visible()
    page.select_option("#ticket-kind", "venting")
    expect(page.locator("#ticket-promise")).to_have_text(
        "Promise to the caller: an answer within 12 hours."
    )
    page.select_option("#ticket-category", "repair")
    expect(page.locator("#ticket-kind-label")).to_be_hidden()
    expect(page.locator("#ticket-promise")).to_contain_text("within 72 hours")
    page.click("#ticket-submit")  # no description: the field's error, nothing opened
    page.select_option("#ticket-category", "complaint")
    page.select_option("#ticket-kind", "venting")
    page.fill("#ticket-description", "Waited twice <b>today</b>; wants a call from a manager")
    page.locator("#ticket-submit").dblclick()
    created = page.locator("#ticket-created")
    expect(created).to_contain_text("Ticket #1 opened. Complaint (Venting (发泄型)): we promise")
    expect(created).to_contain_text("within 12 hours, by ")
    page.screenshot(path=f"{SHOTS}-ticket-form.png", full_page=True)

    page.click("#hangup")
    expect(page.locator("#current-state")).not_to_have_text("connected", timeout=15000)
    item = page.locator("#fu-list li.fu").nth(0)
    item.locator("select.fu-outcome").select_option("reached_ticket")
    item.locator("textarea.fu-notes").fill("Apologised; complaint ticket #1")
    item.locator("button.fu-done").click()
    expect(page.locator("#fu-message")).to_have_text("Follow-up marked done.")
    expect(page.locator("#fu-list li.fu")).to_have_count(1)
    page.select_option("#fu-status", "done")
    done = page.locator("#fu-list li.fu")
    expect(done).to_have_count(1)
    expect(done).to_contain_text("Reached, ticket opened")
    expect(done).to_contain_text("by 1024")

    with services.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1  # one, not two
        ticket = session.scalars(select(Ticket)).one()
        assert (ticket.category, ticket.kind, ticket.owner_id) == ("complaint", "venting",
                                                                   team["amy"])  # fmt: skip
        [linked] = session.scalars(select(TicketCall.call_sid)).all()
        followup = session.scalars(select(Followup).where(Followup.number == WANG)).one()
        assert followup.callback_call_sid == linked and followup.status == "done"

    # The tickets page: mine, its promise, history; a status change with a note.
    page.goto(f"{live_server.url}/tickets")
    row = page.locator("#tk-rows tr[data-ticket-id='1']")
    expect(row).to_contain_text("Complaint (Venting (发泄型))")
    expect(row).to_contain_text("王伟")
    row.locator("a").click()
    expect(page.locator("#tk-detail")).to_be_visible()
    expect(page.locator("#tk-description")).to_have_text(
        "Waited twice <b>today</b>; wants a call from a manager"
    )
    assert page.locator("#tk-description b").count() == 0
    page.select_option("#tk-new-status", "in_progress")
    page.fill("#tk-note", "Manager will call at 3 pm")
    page.click("#tk-save")
    expect(page.locator("#tk-state")).to_have_text("in progress")
    expect(page.locator("#tk-history li")).to_have_count(4)
    expect(page.locator("#tk-history")).to_contain_text("note: Manager will call at 3 pm")
    page.click("[data-scope='overdue']")
    expect(page.locator("#tk-rows")).to_contain_text("No tickets here.")
    page.screenshot(path=f"{SHOTS}-tickets-page.png", full_page=True)

    # bob (support, like amy) sees his team's ticket; rita would not (see test_tickets).
    bob = Console(browser, live_server, "bob")
    bob.page.goto(f"{live_server.url}/tickets")
    bob.page.click("[data-scope='team']")
    expect(bob.page.locator("#tk-rows tr[data-ticket-id='1']")).to_be_visible()
    bob.page.click("[data-scope='mine']")
    expect(bob.page.locator("#tk-rows")).to_contain_text("No tickets here.")
    assert amy.errors == [] and bob.errors == []
    bob.close()
    amy.close()
