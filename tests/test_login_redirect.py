"""After logging in, the login page follows `?next=` only to a path of this site: never to
another host, however the address is disguised (checked in headless Chromium)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
import test_agent_socket
from conftest import LiveServer
from flask import Flask
from playwright.sync_api import Browser, Page, Route, expect
from test_agent_socket import PASSWORD

team = test_agent_socket.team  # a fixture: amy, bob (agents) and lead (supervisor)

# As they would appear in a link (already percent-encoded for the query string).
HOSTILE = [
    "%2F%5Cevil.example%2Fx",  # "/\evil.example/x"
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0D/evil.example",
    "//evil.example",
    "%2F%2Fevil.example",
    "https://evil.example",
    "https:evil.example",
    "/\\evil",
    "/%5C%5Cevil.example",
    "/%255C/evil.example",  # encoded twice
    "%20//evil.example",
    "javascript:alert(1)",
]


def next_of(app: Flask, query: str) -> str:
    page = app.test_client().get(f"/login?next={query}").get_data(as_text=True)
    found = re.search(r'data-next="([^"]*)"', page)
    assert found, page
    return html.unescape(found.group(1))


def test_the_login_page_keeps_only_paths_of_this_site(app: Flask) -> None:
    for query in HOSTILE:
        assert next_of(app, query) == "/agent", query
    assert next_of(app, "/supervisor") == "/supervisor"
    assert next_of(app, "%2Fcalls%3Fpage%3D2") == "/calls?page=2"
    assert next_of(app, "") == "/agent"


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    page = browser.new_page()

    def elsewhere(route: Route) -> None:  # nothing leaves this machine, and we see it
        route.fulfill(status=200, content_type="text/html", body="<p>evil</p>")

    page.route(re.compile(r"^https?://(?!127\.0\.0\.1)[^/]*/"), elsewhere)
    yield page
    page.close()


def log_in_via(page: Page, server: LiveServer, query: str, username: str = "amy") -> None:
    page.goto(f"{server.url}/login?next={query}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_a_hostile_next_lands_on_the_console_in_the_browser(
    page: Page, live_server: LiveServer, team: dict[str, int]
) -> None:
    for query in HOSTILE:
        log_in_via(page, live_server, query)
        expect(page).to_have_url(f"{live_server.url}/agent")
        assert "evil" not in page.content(), query


def test_a_path_of_this_site_is_followed_in_the_browser(
    page: Page, live_server: LiveServer, team: dict[str, int]
) -> None:
    log_in_via(page, live_server, "/supervisor", "lead")
    expect(page).to_have_url(f"{live_server.url}/supervisor")
