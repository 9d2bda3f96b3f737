"""What every page needs: an icon (no 404 for /favicon.ico), and inputs that show their hints."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from conftest import LiveServer, shot, sync_knowledge_base
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import expect

from callcenter.calls.records import open_call
from callcenter.people.agents import create_agent

PASSWORD = "correct horse battery"


def test_the_favicon_is_served(client: FlaskClient) -> None:
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200
        assert icon.mimetype == "image/svg+xml"
        assert icon.get_data(as_text=True).lstrip().startswith("<svg")
    with client.get("/static/favicon.svg") as linked:
        assert linked.status_code == 200


def test_pages_link_the_icon(app: Flask, client: FlaskClient) -> None:
    sync_knowledge_base(app)
    for path in ("/login", "/help/warranty-coverage"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.get_data(
            as_text=True
        ), path


def test_the_knowledge_search_shows_its_whole_hint(browser: Any, live_server: LiveServer) -> None:
    with live_server.app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                     password=PASSWORD, skills=["support"], languages=["en"])  # fmt: skip
    for width in (1280, 800, 390):
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.goto(f"{live_server.url}/login?next=/agent")
        page.fill("input[name=username]", "amy")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#kb-q")).to_be_visible()
        needed, room = page.evaluate(
            """() => {
                const input = document.querySelector("#kb-q");
                const style = getComputedStyle(input);
                const context = document.createElement("canvas").getContext("2d");
                context.font = style.font;
                const room = input.clientWidth - parseFloat(style.paddingLeft)
                    - parseFloat(style.paddingRight);
                return [context.measureText(input.placeholder).width, room];
            }"""
        )
        context.close()
        assert needed <= room, f"at {width}px the hint needs {needed:.0f}px, has {room:.0f}px"


def test_times_are_shown_in_the_centers_time_zone_whatever_the_browsers(
    browser: Any, live_server: LiveServer
) -> None:
    started = datetime(2026, 3, 2, 23, 30, 5, tzinfo=UTC)  # 07:30:05 the next day in Shanghai
    with live_server.app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="lead", display_name="Lead", agent_number="1900",
                     password=PASSWORD, role="supervisor")  # fmt: skip
        call = open_call(session, call_sid="CA" + "7" * 32, from_raw="+8613900139000",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.started_at = started
    zone = live_server.app.extensions["callcenter"].settings.timezone
    assert zone == "Asia/Shanghai"
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    page.goto(f"{live_server.url}/login?next=/calls/CA{'7' * 32}")
    page.fill("input[name=username]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#call-started")).to_have_text("2026-03-03 07:30:05")
    expect(page.locator("header.topbar")).to_contain_text("Times in Asia/Shanghai")
    page.screenshot(path=shot("pages-call-in-center-zone"))
    context.close()


def test_every_page_links_the_pages_its_reader_may_open(app: Flask, client: FlaskClient) -> None:
    with app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                     password=PASSWORD, skills=["support"])  # fmt: skip
        create_agent(session, username="lead", display_name="Lead", agent_number="1900",
                     password=PASSWORD, role="supervisor")  # fmt: skip
        create_agent(session, username="root", display_name="Root", agent_number="1990",
                     password=PASSWORD, role="admin")  # fmt: skip
    everyone = ["/agent", "/customers", "/tickets"]
    supervisors = ["/supervisor", "/reports", "/reports/ivr"]
    for username, allowed in (
        ("amy", everyone),
        ("lead", everyone + supervisors),
        ("root", [*everyone, *supervisors, "/admin"]),
    ):
        client.post("/api/logout")
        login = client.post("/api/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200
        for path in allowed:
            page = client.get(path)
            assert page.status_code == 200, (username, path)
            html = page.get_data(as_text=True)
            nav = html[html.index('<nav class="pages"') : html.index("</nav>")]
            links = re.findall(r'<a href="([^"]+)"', nav)
            assert links == allowed, (username, path)
            assert f'<a href="{path}" aria-current="page">' in nav
