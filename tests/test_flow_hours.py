"""A flow with its own business hours sends callers to its closed node outside them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from conftest import ACCOUNT_SID, AUTH_TOKEN, OPEN_TIME, PUBLIC_URL, TwilioWebhooks, call_params
from flask import Flask

from callcenter.simulator.leg.call import place_call
from callcenter.simulator.transports import WsgiTransport

FLOW = """\
flow: main
languages: [en]
start: hello
hours: support
closed: closed_message
nodes:
  hello:
    kind: hangup
    say: Hello, we are open.
  closed_message:
    kind: voicemail
    mailbox: support
    say: We are closed. Please leave a message.
"""


def say_texts(body: bytes) -> list[str]:
    return [element.text or "" for element in ET.fromstring(body).iter("Say")]


def test_flow_hours_choose_the_entry_node(make_app, clock, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "main.yaml").write_text(FLOW, encoding="utf-8")
    app = make_app(flows_dir=str(flows))
    twilio = TwilioWebhooks(app.test_client())

    clock.now = OPEN_TIME
    opened = twilio.post("/twilio/voice", call_params("CA" + "a" * 32))
    assert say_texts(opened.data) == ["Hello, we are open."]
    assert ET.fromstring(opened.data).find("Hangup") is not None

    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    closed = twilio.post("/twilio/voice", call_params("CA" + "b" * 32))
    assert say_texts(closed.data) == ["We are closed. Please leave a message."]
    record = ET.fromstring(closed.data).find("Record")
    assert record is not None
    assert "mailbox=support" in record.get("recordingStatusCallback", "")


# Sunday 22 November 2026, 23:21 in Shanghai: outside the support hours of config.yaml.
SUNDAY_NIGHT = datetime(2026, 11, 22, 15, 21, tzinfo=UTC)
NATIONAL_DAY = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # a holiday in config.yaml
AFTER_HOURS = (
    "Our service hours are nine a.m. to nine p.m. on weekdays and ten a.m. to six p.m. "
    "at weekends, China time."
)
HOLIDAY = "Our service center is closed today for the public holiday."


def call_heard(app: Flask, keys: list[str]) -> list[str]:
    """What an ordinary caller hears pressing `keys` (1: English, 0: an agent)."""
    result = place_call(
        WsgiTransport(app, public_url=PUBLIC_URL),
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_="+8613900139000",
        to="+864008001234",
        inputs=keys,
        hold_seconds=5,
        api_url=PUBLIC_URL + "/simulator",
    )
    return result.heard()


def test_config_hours_close_the_center_on_a_sunday_night(make_app, clock) -> None:
    app = make_app()
    clock.now = SUNDAY_NIGHT
    assert AFTER_HOURS in call_heard(app, ["1", "0"])


def test_open_all_hours_keeps_the_center_open_at_night_and_on_holidays(make_app, clock) -> None:
    app = make_app(open_all_hours=True)
    for now in (SUNDAY_NIGHT, NATIONAL_DAY):
        clock.now = now
        heard = call_heard(app, ["1", "0"])
        assert AFTER_HOURS not in heard
        assert HOLIDAY not in heard
        assert "Please hold while we connect you to an agent." in heard, heard
