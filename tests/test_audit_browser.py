"""The audit log on the agents page (admins) in headless Chromium: a supervisor's actions
on the wallboard's socket appear newest first, with who, when (the center's time), what,
to whom, old → new and refusals marked; older entries page in with "Load more"; a
supervisor is refused the page and its API."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from conftest import CHROMIUM, LiveServer, shot
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from test_agent_socket import PASSWORD, team  # noqa: F401
from test_supervision import add_staff, supervisor

from callcenter.models import AuditEntry, utcnow
from callcenter.supervision import audit

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def older_entries(live_server: LiveServer, agent_id: int, count: int) -> None:
    """`count` account edits from the command line, days before the supervisor's actions."""
    with live_server.app.extensions["callcenter"].database.session() as session:
        start = utcnow() - timedelta(days=3)
        for n in range(count):
            audit.record(session, None, "agent.edit", start + timedelta(minutes=n),
                         agent_id=agent_id, changes={"skills": [[], [f"skill{n}"]]})  # fmt: skip


def test_an_admin_reads_the_audit_log_on_the_agents_page(
    browser: Browser,
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    add_staff(live_server, "root", "1099", "admin")
    older_entries(live_server, team["bob"], 55)
    lead = supervisor(live_server, "lead")
    try:
        away = {"agent_id": team["amy"], "status": "away", "reason": "coaching"}
        ack = lead.call("supervisor:agent-status", away)
        assert ack["ok"], ack
        refused = lead.call("supervisor:monitor", {"call_sid": "CA" + "8" * 32})
        assert refused["error"] == "no such call"
    finally:
        lead.close()
    services = live_server.app.extensions["callcenter"]
    with services.database.session() as session:
        newest = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        zone = ZoneInfo(services.settings.timezone)
        local = newest.at.astimezone(zone).strftime("%H:%M:%S")

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login?next=/admin")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin")
    rows = page.locator("#audit-rows tr")
    expect(rows).to_have_count(50)  # a page of 50, newest first
    first, second = rows.nth(0), rows.nth(1)
    expect(first).to_have_attribute("data-refused", "yes")
    expect(first.locator("[data-field=when]")).to_contain_text(local)
    expect(first.locator("[data-field=who]")).to_have_text("lead")
    expect(first.locator("[data-field=action]")).to_have_text("listen to a call")
    expect(first.locator("[data-field=result]")).to_have_text("refused: no such call")
    expect(second).to_have_attribute("data-refused", "no")
    expect(second.locator("[data-field=action]")).to_have_text("set an agent's status")
    expect(second.locator("[data-field=target]")).to_have_text("amy")
    expect(second.locator("[data-field=change]")).to_contain_text("status: away")
    expect(second.locator("[data-field=change]")).to_contain_text("reason: coaching")
    expect(second.locator("[data-field=result]")).to_have_text("done")
    edit = rows.nth(2)
    expect(edit.locator("[data-field=who]")).to_have_text("command line")
    expect(edit.locator("[data-field=target]")).to_have_text("bob")
    expect(edit.locator("[data-field=change]")).to_have_text("skills: — → skill54")
    page.click("#audit-more")
    expect(rows).to_have_count(57)
    expect(rows.nth(56).locator("[data-field=change]")).to_have_text("skills: — → skill0")
    expect(page.locator("#audit-more")).to_be_hidden()  # nothing older
    page.screenshot(path=shot("audit"), full_page=True)
    assert errors == []
    page.close()

    # A supervisor: refused the page and its API, as before.
    with requests.Session() as http:
        http.post(f"{live_server.url}/api/login", json={"username": "lead", "password": PASSWORD})
        assert http.get(f"{live_server.url}/admin").status_code == 403
        assert http.get(f"{live_server.url}/api/audit").status_code == 403
        assert http.get(f"{live_server.url}/api/audit?before=5").status_code == 403
