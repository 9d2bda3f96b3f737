"""The consoles open from the public URL's origin and, for a loopback public URL, from its
loopback aliases; opened elsewhere, the page says which URL to use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import socketio
from conftest import CHROMIUM, LiveServer, serve_app, shot
from flask import Flask
from playwright.sync_api import Browser, expect

from callcenter.people.agents import create_agent
from callcenter.web.origins import console_origins

PASSWORD = "correct horse battery"


def add_agent(app: Flask) -> None:
    with app.extensions["callcenter"].database.session() as session:
        create_agent(
            session, username="amy", display_name="Amy", agent_number="1024",
            password=PASSWORD, role="supervisor", skills=["support"], languages=["en"],
        )  # fmt: skip


def connect(url: str, origin: str) -> socketio.Client:
    """Log in at `url` and open /agent with a browser's Origin header."""
    with requests.Session() as http:
        login = http.post(f"{url}/api/login", json={"username": "amy", "password": PASSWORD})
        assert login.status_code == 200, login.text
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
    client = socketio.Client(reconnection=False)
    client.connect(
        url, namespaces=["/agent"], headers={"Cookie": cookie, "Origin": origin},
        transports=["polling", "websocket"], wait_timeout=5,
    )  # fmt: skip
    return client


def test_origins_of_loopback_and_other_public_urls() -> None:
    assert console_origins("http://127.0.0.1:5000") == [
        "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000",
    ]  # fmt: skip
    assert console_origins("http://localhost:5101") == [
        "http://localhost:5101", "http://127.0.0.1:5101", "http://[::1]:5101",
    ]  # fmt: skip
    assert console_origins("https://cc.example.com") == ["https://cc.example.com"]
    assert console_origins("https://cc.example.com:443/callcenter") == ["https://cc.example.com"]


def test_the_loopback_aliases_of_the_public_url_may_connect(live_server: LiveServer) -> None:
    add_agent(live_server.app)
    port = live_server.url.rsplit(":", 1)[1]
    for origin in (f"http://localhost:{port}", f"http://[::1]:{port}", live_server.url):
        client = connect(live_server.url, origin)
        assert client.connected, origin
        client.disconnect()
    for origin in (
        f"http://localhost:{int(port) + 1}",
        "http://evil.example",
        f"https://localhost:{port}",
    ):
        with pytest.raises(socketio.exceptions.ConnectionError):
            connect(live_server.url, origin)


@contextmanager
def serving(tmp_path: Path, database_url: str, public_url: str) -> Iterator[str]:
    """The app on a port of 127.0.0.1 with another public URL; yields where it listens."""
    with serve_app(tmp_path, database_url, public_url=public_url) as live:
        add_agent(live.app)
        yield live.url


def log_in(page, url: str) -> None:
    page.goto(f"{url}/agent")
    page.fill("input[name=username]", "amy")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{url}/agent")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_console_opened_at_localhost_connects(
    browser: Browser, live_server: LiveServer
) -> None:
    add_agent(live_server.app)
    localhost = live_server.url.replace("127.0.0.1", "localhost")
    page = browser.new_page()
    log_in(page, localhost)
    expect(page.locator("#connection")).to_have_text("Connected")
    page.goto(f"{localhost}/supervisor")
    expect(page.locator("#connection")).to_have_text("Live")
    page.screenshot(path=shot("c-demo-console-localhost"))


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
def test_the_console_opened_elsewhere_says_which_url_to_use(
    browser: Browser, tmp_path: Path, database_url: str
) -> None:
    public = "http://cc.example.test"
    with serving(tmp_path, database_url, public) as url:
        page = browser.new_page()
        log_in(page, url)
        for path in ("/agent", "/supervisor"):
            page.goto(f"{url}{path}")
            expect(page.locator("#connection")).to_have_text(
                f"Cannot connect from {url}: open this console at {public}{path}"
            )
        page.screenshot(path=shot("c-demo-console-elsewhere"))
