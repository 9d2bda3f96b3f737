"""The console's softphone on the real Voice SDK path, in headless Chromium: the app runs with
a real account's settings (a made-up API key and TwiML App), so the agent page loads the SDK
the app serves (`/vendor/twilio.min.js`, npm's @twilio/voice-sdk) and the token endpoint
signs a Twilio token with the twilio library; the softphone builds a `Twilio.Device` with
that token and the console's options, and says plainly that it is not registered when
Twilio cannot be reached. No network: the page's requests and WebSockets to twilio.com are
intercepted and refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, Clock, LiveServer, serve_app, shot
from playwright.sync_api import Browser, Route, WebSocketRoute, expect
from test_console_browser import log_in
from test_softphone import API_KEY, APP_SID, REAL
from twilio.jwt.access_token import AccessToken

from callcenter.people.agents import create_agent

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (scripts/services.sh installs it)"
)
PASSWORD = "correct horse battery"
TWILIO = re.compile(r"^(https?|wss?)://([^/]*\.)?twilio\.com(:\d+)?/")

# Before any script of the page: note each Device the SDK builds (the SDK's own class,
# subclassed only to see its arguments; the SDK assigns Twilio.Device only when unset).
SPY = """
window.__devices = [];
const holder = {};
Object.defineProperty(holder, "Device", {
  configurable: true, enumerable: true,
  get() { return this.real; },
  set(Real) {
    this.real = class extends Real {
      constructor(token, options) {
        super(token, options);
        window.__devices.push({ token, options: JSON.parse(JSON.stringify(options || {})) });
      }
    };
  },
});
window.Twilio = holder;
"""


@pytest.fixture
def real_server(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[LiveServer]:
    """The app on 127.0.0.1 with a real Twilio account's settings (no simulator)."""
    with serve_app(tmp_path, database_url, clock, **REAL) as live:
        yield live


def test_the_softphone_builds_a_twilio_device_and_says_when_twilio_is_unreachable(
    browser: Browser, real_server: LiveServer
) -> None:
    with real_server.app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                     password=PASSWORD, skills=["support"], takes_calls_on="browser")  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(SPY)
    refused: list[str] = []

    def refuse(route: Route) -> None:
        refused.append(route.request.url)
        route.abort("internetdisconnected")

    def refuse_socket(socket: WebSocketRoute) -> None:
        refused.append(socket.url)
        socket.close(code=4000, reason="no network in this test")

    context.route(TWILIO, refuse)
    context.route_web_socket(TWILIO, refuse_socket)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, real_server, "amy")
    expect(page.locator("#connection")).to_have_text("Connected")
    # The page runs the SDK the app serves from npm.
    assert page.locator("script[src$='/vendor/twilio.min.js']").count() == 1
    served = page.request.get(f"{real_server.url}/vendor/twilio.min.js")
    assert served.ok and "Twilio.Device" in served.text()

    page.click("#go-available")
    expect(page.locator("#sp-mode")).to_have_text("Twilio")
    page.wait_for_function("window.__devices.length === 1")
    built: dict[str, Any] = page.evaluate("window.__devices[0]")
    assert built["options"] == {"closeProtection": True, "codecPreferences": ["opus", "pcmu"]}
    # The app's token: a real account's, for amy, signed with the API key's secret.
    claims = AccessToken.from_jwt(built["token"], REAL["twilio_api_secret"]).payload
    assert claims["iss"] == API_KEY and claims["grants"]["identity"] == "amy"
    assert claims["grants"]["voice"]["outgoing"]["application_sid"] == APP_SID
    # Registering goes to Twilio's signalling WebSocket, refused here: the softphone says so.
    state = page.locator("#sp-state")
    expect(state).to_have_text(re.compile(r"^Not registered: Twilio cannot be reached"),
                               timeout=20000)  # fmt: skip
    expect(page.locator("#softphone")).to_have_attribute("data-state", "unreachable")
    expect(page.locator("#sp-answer")).to_be_disabled()
    assert any(url.startswith("wss://") for url in refused), refused
    page.screenshot(path=shot("softphone-unreachable"), full_page=False)
    assert errors == []
    context.close()
