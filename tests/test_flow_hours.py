"""A flow with its own business hours sends callers to its closed node outside them."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

from conftest import OPEN_TIME, TwilioWebhooks, call_params

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
