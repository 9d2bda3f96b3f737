"""A console whose softphone cannot register (Twilio unreachable), in headless Chromium on
the real Voice SDK path: the console says its agent is not offered calls, the wallboard says
so on their row, and a waiting call goes to another available agent instead of ringing a
`client:` leg nobody can answer."""

from __future__ import annotations

import re

import pytest
from conftest import CHROMIUM, LiveServer, shot
from playwright.sync_api import Browser, Route, WebSocketRoute, expect
from test_agent_socket import Console, enqueue_caller
from test_console_browser import log_in
from test_queue_boards_browser import wallboard_log_in
from test_softphone_reach import available, offered_to
from test_voice_sdk_browser import PASSWORD, TWILIO, real_server  # noqa: F401

from callcenter.people.agents import create_agent

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)


def test_a_console_whose_softphone_cannot_register_is_not_offered_calls(
    browser: Browser,
    real_server: LiveServer,  # noqa: F811
) -> None:
    services = real_server.app.extensions["callcenter"]
    with services.database.session() as session:
        for name, number, role in [("amy", "1024", "agent"), ("bob", "1025", "agent"),
                                   ("lead", "1030", "supervisor")]:  # fmt: skip
            create_agent(session, username=name, display_name=name.title(), agent_number=number,
                         password=PASSWORD, role=role, skills=["support"],
                         languages=["en", "zh-CN"], takes_calls_on="browser")  # fmt: skip
    services.extras["realtime"].start()
    context = browser.new_context(viewport={"width": 1280, "height": 900})

    def refuse(route: Route) -> None:
        route.abort("internetdisconnected")

    def refuse_socket(socket: WebSocketRoute) -> None:
        socket.close(code=4000, reason="no network in this test")

    context.route(TWILIO, refuse)
    context.route_web_socket(TWILIO, refuse_socket)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, real_server, "amy")
    expect(page.locator("#connection")).to_have_text("Connected")
    note = page.locator("#sp-note")
    expect(note).to_be_hidden()
    page.click("#go-available")  # amy first: the longest idle, she would get the call
    expect(page.locator("#sp-state")).to_have_text(
        re.compile(r"^Not registered: Twilio cannot be reached"), timeout=20000
    )
    expect(note).to_be_visible()
    expect(note).to_have_text("Softphone not ready — you are not offered calls")
    expect(page.locator("#status")).to_have_text("available")

    bob = Console(real_server, "bob")
    try:
        bob.wait_for("agent:state")
        available(bob)
        sid = "CA" + "e5" * 16
        enqueue_caller(real_server, sid)
        services.extras["realtime"].run_once()
        bob.wait_for("call:offer", call_sid=sid)
        assert offered_to(real_server, sid) == ["bob"]
        expect(page.locator("#offer")).to_be_hidden()
        expect(page.locator("#status")).to_have_text("available")
        page.screenshot(path=shot("softphone-not-offered"), full_page=False)

        lead = browser.new_context(viewport={"width": 1400, "height": 900})
        board = lead.new_page()
        board.on("pageerror", lambda error: errors.append(str(error)))
        wallboard_log_in(board, real_server, "lead")
        row = board.locator("#agents tr[data-agent='amy']")
        expect(row.locator(".not-offered")).to_have_text(
            "softphone not ready — not offered calls", timeout=10000
        )
        expect(board.locator("#agents tr[data-agent='bob'] .not-offered")).to_have_count(0)
        # Not counted as available, in the queue's figures or the agents' count.
        support = board.locator("#queues tr[data-queue='support']")
        expect(support.locator("[data-field='available']")).to_have_text("0")
        expect(support.locator("[data-field='softphone-not-ready']")).to_have_text("1")
        expect(board.locator("#agents-count")).to_have_text(
            "1 ringing · 1 softphone not ready · 1 offline"
        )
        row.scroll_into_view_if_needed()
        board.screenshot(path=shot("wallboard-softphone-not-offered"), full_page=False)
        lead.close()
    finally:
        bob.close()
    assert errors == []
    context.close()
