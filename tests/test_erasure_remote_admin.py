"""The deletions of Twilio's copies of erased people's recordings that gave up (or are
still retried after failing), on the admin page and its API: listed for admins only, counted
in full beyond the list's 100, and sent again (audited) when one asks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import CHROMIUM, LiveServer, shot
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from test_admin import as_user, audit_of, call, web  # noqa: F401
from test_admin_browser import ADMIN_PASSWORD, log_in

from callcenter.media.models import RemoteRecordingDeletion
from callcenter.models import utcnow
from callcenter.people.agents import create_agent

FAILED_SID = "RE" + "f" * 32


def deletions(web: Flask) -> None:  # noqa: F811
    now = utcnow()
    with web.extensions["callcenter"].database.session() as session:
        for sid, status, attempts in (
            (FAILED_SID, "failed", 8), ("RE" + "a" * 32, "pending", 2), ("RE" + "d" * 32, "done", 1)
        ):  # fmt: skip
            session.add(RemoteRecordingDeletion(
                recording_sid=sid, call_sid="CA" + "1" * 32, status=status, attempts=attempts,
                next_attempt_at=now, requested_at=now - timedelta(hours=3),
                last_error="Twilio answered HTTP 503 (20500)" if status != "done" else None,
            ))  # fmt: skip


def test_failed_remote_deletions_are_shown_to_admins_and_retried_on_request(
    web: Flask,  # noqa: F811
) -> None:
    deletions(web)
    for method, path in (("GET", "/api/admin/erasures"), ("POST", "/api/admin/erasures/retry")):
        assert call(as_user(web, None), method, path).status_code == 401
        for username in ("alice", "sam"):
            assert call(as_user(web, username), method, path).status_code == 403, username
    root = as_user(web, "root")
    listed = root.get("/api/admin/erasures")
    assert listed.status_code == 200
    body = listed.get_json()
    assert (body["pending"], body["failed_count"], body["failing_count"]) == (1, 1, 1)
    [failed] = body["failed"]
    assert (failed["recording_sid"], failed["attempts"]) == (FAILED_SID, 8)
    assert failed["last_error"] == "Twilio answered HTTP 503 (20500)"
    assert failed["next_attempt_at"] is None
    [failing] = body["failing"]
    assert (failing["recording_sid"], failing["attempts"]) == ("RE" + "a" * 32, 2)
    assert failing["last_error"] == "Twilio answered HTTP 503 (20500)"
    assert failing["next_attempt_at"]

    retried = call(root, "POST", "/api/admin/erasures/retry", {})
    assert retried.status_code == 200
    assert retried.get_json() == {"ok": True, "retried": 1}
    with web.extensions["callcenter"].database.session() as session:
        row = session.scalar(
            select(RemoteRecordingDeletion).where(
                RemoteRecordingDeletion.recording_sid == FAILED_SID
            )
        )
        assert (row.status, row.attempts) == ("pending", 0)
    [entry] = audit_of(web, "erasure.retry")
    assert (entry.actor, entry.details["retried"]) == ("root", 1)
    after = root.get("/api/admin/erasures").get_json()
    assert (after["failed"], after["failed_count"], after["pending"]) == ([], 0, 2)
    assert [item["recording_sid"] for item in after["failing"]] == ["RE" + "a" * 32]


def many_failed(web: Flask, count: int) -> None:  # noqa: F811
    now = utcnow()
    with web.extensions["callcenter"].database.session() as session:
        for number in range(count):
            session.add(RemoteRecordingDeletion(
                recording_sid=f"RE{number:032d}", call_sid="CA" + "2" * 32, status="failed",
                attempts=80, next_attempt_at=now, requested_at=now - timedelta(hours=1),
                last_error="Twilio answered HTTP 401 (20003)",
            ))  # fmt: skip


def test_all_of_them_are_counted_though_100_are_listed(web: Flask) -> None:  # noqa: F811
    deletions(web)
    many_failed(web, 120)
    body = as_user(web, "root").get("/api/admin/erasures").get_json()
    assert (len(body["failed"]), body["failed_count"]) == (100, 121)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_admin_page_lists_them_and_sends_them_again(
    browser: Browser, live_server: LiveServer
) -> None:
    deletions(live_server.app)
    many_failed(live_server.app, 120)
    with live_server.app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="boss", display_name="Boss", agent_number="1001",
                     password=ADMIN_PASSWORD, role="admin", skills=["support"])  # fmt: skip
    page = browser.new_context(viewport={"width": 1280, "height": 1400}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server, "boss", ADMIN_PASSWORD, "/admin")
    expect(page.locator("#er-summary")).to_have_text(
        "121 given up · 1 failing, still being tried · 1 being tried"
    )
    row = page.locator(f"#er-rows tr[data-recording='{FAILED_SID}']")
    expect(row).to_contain_text("Twilio answered HTTP 503 (20500)")
    expect(row).to_contain_text("given up")
    failing = page.locator(f"#er-rows tr[data-recording='RE{'a' * 32}']")
    expect(failing).to_contain_text("next try")
    expect(page.locator("#er-rows tr")).to_have_count(101)
    page.locator("#erasures").scroll_into_view_if_needed()
    page.screenshot(path=shot("admin-erasures"))
    page.click("#er-retry")
    expect(page.locator("#ad-done")).to_have_text("121 deletion(s) will be tried again")
    expect(page.locator("#er-summary")).to_have_text(
        "0 given up · 1 failing, still being tried · 122 being tried"
    )
    expect(page.locator("#er-retry")).to_be_hidden()
    assert errors == []
