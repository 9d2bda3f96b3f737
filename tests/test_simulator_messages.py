"""Text messages through the switchboard's ``Messages`` API, driven by the real
``twilio.rest.Client``: send, the signed status callbacks, listing and filtering, errors;
and the phone page showing the messages its number received."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import requests
from conftest import LiveServer
from flask import Flask
from playwright.sync_api import Browser, expect
from test_phone_page import SPEECH_STUB, console_error, phone_server  # noqa: F401
from test_simulator_switchboard import ACCOUNT_SID, AUTH_TOKEN, World, wait_for, world  # noqa: F401
from twilio.base.exceptions import TwilioRestException

from callcenter.simulator.messages import message_segments
from callcenter.simulator.switchboard import Switchboard

STATUS_PATH = "/twilio/sms-status"
CUSTOMER = "+8613800138000"
OTHER = "+8613912345678"
HOTLINE = "+18005550100"


def callbacks(sms: World) -> list[dict[str, str]]:
    return [hit.params for hit in sms.fake.hits_for(STATUS_PATH)]


@pytest.fixture
def sms(world: World) -> World:  # noqa: F811
    world.fake.ok(STATUS_PATH)
    return world


def test_a_message_is_queued_then_sent_and_delivered_with_signed_callbacks(sms: World) -> None:
    body = "Your article: https://kb.example.com/a/42 — reply STOP to opt out of these messages."
    assert len(body) > 70  # the dash is not GSM-7: two UCS-2 segments
    message = sms.client.messages.create(
        to=CUSTOMER, from_=HOTLINE, body=body, status_callback=sms.url + STATUS_PATH
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction, message.body) == ("queued", "outbound-api", body)
    assert (message.to, message.from_, message.account_sid) == (CUSTOMER, HOTLINE, ACCOUNT_SID)
    assert (message.num_segments, message.num_media, message.error_code) == ("2", "0", None)
    assert message.date_created is not None and message.date_sent is None
    assert message.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message.sid}.json"

    sent = wait_for("two callbacks", lambda: len(callbacks(sms)) == 2 and callbacks(sms))
    assert sms.board.wait_idle()
    assert sms.fake.all_valid()  # signed like Twilio's
    assert [p["MessageStatus"] for p in sent] == ["sent", "delivered"]
    assert sent[1] == {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
        "To": CUSTOMER,
        "From": HOTLINE,
    }
    fetched = sms.client.messages(message.sid).fetch()
    assert (fetched.status, fetched.body, fetched.num_segments) == ("delivered", body, "2")
    assert fetched.date_sent is not None and fetched.date_sent >= fetched.date_created
    [kept] = sms.board.messages(to=CUSTOMER)
    assert (kept.sid, kept.status, kept.from_) == (message.sid, "delivered", HOTLINE)


def test_messages_are_listed_newest_first_filtered_and_paged(sms: World) -> None:
    client = sms.client
    sids = [
        client.messages.create(to=CUSTOMER, from_=HOTLINE, body="one").sid,
        client.messages.create(to=OTHER, from_=HOTLINE, body="two").sid,
        client.messages.create(to=CUSTOMER, from_="Lumina", body="three").sid,
        client.messages.create(to=CUSTOMER, from_=HOTLINE, body="four").sid,
    ]
    assert sms.board.wait_idle()
    assert [m.sid for m in client.messages.list()] == sids[::-1]
    assert [m.body for m in client.messages.list(to=CUSTOMER)] == ["four", "three", "one"]
    assert [m.body for m in client.messages.list(from_="Lumina")] == ["three"]
    assert [m.body for m in client.messages.list(to=CUSTOMER, from_=HOTLINE)] == ["four", "one"]
    assert [m.body for m in client.messages.list(to=CUSTOMER, page_size=2)] == [
        "four",
        "three",
        "one",
    ]  # two pages, followed through next_page_uri
    first = client.messages.page(to=CUSTOMER, page_size=2)
    assert [m.body for m in first] == ["four", "three"] and first.next_page_url
    sent_on = client.messages(sids[0]).fetch().date_sent
    assert sent_on is not None
    assert len(client.messages.list(date_sent=sent_on.date())) == 4
    assert client.messages.list(date_sent_before=sent_on - timedelta(days=1)) == []
    assert len(client.messages.list(date_sent_after=sent_on - timedelta(days=1))) == 4
    # The Python side, oldest first.
    assert [m.body for m in sms.board.messages(to=CUSTOMER)] == ["one", "three", "four"]
    assert [m.sid for m in sms.board.messages(from_="Lumina")] == [sids[2]]
    assert sms.board.get_message(sids[1]).to == OTHER  # type: ignore[union-attr]

    assert client.messages(sids[1]).delete() is True
    with pytest.raises(TwilioRestException) as raised:
        client.messages(sids[1]).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_a_messaging_service_media_and_a_failing_handset(sms: World) -> None:
    service = "MG" + "a" * 32
    sms.board.delivery_policy = lambda to: "undelivered" if to == OTHER else "delivered"
    picture = sms.client.messages.create(
        to=CUSTOMER,
        messaging_service_sid=service,
        media_url=["https://kb.example.com/img/router.png"],
        status_callback=sms.url + STATUS_PATH,
    )
    assert picture.sid.startswith("MM") and picture.from_ is None
    assert (picture.messaging_service_sid, picture.num_media, picture.body) == (service, "1", "")
    lost = sms.client.messages.create(
        to=OTHER, from_=HOTLINE, body="hello", status_callback=sms.url + STATUS_PATH
    )
    assert sms.board.wait_idle()
    assert sms.fake.all_valid()
    by_sid: dict[str, list[dict[str, str]]] = {}
    for params in callbacks(sms):
        by_sid.setdefault(params["MessageSid"], []).append(params)
    assert [p["MessageStatus"] for p in by_sid[picture.sid]] == ["sent", "delivered"]
    assert by_sid[picture.sid][0]["MessagingServiceSid"] == service
    assert "From" not in by_sid[picture.sid][0]
    assert [p["MessageStatus"] for p in by_sid[lost.sid]] == ["sent", "undelivered"]
    assert by_sid[lost.sid][1]["ErrorCode"] == "30003"
    fetched = sms.client.messages(lost.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("undelivered", 30003)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"From": HOTLINE, "Body": "hi"}, 21604),
        ({"To": "13800138000", "From": HOTLINE, "Body": "hi"}, 21211),
        ({"To": "+86 138 0013 8000", "From": HOTLINE, "Body": "hi"}, 21211),
        ({"To": CUSTOMER, "Body": "hi"}, 21603),
        ({"To": CUSTOMER, "From": "not a number!", "Body": "hi"}, 21606),
        ({"To": CUSTOMER, "MessagingServiceSid": "MG123", "Body": "hi"}, 21701),
        ({"To": CUSTOMER, "From": HOTLINE}, 21602),
        ({"To": CUSTOMER, "From": HOTLINE, "Body": ""}, 21602),
        ({"To": CUSTOMER, "From": HOTLINE, "Body": "x" * 1601}, 21617),
        ({"To": CUSTOMER, "From": HOTLINE, "MediaUrl": "javascript:alert(1)"}, 21620),
        (
            {"To": CUSTOMER, "From": HOTLINE, "Body": "hi", "StatusCallback": "https://x.test/"},
            21609,
        ),
    ],
)
def test_bad_messages_get_twilio_errors(sms: World, params: dict[str, str], code: int) -> None:
    response = requests.post(
        f"{sms.api}/Messages.json", data=params, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert sms.board.messages() == []


def test_the_longest_message_is_accepted(sms: World) -> None:
    message = sms.client.messages.create(to=CUSTOMER, from_=HOTLINE, body="x" * 1600)
    assert message.num_segments == "11"
    with pytest.raises(TwilioRestException) as raised:
        sms.client.messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_segments_count_gsm_septets_or_utf16_units() -> None:
    assert message_segments("") == 1
    assert message_segments("a" * 160) == 1
    assert message_segments("a" * 161) == 2
    assert message_segments("a" * 306) == 2 and message_segments("a" * 307) == 3
    assert message_segments("€" * 80) == 1 and message_segments("€" * 81) == 2  # two septets
    assert message_segments("您" * 70) == 1 and message_segments("您" * 71) == 2
    assert message_segments("a" * 159 + "您") == 3  # one non-GSM character: UCS-2
    assert message_segments("😀" * 35) == 1 and message_segments("😀" * 36) == 2


# -- the phone page --------------------------------------------------------------------------


def board_of(app: Flask) -> Switchboard:
    return app.extensions["callcenter"].extras["simulator_switchboard"]


def test_the_phone_page_lists_the_messages_of_its_number(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    board = board_of(app)
    board.send_message(CUSTOMER, "first", from_=HOTLINE)
    board.send_message(OTHER, "not yours", from_=HOTLINE)
    board.send_message(CUSTOMER, '<b>second</b> "quoted" & co', from_=HOTLINE)
    assert board.wait_idle()
    client = app.test_client()
    response = client.get("/phone/messages", query_string={"number": CUSTOMER})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    data = response.get_json()
    assert data["number"] == CUSTOMER
    assert [m["body"] for m in data["messages"]] == ['<b>second</b> "quoted" & co', "first"]
    assert {m["from"] for m in data["messages"]} == {HOTLINE}
    assert {m["status"] for m in data["messages"]} == {"delivered"}
    for bad in ("", "13800138000", "+86 138", "anonymous", CUSTOMER + "<script>"):
        refused = client.get("/phone/messages", query_string={"number": bad})
        assert refused.status_code == 400, bad
        assert "messages" not in refused.get_json()


def test_the_phone_page_shows_messages_as_text_with_only_web_links(
    browser: Browser,
    phone_server: LiveServer,  # noqa: F811
) -> None:
    board = board_of(phone_server.app)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: console_error(m, errors))
    page.add_init_script(SPEECH_STUB)
    page.goto(f"{phone_server.url}/phone")
    expect(page.locator("#no-messages")).to_be_visible()
    board.send_message(
        CUSTOMER,
        '<img src=x onerror="window.__pwned=1"> Router reset: https://kb.example.com/a/42. '
        "Not links: javascript:alert(1) ftp://files.example.com/x data:text/html,hi",
        from_=HOTLINE,
    )
    board.send_message(OTHER, "for somebody else", from_=HOTLINE)
    messages = page.locator("#messages li")
    expect(messages).to_have_count(1, timeout=10000)
    expect(page.locator("#no-messages")).to_be_hidden()
    item = messages.first
    expect(item).to_contain_text('<img src=x onerror="window.__pwned=1"> Router reset:')
    expect(item).to_contain_text("javascript:alert(1) ftp://files.example.com/x")
    expect(item).to_contain_text(f"from {HOTLINE}")
    assert item.locator("img").count() == 0
    links = item.locator("a")
    expect(links).to_have_count(1)
    assert links.first.get_attribute("href") == "https://kb.example.com/a/42"
    assert links.first.inner_text() == "https://kb.example.com/a/42"
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert page.evaluate("window.__pwned") is None

    page.fill("#from", OTHER)  # another phone: its own messages
    expect(messages.first).to_contain_text("for somebody else", timeout=10000)
    expect(messages).to_have_count(1)
    assert errors == []
    page.close()
