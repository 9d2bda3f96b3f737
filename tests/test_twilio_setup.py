"""`callcenter twilio setup`: the numbers' webhooks and the softphone's TwiML App, set
through the REST API (the simulator's, standing in for Twilio's)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from conftest import LiveServer
from test_cli_call import ROOT, cli_env, invoke, lines

from callcenter.simulator.rest.account import DEMO_VOICE_URL
from callcenter.telephony.bridge import rest_client


def client_of(live_server: LiveServer) -> Any:
    settings = live_server.app.extensions["callcenter"].settings
    return rest_client(
        settings.twilio_account_sid, settings.twilio_auth_token, live_server.url + "/simulator"
    )


def the_number(live_server: LiveServer) -> Any:
    settings = live_server.app.extensions["callcenter"].settings
    (number,) = client_of(live_server).incoming_phone_numbers.list(
        phone_number=settings.main_number
    )
    return number


def test_setup_points_the_numbers_and_the_softphone_app_at_the_public_url(
    live_server: LiveServer, database_url: str
) -> None:
    env = cli_env(live_server, database_url)
    url = live_server.url
    settings = live_server.app.extensions["callcenter"].settings
    numbers = settings.answered_numbers
    assert the_number(live_server).voice_url == DEMO_VOICE_URL

    first = invoke(["twilio", "setup"], env)
    assert first.exit_code == 0, first.output + first.stderr
    out = lines(first.output)
    for number in numbers:
        assert f"{number} voice_url: {DEMO_VOICE_URL} -> {url}/twilio/voice" in out
        assert f"{number} status_callback: (none) -> {url}/twilio/status" in out
        assert f"{number} voice_method: POST (unchanged)" in out
    assert f"TwiML App voice_url: (none) -> {url}/twilio/client/outgoing" in out
    client = client_of(live_server)
    for number in numbers:
        (item,) = client.incoming_phone_numbers.list(phone_number=number)
        assert (item.voice_url, item.voice_method) == (f"{url}/twilio/voice", "POST")
        assert (item.status_callback, item.status_callback_method) == (
            f"{url}/twilio/status",
            "POST",
        )
    (app,) = client.applications.list(friendly_name="callcenter softphone")
    assert (app.voice_url, app.voice_method) == (f"{url}/twilio/client/outgoing", "POST")
    assert f"Created the TwiML App {app.sid}: set TWILIO_TWIML_APP_SID={app.sid}" in out

    # Run again: the app is found by name, nothing needs changing.
    second = invoke(["twilio", "setup"], env)
    assert second.exit_code == 0, second.output + second.stderr
    *fields, hint = lines(second.output)
    assert len(fields) == 4 * len(numbers) + 2
    assert all(line.endswith("(unchanged)") for line in fields), second.output
    assert hint == f"The softphone's TwiML App is {app.sid}: set TWILIO_TWIML_APP_SID={app.sid}"
    assert f"set TWILIO_TWIML_APP_SID={app.sid}" in second.output
    assert len(client.applications.list()) == 1

    # The app named by TWILIO_TWIML_APP_SID is the one updated, for a new public URL.
    client.applications(app.sid).update(voice_url="https://old.example.com/x")
    third = invoke(["twilio", "setup"], {**env, "TWILIO_TWIML_APP_SID": app.sid})
    assert third.exit_code == 0, third.output + third.stderr
    assert (
        f"TwiML App voice_url: https://old.example.com/x -> {url}/twilio/client/outgoing"
        in lines(third.output)
    )
    assert "TWILIO_TWIML_APP_SID" not in third.output
    assert client.applications(app.sid).fetch().voice_url == f"{url}/twilio/client/outgoing"
    assert len(client.applications.list()) == 1


def test_dry_run_changes_nothing(live_server: LiveServer, database_url: str) -> None:
    env = cli_env(live_server, database_url)
    number = live_server.app.extensions["callcenter"].settings.main_number
    result = invoke(["twilio", "setup", "--dry-run"], env)
    assert result.exit_code == 0, result.output + result.stderr
    out = lines(result.output)
    assert f"{number} voice_url: {DEMO_VOICE_URL} -> {live_server.url}/twilio/voice" in out
    assert "TwiML App friendly_name: (none) -> callcenter softphone" in out
    assert out[-1] == "Dry run: nothing was changed."
    assert the_number(live_server).voice_url == DEMO_VOICE_URL
    assert client_of(live_server).applications.list() == []


def test_a_number_not_on_the_account_is_one_line_and_changes_nothing(
    live_server: LiveServer, database_url: str, tmp_path: Any
) -> None:
    raw = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    raw["numbers"] = {"+15550009999": "main", **raw["numbers"]}
    config = tmp_path / "other.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    env = {**cli_env(live_server, database_url), "CALLCENTER_CONFIG": str(config)}
    result = invoke(["twilio", "setup"], env)
    assert result.exit_code == 2
    assert result.output == ""
    assert result.stderr == (
        "Error: the number +15550009999 is not a phone number of the account; nothing was changed\n"
    )
    assert the_number(live_server).voice_url == DEMO_VOICE_URL
    assert client_of(live_server).applications.list() == []


def test_a_real_account_refuses_a_public_url_twilio_cannot_reach(
    tmp_path: Any, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_request(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no request may be sent")

    monkeypatch.setattr("twilio.http.http_client.TwilioHttpClient.request", no_request)
    env = {
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
        "CALLCENTER_TWILIO_API_URL": "https://api.twilio.com",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
    }
    for public_url in ("http://cc.example.com", "https://127.0.0.1:5000", "https://localhost"):
        result = invoke(["twilio", "setup"], {**env, "CALLCENTER_PUBLIC_URL": public_url})
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"Error: CALLCENTER_PUBLIC_URL {public_url} cannot be reached by Twilio: it must be "
            "an https:// URL on a public host; nothing was changed\n"
        )


def test_an_app_sid_not_on_the_account_is_one_line_and_changes_nothing(
    live_server: LiveServer, database_url: str
) -> None:
    missing = "AP" + "0" * 32
    env = {**cli_env(live_server, database_url), "TWILIO_TWIML_APP_SID": missing}
    result = invoke(["twilio", "setup"], env)
    assert result.exit_code == 2
    assert result.output == ""
    assert result.stderr == (
        f"Error: TWILIO_TWIML_APP_SID {missing} is not a TwiML App of the account; "
        "nothing was changed\n"
    )
    assert the_number(live_server).voice_url == DEMO_VOICE_URL
    assert client_of(live_server).applications.list() == []
