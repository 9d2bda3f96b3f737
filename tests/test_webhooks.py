"""The Twilio voice webhooks over HTTP: signatures, validation, idempotent retries, never a 500,
caller kinds, queues, recordings and transfers. Every TwiML answer is parsed as XML."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import ACCOUNT_SID, AUTH_TOKEN, OPEN_TIME, PUBLIC_URL, TwilioWebhooks, call_params
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker
from twilio.request_validator import RequestValidator

import callcenter.web.twilio_hooks as twilio_hooks
from callcenter.models import (
    Call,
    CallEvent,
    Customer,
    CustomerPhone,
    RecordingDownload,
    Voicemail,
    WebhookResponse,
)

SID = "CA" + "0123456789abcdef" * 2
OTHER_SID = "CA" + "fedcba9876543210" * 2
REC_SID = "RE" + "a1b2c3d4" * 4
RECORDING_URL = f"{PUBLIC_URL}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{REC_SID}"
LANGUAGE_MENU = {"flow": "main", "node": "choose_language", "attempt": "1", "seq": "1"}
MAIN_MENU = {"flow": "main", "node": "main_menu", "attempt": "1", "seq": "2"}
ALL_TABLES = (Call, CallEvent, WebhookResponse, Voicemail, RecordingDownload)
EN_SAY = {"voice": "Polly.Joanna", "language": "en-US"}
ZH_SAY = {"voice": "Polly.Zhiyu", "language": "cmn-CN"}


# --------------------------------------------------------------------------- helpers


def twiml(response: Any) -> ET.Element:
    """The parsed <Response> of a 200 TwiML answer."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """(scheme://host/path, {query parameter: its only value})."""
    parts = urlsplit(url)
    query = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), url
    return f"{parts.scheme}://{parts.netloc}{parts.path}", {k: v[0] for k, v in query.items()}


def assert_say(element: ET.Element, text: str, voice: dict[str, str]) -> None:
    assert element.tag == "Say"
    assert element.text == text
    assert element.attrib == voice


def services(app: Flask) -> Any:
    return app.extensions["callcenter"]


def rows(app: Flask, model: Any, **where: Any) -> list[Any]:
    with services(app).database.sessions() as session:
        return list(session.scalars(select(model).filter_by(**where).order_by(model.id)))


def count(app: Flask, model: Any, **where: Any) -> int:
    with services(app).database.sessions() as session:
        stmt = select(func.count()).select_from(model).filter_by(**where)
        return int(session.scalar(stmt) or 0)


def the_call(app: Flask, call_sid: str = SID) -> Call:
    found = rows(app, Call, call_sid=call_sid)
    assert len(found) == 1
    return found[0]


def event_kinds(app: Flask, call_sid: str = SID) -> list[str]:
    return [event.kind for event in rows(app, CallEvent, call_sid=call_sid)]


def table_counts(app: Flask) -> dict[str, int]:
    return {model.__tablename__: count(app, model) for model in ALL_TABLES}


def assert_database_empty(app: Flask) -> None:
    assert table_counts(app) == {model.__tablename__: 0 for model in ALL_TABLES}


def add_customer(app: Flask, number: str, *, language: str = "en", tier: str = "normal") -> int:
    with services(app).database.session() as session:
        customer = Customer(name="Ada Lovelace", tier=tier, language=language)
        customer.phones.append(CustomerPhone(number=number))
        session.add(customer)
        session.flush()
        return customer.id


def flow_text(app: Flask, node: str, language: str, field: str = "say") -> str:
    """A node's text in the flow file (copy may change; the tests follow it)."""
    text = getattr(services(app).flows.flows.get("main").nodes[node], field)
    value = text if isinstance(text, str) else text[language]
    assert value
    return value


def message(app: Flask, name: str, language: str, **fields: object) -> str:
    """A configured message (settings.messages) with its {placeholders} filled in."""
    text = getattr(services(app).settings.messages, name)[language]
    for key, value in fields.items():
        assert "{" + key + "}" in text
        text = text.replace("{" + key + "}", str(value))
    return text


def hold_message(app: Flask, queue: str, language: str) -> str:
    return services(app).settings.queues[queue].hold_message[language]


def apology_text(app: Flask, language: str) -> str:
    text = services(app).settings.fallback.apology[language]
    assert text  # the configuration has an apology in every language
    return text


def assert_apology(app: Flask, response: Any, language: str, voice: dict[str, str]) -> None:
    """An apology in the call's language, then a recording into the fallback mailbox."""
    root = twiml(response)
    assert verbs(root) == ["Say", "Record"]
    assert_say(root[0], apology_text(app, language), voice)
    record = root[1]
    callback, query = split_url(record.get("recordingStatusCallback", ""))
    assert callback == PUBLIC_URL + "/twilio/recording"
    assert query == {"mailbox": "general"}
    assert record.get("recordingStatusCallbackMethod") == "POST"
    action, action_query = split_url(record.get("action", ""))
    assert action == PUBLIC_URL + "/twilio/voicemail/done"
    assert action_query["mailbox"] == "general"
    assert action_query["lang"] == language
    assert record.get("maxLength") == "180"


def start_call(twilio: TwilioWebhooks, call_sid: str = SID, **params: str) -> ET.Element:
    return twiml(twilio.post("/twilio/voice", call_params(call_sid, **params)))


def to_main_menu(twilio: TwilioWebhooks, call_sid: str = SID, digit: str = "1") -> ET.Element:
    """Unknown caller inside hours: the language menu, then the main menu."""
    start_call(twilio, call_sid)
    query = {**LANGUAGE_MENU}
    root = twiml(twilio.post("/twilio/gather", call_params(call_sid, Digits=digit), query=query))
    assert verbs(root) == ["Say", "Gather"]
    _, gather_query = split_url(root[1].get("action", ""))
    assert gather_query == MAIN_MENU
    return root


def to_queue(twilio: TwilioWebhooks, call_sid: str = SID) -> ET.Element:
    to_main_menu(twilio, call_sid)
    root = twiml(twilio.post("/twilio/gather", call_params(call_sid, Digits="0"), query=MAIN_MENU))
    assert verbs(root) == ["Say", "Enqueue"]
    return root


def signed_post(
    client: FlaskClient,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    signed_params: dict[str, str] | None = None,
    token: str = AUTH_TOKEN,
    **kw: Any,
) -> Any:
    """Post `params` to `path` with a signature over `signed_url` and `signed_params`."""
    url = PUBLIC_URL + path if signed_url is None else signed_url
    signature = RequestValidator(token).compute_signature(
        url, params if signed_params is None else signed_params
    )
    headers = {"X-Twilio-Signature": signature, **kw.pop("headers", {})}
    return client.post(path, data=params, headers=headers, **kw)


def assert_forbidden(response: Any) -> None:
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    assert 'File "' not in body
    assert "twilio_hooks" not in body


@pytest.fixture
def at_open(clock: Any) -> Any:
    clock.now = OPEN_TIME
    return clock


# --------------------------------------------------------------------------- signatures

# (path with query, form parameters, status a correctly signed request gets)
SIGNED_ROUTES = [
    pytest.param("/twilio/voice", {}, 200, id="voice"),
    pytest.param("/twilio/gather?" + urlencode(LANGUAGE_MENU), {"Digits": "1"}, 200, id="gather"),
    pytest.param(
        "/twilio/dial/done?flow=main&node=recycling&seq=3",
        {"DialCallStatus": "completed"},
        200,
        id="dial-done",
    ),
    pytest.param(
        "/twilio/queue/wait?queue=support&lang=en",
        {"QueuePosition": "2", "QueueTime": "5"},
        200,
        id="queue-wait",
    ),
    pytest.param(
        "/twilio/status", {"CallStatus": "completed", "CallDuration": "3"}, 204, id="status"
    ),
    pytest.param(
        "/twilio/recording?mailbox=support",
        {"RecordingStatus": "absent", "RecordingSid": REC_SID},
        204,
        id="recording",
    ),
]


@pytest.mark.parametrize(("path", "extra", "ok_status"), SIGNED_ROUTES)
def test_signature_is_required_on_every_route(
    app: Flask, client: FlaskClient, path: str, extra: dict[str, str], ok_status: int
) -> None:
    params = call_params(SID, **extra)
    bare_path = path.split("?")[0]
    query = path.partition("?")[2]

    # No header at all, and an empty one.
    assert_forbidden(client.post(path, data=params))
    assert_forbidden(client.post(path, data=params, headers={"X-Twilio-Signature": ""}))
    # A signature that is not one.
    assert_forbidden(
        client.post(path, data=params, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    )
    # Signed for another URL: another host, another path, http instead of https.
    for url in (
        "https://evil.example.test" + path,
        PUBLIC_URL + "/twilio/other" + ("?" + query if query else ""),
        PUBLIC_URL.replace("https://", "http://") + path,
        "http://localhost" + path,
    ):
        assert_forbidden(signed_post(client, path, params, signed_url=url))
    # Signed, then a parameter changed or one added.
    changed = {**params, "From": "+8613800000001"}
    assert_forbidden(signed_post(client, path, changed, signed_params=params))
    added = {**params, "Digits": "9", "X-Extra": "1"}
    assert_forbidden(signed_post(client, path, added, signed_params=params))
    removed = {key: value for key, value in params.items() if key != "Caller"}
    assert_forbidden(signed_post(client, path, removed, signed_params=params))
    # Signed with another auth token.
    assert_forbidden(signed_post(client, path, params, token="another-token-0123456789abcdef"))
    # None of that reached the application.
    assert_database_empty(app)
    # Correctly signed: accepted.
    response = signed_post(client, path, params)
    assert response.status_code == ok_status, (bare_path, response.get_data(as_text=True))


def test_signature_covers_the_query_string(app: Flask, client: FlaskClient) -> None:
    start = signed_post(client, "/twilio/voice", call_params(SID))
    assert start.status_code == 200
    before = table_counts(app)
    params = call_params(SID, Digits="1")
    signed = PUBLIC_URL + "/twilio/gather?" + urlencode(LANGUAGE_MENU)
    tampered = {**LANGUAGE_MENU, "node": "main_menu"}
    for path in (
        "/twilio/gather?" + urlencode(tampered),  # ?node= changed
        "/twilio/gather?" + urlencode({**LANGUAGE_MENU, "attempt": "2"}),  # attempt changed
        "/twilio/gather?" + urlencode({**LANGUAGE_MENU, "extra": "1"}),  # parameter added
        "/twilio/gather?" + urlencode({"flow": "main", "node": "choose_language"}),  # removed
        "/twilio/gather",  # query dropped
    ):
        assert_forbidden(signed_post(client, path, params, signed_url=signed))
    assert table_counts(app) == before
    ok = signed_post(
        client, "/twilio/gather?" + urlencode(LANGUAGE_MENU), params, signed_url=signed
    )
    assert ok.status_code == 200
    assert the_call(app).language == "en"


def test_behind_a_tls_proxy_the_public_https_url_is_what_is_signed(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    """The app is reached as http://localhost; Twilio signed https://cc.example.test/..."""
    params = call_params(SID)
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        "https://cc.example.test/twilio/voice", params
    )
    headers = {"X-Twilio-Signature": signature}

    # An app configured for another public URL rejects exactly the same request.
    other = make_app(public_url="https://other.example")
    rejected = other.test_client().post(
        "/twilio/voice", data=params, headers=headers, base_url="http://localhost"
    )
    assert_forbidden(rejected)
    assert_database_empty(app)

    # The local URL the proxy forwards to is not what Twilio signs.
    local = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost/twilio/voice", params)
    assert_forbidden(
        app.test_client().post(
            "/twilio/voice",
            data=params,
            headers={"X-Twilio-Signature": local},
            base_url="http://localhost",
        )
    )
    # Nor do forwarded headers make another host's signature acceptable.
    evil = RequestValidator(AUTH_TOKEN).compute_signature(
        "https://evil.example/twilio/voice", params
    )
    assert_forbidden(
        app.test_client().post(
            "/twilio/voice",
            data=params,
            headers={
                "X-Twilio-Signature": evil,
                "X-Forwarded-Host": "evil.example",
                "X-Forwarded-Proto": "https",
            },
            base_url="http://localhost",
        )
    )
    assert_database_empty(app)

    accepted = app.test_client().post(
        "/twilio/voice", data=params, headers=headers, base_url="http://localhost"
    )
    root = twiml(accepted)
    assert verbs(root) == ["Gather"]
    assert the_call(app).call_sid == SID


def test_get_is_not_allowed(app: Flask, client: FlaskClient) -> None:
    url = PUBLIC_URL + "/twilio/voice?" + urlencode({"CallSid": SID})
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, {})
    for headers in ({}, {"X-Twilio-Signature": signature}):
        response = client.get("/twilio/voice?" + urlencode({"CallSid": SID}), headers=headers)
        assert response.status_code == 405
        assert "Traceback" not in response.get_data(as_text=True)
    assert_database_empty(app)


def test_forbidden_is_logged_without_a_traceback_in_the_body(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="callcenter.twilio"):
        response = client.post("/twilio/voice", data=call_params(SID))
    assert_forbidden(response)
    assert AUTH_TOKEN not in response.get_data(as_text=True)
    warnings = [r for r in caplog.records if r.name == "callcenter.twilio"]
    assert [r.getMessage() for r in warnings] == [
        "rejected unsigned or forged request to /twilio/voice"
    ]
    assert warnings[0].exc_info is None


# --------------------------------------------------------------------------- malformed

SQLISH = "CA' OR '1'='1' --"
MALFORMED = [
    # (path, query, parameter changes; None removes the parameter)
    pytest.param("/twilio/voice", None, {"CallSid": None}, id="voice-no-callsid"),
    pytest.param("/twilio/voice", None, {"CallSid": ""}, id="voice-empty-callsid"),
    pytest.param("/twilio/voice", None, {"CallSid": "CA123"}, id="voice-short-callsid"),
    pytest.param("/twilio/voice", None, {"CallSid": SQLISH}, id="voice-sqlish-callsid"),
    pytest.param("/twilio/voice", None, {"CallSid": "'; DROP TABLE calls; --"}, id="voice-drop"),
    pytest.param("/twilio/voice", None, {"CallSid": "CA" + "g" * 32}, id="voice-nonhex"),
    pytest.param("/twilio/voice", None, {"CallSid": "ca" + "a" * 32}, id="voice-lowercase-ca"),
    pytest.param("/twilio/voice", None, {"CallSid": "CA" + "a" * 33}, id="voice-long"),
    pytest.param("/twilio/voice", None, {"CallSid": SID + "\n"}, id="voice-trailing-newline"),
    pytest.param(
        "/twilio/status", None, {"CallSid": SQLISH, "CallStatus": "completed"}, id="status-sqlish"
    ),
    pytest.param("/twilio/status", None, {"CallStatus": None}, id="status-no-callstatus"),
    pytest.param("/twilio/gather", {"node": "choose_language"}, {"Digits": "1"}, id="no-flow"),
    pytest.param("/twilio/gather", {"flow": "main"}, {"Digits": "1"}, id="no-node"),
    pytest.param("/twilio/gather", None, {"Digits": "1"}, id="no-query"),
    pytest.param(
        "/twilio/gather", {"flow": "Main", "node": "choose_language"}, {}, id="flow-uppercase"
    ),
    pytest.param("/twilio/gather", {"flow": "main", "node": "../etc/passwd"}, {}, id="node-path"),
    pytest.param("/twilio/gather", {"flow": "main", "node": "x' OR 1=1"}, {}, id="node-sqlish"),
    pytest.param(
        "/twilio/gather", {"flow": "main", "node": "main_menu\n"}, {}, id="node-trailing-newline"
    ),
    pytest.param("/twilio/gather", {**LANGUAGE_MENU, "attempt": "abc"}, {}, id="attempt-abc"),
    pytest.param("/twilio/gather", {**LANGUAGE_MENU, "attempt": "1e400"}, {}, id="attempt-1e400"),
    pytest.param(
        "/twilio/gather", {**LANGUAGE_MENU, "attempt": "9" * 5000}, {}, id="attempt-5000-digits"
    ),
    pytest.param("/twilio/gather", {**LANGUAGE_MENU, "attempt": "1.5"}, {}, id="attempt-float"),
    pytest.param("/twilio/gather", {**LANGUAGE_MENU, "attempt": "NaN"}, {}, id="attempt-nan"),
    pytest.param(
        "/twilio/dial/done", {"flow": "main"}, {"DialCallStatus": "no-answer"}, id="dial-no-node"
    ),
    pytest.param(
        "/twilio/queue/wait",
        {"queue": "support", "lang": "en"},
        {"QueuePosition": "three", "QueueTime": "5"},
        id="wait-bad-position",
    ),
    pytest.param(
        "/twilio/queue/wait",
        {"queue": "support", "lang": "en"},
        {"QueuePosition": "1", "QueueTime": "1.5"},
        id="wait-bad-time",
    ),
    pytest.param("/twilio/queue/wait", {"lang": "en"}, {"QueuePosition": "1"}, id="wait-no-queue"),
    pytest.param(
        "/twilio/queue/wait", {"queue": "support"}, {"CallSid": "CA123"}, id="wait-bad-callsid"
    ),
    pytest.param(
        "/twilio/queue/done",
        {"queue": "support", "seq": "3"},
        {"QueueResult": "hangup", "QueueTime": "forever"},
        id="queue-done-bad-time",
    ),
    pytest.param(
        "/twilio/voicemail/done",
        {"mailbox": "support", "lang": "en"},
        {"RecordingUrl": RECORDING_URL, "RecordingDuration": "ten"},
        id="voicemail-done-bad-duration",
    ),
    pytest.param(
        "/twilio/recording",
        {"mailbox": "support"},
        {
            "RecordingStatus": "completed",
            "RecordingSid": REC_SID,
            "RecordingUrl": RECORDING_URL,
            "RecordingDuration": "ten",
        },
        id="recording-bad-duration",
    ),
    pytest.param(
        "/twilio/recording",
        {"mailbox": "support"},
        {
            "RecordingStatus": "completed",
            "RecordingSid": "RE123",
            "RecordingUrl": RECORDING_URL,
            "RecordingDuration": "10",
        },
        id="recording-bad-sid",
    ),
    pytest.param(
        "/twilio/recording",
        {"mailbox": "support"},
        {
            "RecordingStatus": "completed",
            "RecordingSid": REC_SID + "\n",
            "RecordingUrl": RECORDING_URL,
            "RecordingDuration": "10",
        },
        id="recording-sid-trailing-newline",
    ),
    pytest.param(
        "/twilio/recording",
        None,
        {
            "RecordingStatus": "completed",
            "RecordingSid": REC_SID,
            "RecordingUrl": RECORDING_URL,
            "RecordingDuration": "10",
        },
        id="recording-no-mailbox",
    ),
]


@pytest.mark.parametrize(("path", "query", "changes"), MALFORMED)
def test_malformed_webhooks_are_rejected_with_400(
    app: Flask,
    twilio: TwilioWebhooks,
    path: str,
    query: dict[str, str] | None,
    changes: dict[str, str | None],
) -> None:
    params = call_params(SID)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    response = twilio.post(path, params, query=query)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    body = response.get_data(as_text=True)
    assert "Traceback" not in body
    assert_database_empty(app)


def test_a_malformed_step_of_a_live_call_changes_nothing(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    to_main_menu(twilio)
    before = table_counts(app)
    step = the_call(app).step
    bad = twilio.post(
        "/twilio/voicemail/done",
        call_params(SID, RecordingUrl=RECORDING_URL, RecordingDuration="12s"),
        query={"mailbox": "support", "lang": "en", "seq": "3"},
    )
    assert bad.status_code == 400
    bad = twilio.post(
        "/twilio/gather", call_params(SID, Digits="0"), query={**MAIN_MENU, "attempt": "x"}
    )
    assert bad.status_code == 400
    bad = twilio.post(
        "/twilio/status", call_params(SID, CallStatus="completed", CallDuration="ten")
    )
    assert bad.status_code == 400
    bad = twilio.post(
        "/twilio/queue/done",
        call_params(SID, QueueResult="hangup", QueueTime="1e3"),
        query={"queue": "support", "seq": "3"},
    )
    assert bad.status_code == 400
    assert table_counts(app) == before
    call = the_call(app)
    assert (call.step, call.node, call.outcome) == (step, "main_menu", None)
    assert (call.status, call.ended_at) == ("in-progress", None)


@pytest.mark.parametrize("attempt", ["0", "-7", "1000000", "99999999999999999999"])
def test_out_of_range_attempts_are_clamped_not_trusted(
    app: Flask, twilio: TwilioWebhooks, at_open: Any, attempt: str
) -> None:
    start_call(twilio)
    response = twilio.post(
        "/twilio/gather", call_params(SID), query={**LANGUAGE_MENU, "attempt": attempt}
    )
    root = twiml(response)
    expected = ["Gather"] if int(attempt) <= 1 else ["Say", "Gather"]
    assert verbs(root) == expected
    _, query = split_url(root[-1].get("action", ""))
    if int(attempt) <= 1:
        # Treated as the first attempt: the language menu again, second attempt.
        assert (query["node"], query["attempt"]) == ("choose_language", "2")
    else:
        # Treated as the last attempt (clamped to 10): default language, on to the main menu.
        assert query["node"] == "main_menu"
        assert "ivr.retries_exhausted" in event_kinds(app)
        [no_input] = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "ivr.no_input"]
        assert no_input.detail["attempt"] == 10


# --------------------------------------------------------------------------- new calls


def test_unknown_caller_is_offered_the_language_choice(app: Flask, twilio: TwilioWebhooks) -> None:
    root = start_call(twilio)
    assert verbs(root) == ["Gather"]
    gather = root[0]
    action, query = split_url(gather.get("action", ""))
    assert action == PUBLIC_URL + "/twilio/gather"
    assert query == {"flow": "main", "node": "choose_language", "attempt": "1", "seq": "1"}
    assert gather.get("method") == "POST"
    assert gather.get("input") == "dtmf"
    assert gather.get("numDigits") == "1"
    assert gather.get("timeout") == "4"
    assert gather.get("actionOnEmptyResult") == "true"
    assert len(gather) == 2
    assert_say(gather[0], flow_text(app, "choose_language", "en", "prompt"), EN_SAY)
    assert_say(gather[1], flow_text(app, "choose_language", "zh-CN", "prompt"), ZH_SAY)

    call = the_call(app)
    assert call.from_number == "+8613900139000"
    assert call.caller_number == "+8613900139000"
    assert call.caller_kind == "pstn"
    assert call.to_number == "+864008001234"
    assert call.customer_id is None
    assert (call.flow, call.node, call.language, call.step) == ("main", "choose_language", "en", 1)
    assert call.status == "in-progress"
    events = rows(app, CallEvent, call_sid=SID)
    assert [(e.kind, e.node) for e in events] == [
        ("call.started", None),
        ("ivr.node", "identify"),
        ("ivr.lookup", "identify"),
        ("ivr.node", "choose_language"),
    ]
    assert events[0].flow == "main"
    assert events[0].detail["caller"] == "pstn"
    assert events[2].detail["found"] is False
    assert count(app, WebhookResponse, call_sid=SID) == 1


def test_known_caller_skips_the_language_choice(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    customer_id = add_customer(app, "+8613900139000", language="zh-CN")
    root = start_call(twilio)
    assert verbs(root) == ["Say", "Gather"]
    greeting = flow_text(app, "welcome_back", "zh-CN").replace("{name}", "Ada Lovelace")
    assert "Ada Lovelace" in greeting
    assert_say(root[0], greeting, ZH_SAY)
    _, query = split_url(root[1].get("action", ""))
    assert query["node"] == "main_menu"
    call = the_call(app)
    assert (call.customer_id, call.language) == (customer_id, "zh-CN")


# --------------------------------------------------------------------------- idempotency


def test_retried_voice_webhook_is_replayed(app: Flask, twilio: TwilioWebhooks) -> None:
    params = call_params(SID)
    first = twilio.post("/twilio/voice", params)
    events = event_kinds(app)
    second = twilio.post("/twilio/voice", params)
    assert first.status_code == second.status_code == 200
    assert second.get_data() == first.get_data()
    assert second.mimetype == "text/xml"
    assert count(app, Call) == 1
    assert event_kinds(app) == events
    assert event_kinds(app).count("call.started") == 1
    assert count(app, WebhookResponse) == 1
    assert the_call(app).step == 1


def test_retried_gather_step_is_replayed(app: Flask, twilio: TwilioWebhooks, at_open: Any) -> None:
    start_call(twilio)
    params = call_params(SID, Digits="1")
    first = twilio.post("/twilio/gather", params, query=LANGUAGE_MENU)
    events = rows(app, CallEvent)
    call = the_call(app)
    assert (call.step, call.node, call.language) == (2, "main_menu", "en")

    second = twilio.post("/twilio/gather", params, query=LANGUAGE_MENU)
    assert second.status_code == 200
    assert second.get_data() == first.get_data()
    assert [e.id for e in rows(app, CallEvent)] == [e.id for e in events]
    assert event_kinds(app).count("ivr.language") == 1
    call = the_call(app)
    assert (call.step, call.node, call.language) == (2, "main_menu", "en")
    assert count(app, WebhookResponse, call_sid=SID) == 2

    # A different step (another key pressed) is not a retry.
    other = twilio.post("/twilio/gather", call_params(SID, Digits="9"), query=MAIN_MENU)
    assert verbs(twiml(other)) == ["Say", "Dial"]
    assert the_call(app).step == 3


def test_retried_recording_callback_stores_one_voicemail(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    start_call(twilio)
    params = call_params(
        SID,
        RecordingStatus="completed",
        RecordingSid=REC_SID,
        RecordingUrl=RECORDING_URL,
        RecordingDuration="42",
    )
    for _ in range(2):
        response = twilio.post("/twilio/recording", params, query={"mailbox": "support"})
        assert response.status_code == 204
        assert response.get_data() == b""
    # Even a retry that differs (Twilio adds a timestamp) stores nothing twice.
    again = twilio.post(
        "/twilio/recording",
        {**params, "Timestamp": "Wed, 25 Nov 2026"},
        query={"mailbox": "support"},
    )
    assert again.status_code == 204
    assert count(app, Voicemail) == 1
    assert count(app, RecordingDownload) == 1
    assert event_kinds(app).count("voicemail.stored") == 1


def test_retried_status_callback_ends_the_call_once(app: Flask, twilio: TwilioWebhooks) -> None:
    start_call(twilio)
    params = call_params(SID, CallStatus="completed", CallDuration="31")
    for _ in range(3):
        response = twilio.post("/twilio/status", params)
        assert response.status_code == 204
    assert event_kinds(app).count("call.ended") == 1
    call = the_call(app)
    assert (call.status, call.duration_seconds) == ("completed", 31)
    assert call.ended_at is not None


# --------------------------------------------------------------------------- never a 500


def test_engine_failure_on_a_new_call_apologizes_and_is_not_stored(
    app: Flask, twilio: TwilioWebhooks, caplog: pytest.LogCaptureFixture
) -> None:
    engine = services(app).engine
    params = call_params(SID)
    with pytest.MonkeyPatch.context() as patch:

        def broken_start(*_args: Any, **_kw: Any) -> Any:
            raise RuntimeError("flow engine exploded")

        patch.setattr(engine, "start", broken_start)
        with caplog.at_level(logging.ERROR, logger="callcenter.twilio"):
            response = twilio.post("/twilio/voice", params)
    assert_apology(app, response, "en", EN_SAY)
    assert count(app, WebhookResponse) == 0
    assert count(app, Call) == 0  # the failed step was rolled back
    errors = [r for r in caplog.records if r.name == "callcenter.twilio"]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert SID in errors[0].getMessage()
    assert "/twilio/voice" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "flow engine exploded"

    # Twilio retries once the bug is fixed: the real answer, not the stored apology.
    retry = twilio.post("/twilio/voice", params)
    root = twiml(retry)
    assert verbs(root) == ["Gather"]
    assert count(app, Call) == 1
    assert count(app, WebhookResponse) == 1


def test_engine_failure_mid_call_apologizes_in_the_callers_language(
    app: Flask, twilio: TwilioWebhooks, at_open: Any, caplog: pytest.LogCaptureFixture
) -> None:
    to_main_menu(twilio, digit="2")
    assert the_call(app).language == "zh-CN"
    stored = count(app, WebhookResponse)
    params = call_params(SID, Digits="9")
    engine = services(app).engine
    with pytest.MonkeyPatch.context() as patch:

        def broken_resume(*_args: Any, **_kw: Any) -> Any:
            raise KeyError("resume failed")

        patch.setattr(engine, "resume", broken_resume)
        with caplog.at_level(logging.ERROR, logger="callcenter.twilio"):
            response = twilio.post("/twilio/gather", params, query=MAIN_MENU)
    assert_apology(app, response, "zh-CN", ZH_SAY)
    assert count(app, WebhookResponse) == stored
    call = the_call(app)
    assert (call.step, call.node) == (2, "main_menu")
    app_errors = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "app.error"]
    assert [e.detail for e in app_errors] == [{"path": "/twilio/gather"}]
    assert any(
        SID in r.getMessage() and r.exc_info is not None
        for r in caplog.records
        if r.name == "callcenter.twilio"
    )

    retry = twilio.post("/twilio/gather", params, query=MAIN_MENU)
    root = twiml(retry)
    assert verbs(root) == ["Say", "Dial"]
    assert_say(root[0], flow_text(app, "recycling", "zh-CN"), ZH_SAY)
    assert count(app, WebhookResponse) == stored + 1


def test_engine_failure_after_a_transfer_apologizes(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    to_main_menu(twilio)
    engine = services(app).engine
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "after_dial", lambda *a, **k: 1 / 0)
        response = twilio.post(
            "/twilio/dial/done",
            call_params(SID, DialCallStatus="busy"),
            query={"flow": "main", "node": "recycling", "seq": "3"},
        )
    assert_apology(app, response, "en", EN_SAY)


def test_broken_session_factory_still_apologizes(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    to_main_menu(twilio)
    database = services(app).database

    def no_database(*_args: Any, **_kw: Any) -> Any:
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(database, "sessions", no_database)
        new_call = twilio.post("/twilio/voice", call_params(OTHER_SID))
        mid_call = twilio.post("/twilio/gather", call_params(SID, Digits="0"), query=MAIN_MENU)
    for response in (new_call, mid_call):
        assert_apology(app, response, "en", EN_SAY)
    assert count(app, Call, call_sid=OTHER_SID) == 0


def test_unreachable_database_still_apologizes(
    app: Flask, twilio: TwilioWebhooks, tmp_path: Any
) -> None:
    broken = create_engine(f"sqlite:///{tmp_path}/no/such/dir/db.sqlite")
    database = services(app).database
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(database, "sessions", sessionmaker(broken))
            response = twilio.post("/twilio/voice", call_params(SID))
    finally:
        broken.dispose()
    assert_apology(app, response, "en", EN_SAY)


# --------------------------------------------------------------------------- caller kinds


@pytest.mark.parametrize(
    ("from_", "kind"),
    [
        ("anonymous", "anonymous"),
        ("+266696687", "anonymous"),
        ("", "anonymous"),
        ("Restricted", "anonymous"),
        ("sip:alice@example.com", "sip"),
        ("client:alice", "client"),
    ],
)
def test_callers_without_a_number_are_answered(
    app: Flask, twilio: TwilioWebhooks, from_: str, kind: str
) -> None:
    root = start_call(twilio, From=from_, Caller=from_)
    assert verbs(root) == ["Gather"]
    _, query = split_url(root[0].get("action", ""))
    assert query["node"] == "choose_language"
    call = the_call(app)
    assert call.caller_kind == kind
    assert call.caller_number is None
    assert call.customer_id is None
    assert call.from_number == from_
    started = rows(app, CallEvent, call_sid=SID)[0]
    assert (started.kind, started.detail["caller"], started.detail["number"]) == (
        "call.started",
        kind,
        None,
    )


# --------------------------------------------------------------------------- queues


def test_caller_reaches_the_queue(app: Flask, twilio: TwilioWebhooks, at_open: Any) -> None:
    root = to_queue(twilio)
    assert_say(root[0], flow_text(app, "support_queue", "en"), EN_SAY)
    enqueue = root[1]
    assert enqueue.text == "support"
    action, query = split_url(enqueue.get("action", ""))
    assert (action, query) == (PUBLIC_URL + "/twilio/queue/done", {"queue": "support", "seq": "3"})
    wait, wait_query = split_url(enqueue.get("waitUrl", ""))
    assert (wait, wait_query) == (
        PUBLIC_URL + "/twilio/queue/wait",
        {"queue": "support", "lang": "en"},
    )
    assert enqueue.get("waitUrlMethod") == "POST"
    call = the_call(app)
    assert (call.queue, call.outcome, call.queue_priority) == ("support", "queued", 10)
    assert call.enqueued_at == OPEN_TIME


def test_hanging_up_in_the_queue_is_abandonment(
    app: Flask, twilio: TwilioWebhooks, at_open: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_queue(twilio)
    ended = OPEN_TIME + timedelta(seconds=95)
    monkeypatch.setattr(twilio_hooks, "utcnow", lambda: ended)
    response = twilio.post(
        "/twilio/status", call_params(SID, CallStatus="completed", CallDuration="140")
    )
    assert response.status_code == 204
    call = the_call(app)
    assert call.outcome == "abandoned"
    assert call.queue_wait_seconds == 95
    assert call.ended_at == ended
    assert call.dequeued_at == ended
    assert (call.status, call.duration_seconds) == ("completed", 140)
    assert event_kinds(app).count("call.ended") == 1


def test_queue_result_hangup_is_abandonment(
    app: Flask, twilio: TwilioWebhooks, at_open: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    to_queue(twilio)
    left = OPEN_TIME + timedelta(seconds=40)
    monkeypatch.setattr(twilio_hooks, "utcnow", lambda: left)
    response = twilio.post(
        "/twilio/queue/done",
        call_params(SID, QueueResult="hangup", QueueTime="37"),
        query={"queue": "support", "seq": "3"},
    )
    root = twiml(response)
    assert verbs(root) == []
    call = the_call(app)
    assert (call.outcome, call.queue_wait_seconds, call.dequeued_at) == ("abandoned", 37, left)
    [event] = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "queue.left"]
    assert (event.detail["result"], event.detail["waited"], event.detail["queue"]) == (
        "hangup",
        37,
        "support",
    )

    # The status callback that follows ends the call and keeps Twilio's wait time.
    ended = OPEN_TIME + timedelta(seconds=41)
    monkeypatch.setattr(twilio_hooks, "utcnow", lambda: ended)
    status = twilio.post("/twilio/status", call_params(SID, CallStatus="completed"))
    assert status.status_code == 204
    call = the_call(app)
    assert (call.outcome, call.queue_wait_seconds, call.ended_at) == ("abandoned", 37, ended)


def test_queue_result_leave_overflows_to_the_queue_mailbox(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    to_queue(twilio)
    response = twilio.post(
        "/twilio/queue/done",
        call_params(SID, QueueResult="leave", QueueTime="600"),
        query={"queue": "support", "seq": "3"},
    )
    root = twiml(response)
    assert verbs(root) == ["Say", "Record"]
    assert_say(root[0], message(app, "queue_overflow", "en"), EN_SAY)
    assert root[0].text != apology_text(app, "en")
    record = root[1]
    callback, query = split_url(record.get("recordingStatusCallback", ""))
    assert (callback, query) == (PUBLIC_URL + "/twilio/recording", {"mailbox": "support"})
    action, action_query = split_url(record.get("action", ""))
    assert action == PUBLIC_URL + "/twilio/voicemail/done"
    assert action_query == {"mailbox": "support", "lang": "en", "seq": "4"}
    assert record.get("maxLength") == "180"
    assert record.get("finishOnKey") == "#"
    call = the_call(app)
    assert (call.outcome, call.queue_wait_seconds) == ("overflow", 600)


def test_queue_result_bridged_is_answered(app: Flask, twilio: TwilioWebhooks, at_open: Any) -> None:
    to_queue(twilio)
    response = twilio.post(
        "/twilio/queue/done",
        call_params(SID, QueueResult="bridged", QueueTime="12"),
        query={"queue": "support", "seq": "3"},
    )
    assert verbs(twiml(response)) == ["Hangup"]
    call = the_call(app)
    assert (call.outcome, call.queue_wait_seconds) == ("answered", 12)
    # The call ending afterwards is not an abandonment.
    twilio.post("/twilio/status", call_params(SID, CallStatus="completed"))
    assert the_call(app).outcome == "answered"


def test_wait_url_announces_the_position(app: Flask, twilio: TwilioWebhooks) -> None:
    """Place in line, hold message and the call-back offer, inside a one-key Gather."""
    query = {"queue": "support", "lang": "en"}
    response = twilio.post(
        "/twilio/queue/wait", call_params(SID, QueuePosition="3", QueueTime="10"), query=query
    )
    root = twiml(response)
    assert verbs(root) == ["Gather", "Pause"]
    gather = root[0]
    assert gather.get("action") == PUBLIC_URL + "/twilio/queue/callback?queue=support"
    assert (gather.get("numDigits"), gather.get("actionOnEmptyResult")) == ("1", "false")
    assert verbs(gather) == ["Say", "Say", "Say"]
    assert_say(gather[0], message(app, "queue_position", "en", position=3), EN_SAY)
    assert "3" in (gather[0].text or "")
    assert_say(gather[1], hold_message(app, "support", "en"), EN_SAY)
    assert_say(gather[2], message(app, "callback_offer", "en"), EN_SAY)
    assert root[1].get("length") == "20"

    zh = twilio.post(
        "/twilio/queue/wait",
        call_params(SID, QueuePosition="7", QueueTime="0"),
        query={"queue": "repairs", "lang": "zh-CN"},
    )
    gather = twiml(zh)[0]
    assert_say(gather[0], message(app, "queue_position", "zh-CN", position=7), ZH_SAY)
    assert "7" in (gather[0].text or "")
    assert_say(gather[1], hold_message(app, "repairs", "zh-CN"), ZH_SAY)

    # Position 0 (or unknown) is not announced; an unknown language falls back to English.
    unknown = twilio.post(
        "/twilio/queue/wait",
        call_params(SID, QueueTime="1"),
        query={"queue": "support", "lang": "xx"},
    )
    gather = twiml(unknown)[0]
    assert verbs(gather) == ["Say", "Say"]
    assert_say(gather[0], hold_message(app, "support", "en"), EN_SAY)
    # The wait loop is read-only.
    assert_database_empty(app)


@pytest.mark.parametrize(
    ("queue", "waited", "leaves"),
    [
        ("support", "599", False),
        ("support", "600", True),
        ("support", "6000", True),
        ("vip", "299", False),
        ("vip", "300", True),
        ("no_such_queue", "0", True),
    ],
)
def test_wait_url_leaves_after_the_maximum_wait(
    app: Flask, twilio: TwilioWebhooks, queue: str, waited: str, leaves: bool
) -> None:
    response = twilio.post(
        "/twilio/queue/wait",
        call_params(SID, QueuePosition="1", QueueTime=waited),
        query={"queue": queue, "lang": "en"},
    )
    root = twiml(response)
    if leaves:
        assert verbs(root) == ["Leave"]
    else:
        assert verbs(root)[0] == "Gather"
        assert "Leave" not in verbs(root)
        assert root[0][0].text == message(app, "queue_position", "en", position=1)


def test_status_for_an_unknown_call(app: Flask, twilio: TwilioWebhooks) -> None:
    response = twilio.post("/twilio/status", call_params(SID, CallStatus="completed"))
    assert response.status_code == 204
    assert response.get_data() == b""
    assert count(app, Call) == 0
    assert event_kinds(app) == ["status.unknown_call"]


def test_non_final_status_does_not_end_the_call(app: Flask, twilio: TwilioWebhooks) -> None:
    start_call(twilio)
    response = twilio.post("/twilio/status", call_params(SID, CallStatus="ringing"))
    assert response.status_code == 204
    call = the_call(app)
    assert (call.status, call.ended_at) == ("ringing", None)
    assert "call.ended" not in event_kinds(app)


# --------------------------------------------------------------------------- recordings


def recording_params(call_sid: str = SID, **extra: str) -> dict[str, str]:
    params = {
        "RecordingStatus": "completed",
        "RecordingSid": REC_SID,
        "RecordingUrl": RECORDING_URL,
        "RecordingDuration": "42",
        **extra,
    }
    return call_params(call_sid, **params)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/2010-04-01/Accounts/AC1/Recordings/" + REC_SID,
        "https://cc.example.test.evil.example/simulator/Recordings/" + REC_SID,
        "https://cc.example.test@evil.example/simulator/Recordings/" + REC_SID,
        "http://cc.example.test/simulator/Recordings/" + REC_SID,
        "https://cc.example.test/simulatorX/Recordings/" + REC_SID,
        "https://cc.example.test/simulator",
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + REC_SID,
        "file:///etc/passwd",
        "",
    ],
)
def test_recording_url_must_be_on_the_configured_api(
    app: Flask, twilio: TwilioWebhooks, url: str
) -> None:
    start_call(twilio)
    before = table_counts(app)
    response = twilio.post(
        "/twilio/recording", recording_params(RecordingUrl=url), query={"mailbox": "support"}
    )
    assert response.status_code == 400
    assert table_counts(app) == before
    assert count(app, Voicemail) == 0
    assert count(app, RecordingDownload) == 0


def test_recording_callback_stores_the_voicemail(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    customer_id = add_customer(app, "+8613900139000")
    start_call(twilio)
    response = twilio.post("/twilio/recording", recording_params(), query={"mailbox": "support"})
    assert response.status_code == 204
    assert response.get_data() == b""
    [voicemail] = rows(app, Voicemail)
    assert voicemail.call_sid == SID
    assert voicemail.customer_id == customer_id
    assert voicemail.mailbox == "support"
    assert voicemail.recording_sid == REC_SID
    assert voicemail.from_number == "+8613900139000"
    assert voicemail.duration_seconds == 42
    assert voicemail.status == "new"
    [download] = rows(app, RecordingDownload)
    assert download.status == "pending"
    assert download.source_url == RECORDING_URL
    assert (download.recording_sid, download.call_sid) == (REC_SID, SID)
    assert (download.expected_duration, download.purpose, download.attempts) == (42, "voicemail", 0)
    assert the_call(app).outcome == "voicemail"
    stored = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "voicemail.stored"]
    assert [e.detail["mailbox"] for e in stored] == ["support"]


def test_recording_into_an_unknown_mailbox_goes_to_the_fallback(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    start_call(twilio)
    response = twilio.post("/twilio/recording", recording_params(), query={"mailbox": "nosuch"})
    assert response.status_code == 204
    assert [v.mailbox for v in rows(app, Voicemail)] == ["general"]


def test_absent_recording_is_logged_without_a_voicemail(app: Flask, twilio: TwilioWebhooks) -> None:
    start_call(twilio)
    params = call_params(SID, RecordingStatus="absent", RecordingSid=REC_SID, RecordingDuration="0")
    response = twilio.post("/twilio/recording", params, query={"mailbox": "support"})
    assert response.status_code == 204
    assert response.get_data() == b""
    assert count(app, Voicemail) == 0
    assert count(app, RecordingDownload) == 0
    [event] = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "recording.absent"]
    assert event.detail["recording_sid"] == REC_SID
    assert the_call(app).outcome is None


# --------------------------------------------------------------------------- transfers


def test_transfer_dials_the_partner(app: Flask, twilio: TwilioWebhooks, at_open: Any) -> None:
    to_main_menu(twilio)
    root = twiml(twilio.post("/twilio/gather", call_params(SID, Digits="9"), query=MAIN_MENU))
    assert verbs(root) == ["Say", "Dial"]
    assert_say(root[0], flow_text(app, "recycling", "en"), EN_SAY)
    dial = root[1]
    action, query = split_url(dial.get("action", ""))
    assert action == PUBLIC_URL + "/twilio/dial/done"
    assert query == {"flow": "main", "node": "recycling", "seq": "3"}
    assert dial.get("timeout") == "20"
    assert dial.get("method") == "POST"
    assert [(child.tag, child.text) for child in dial] == [("Number", "+18005550199")]
    assert the_call(app).node == "recycling"


def test_unanswered_transfer_returns_to_the_main_menu(
    app: Flask, twilio: TwilioWebhooks, at_open: Any
) -> None:
    to_main_menu(twilio)
    twilio.post("/twilio/gather", call_params(SID, Digits="9"), query=MAIN_MENU)
    response = twilio.post(
        "/twilio/dial/done",
        call_params(SID, DialCallStatus="no-answer"),
        query={"flow": "main", "node": "recycling", "seq": "3"},
    )
    root = twiml(response)
    assert verbs(root) == ["Say", "Gather"]
    assert_say(root[0], flow_text(app, "recycling_unavailable", "en"), EN_SAY)
    _, query = split_url(root[1].get("action", ""))
    assert query == {"flow": "main", "node": "main_menu", "attempt": "1", "seq": "4"}
    call = the_call(app)
    assert (call.node, call.outcome) == ("main_menu", None)
    [event] = [e for e in rows(app, CallEvent, call_sid=SID) if e.kind == "ivr.transfer_result"]
    assert event.detail["status"] == "no-answer"


def test_answered_transfer_hangs_up(app: Flask, twilio: TwilioWebhooks, at_open: Any) -> None:
    to_main_menu(twilio)
    twilio.post("/twilio/gather", call_params(SID, Digits="9"), query=MAIN_MENU)
    response = twilio.post(
        "/twilio/dial/done",
        call_params(SID, DialCallStatus="completed"),
        query={"flow": "main", "node": "recycling", "seq": "3"},
    )
    root = twiml(response)
    assert verbs(root) == ["Hangup"]
    assert the_call(app).outcome == "transferred"
