"""Webhook input a signature does not pin down: repeated and re-split parameters, absurd
sizes. Every request here is signed with twilio's RequestValidator, as Twilio signs it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import AUTH_TOKEN, PUBLIC_URL, TwilioWebhooks, call_params
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

import callcenter.tables  # noqa: F401  (registers every table)
from callcenter.calls.records import MAX_DETAIL_CHARS, TRUNCATED
from callcenter.db import Base
from callcenter.models import Call, CallEvent

SID = "CA" + "0123456789abcdef" * 2
LEG = "CA" + "5" * 32
REC = "RE" + "a1b2c3d4" * 4
RECORDING_URL = f"{PUBLIC_URL}/simulator/2010-04-01/Accounts/AC{'1' * 32}/Recordings/{REC}"
LANGUAGE_MENU = {"flow": "main", "node": "choose_language", "attempt": "1", "seq": "1"}

# Every Twilio webhook the app has: (query, parameters besides the standard ones, leg SID).
ROUTES: dict[str, tuple[dict[str, str], dict[str, str], str]] = {
    "/twilio/voice": ({}, {}, SID),
    "/twilio/gather": (LANGUAGE_MENU, {"Digits": "1"}, SID),
    "/twilio/dial/done": (
        {"flow": "main", "node": "recycling", "seq": "3"}, {"DialCallStatus": "completed"}, SID
    ),
    "/twilio/queue/wait": (
        {"queue": "support", "lang": "en"}, {"QueuePosition": "2", "QueueTime": "5"}, SID
    ),
    "/twilio/queue/callback": ({"queue": "support"}, {"Digits": "1"}, SID),
    "/twilio/queue/moved": ({"queue": "repairs", "lang": "en"}, {}, SID),
    "/twilio/queue/done": ({}, {"QueueResult": "hangup", "QueueTime": "5"}, SID),
    "/twilio/voicemail/done": (
        {"mailbox": "support"}, {"RecordingUrl": RECORDING_URL, "RecordingDuration": "4"}, SID
    ),
    "/twilio/recording": (
        {"mailbox": "support"},
        {"RecordingStatus": "completed", "RecordingSid": REC, "RecordingUrl": RECORDING_URL,
         "RecordingDuration": "4"},
        SID,
    ),
    "/twilio/sms/status": (
        {"call": SID}, {"MessageSid": "SM" + "7" * 32, "MessageStatus": "delivered"}, SID
    ),
    "/twilio/status": ({}, {"CallStatus": "completed", "CallDuration": "31"}, SID),
    "/twilio/bridge/caller": ({"agent": "1024", "conf": SID}, {}, LEG),
    "/twilio/transfer": ({"queue": "support"}, {}, SID),
    "/twilio/bridge/agent": ({"call": SID}, {}, LEG),
    "/twilio/bridge/agent-status": ({"call": SID}, {"CallStatus": "completed"}, LEG),
    "/twilio/bridge/conference": (
        {"call": SID}, {"StatusCallbackEvent": "participant-join"}, LEG
    ),
    "/twilio/recording/call": (
        {"call": SID}, {"RecordingSid": REC, "RecordingStatus": "in-progress"}, LEG
    ),
    "/twilio/bridge/callback-status": ({"call": SID}, {"CallStatus": "ringing"}, LEG),
    "/twilio/supervise/status": ({"call": SID}, {"CallStatus": "completed"}, LEG),
    "/twilio/survey": (
        {"call": SID}, {"CallStatus": "in-progress", "DialCallStatus": "completed"}, SID
    ),
    "/twilio/survey/answer": ({"call": SID, "question": "rate"}, {"Digits": "4"}, SID),
    "/twilio/client/outgoing": ({}, {"From": "client:amy", "To": "+8613800138000"}, LEG),
}  # fmt: skip


def row_counts(app: Flask) -> dict[str, int]:
    """Rows in every table: a request that changes nothing leaves these alone."""
    database = app.extensions["callcenter"].database
    with database.sessions() as session:
        return {
            table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }


def post_body(
    client: FlaskClient, path: str, query: dict[str, str], body: str, signed: dict[str, str]
) -> Any:
    """POST a raw form body with the signature Twilio would give `signed`."""
    full = path + ("?" + urlencode(query) if query else "")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + full, signed)
    return client.post(
        full,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": signature},
    )


def merged(params: dict[str, str]) -> dict[str, str]:
    """`Called` and `Caller` merged into one parameter: Twilio's signature (names and values
    concatenated with no separator) is the same for both requests."""
    joined = {key: value for key, value in params.items() if key != "Caller"}
    joined["Called"] = params["Called"] + "Caller" + params["Caller"]
    return joined


def test_the_table_covers_every_webhook(app: Flask) -> None:
    registered = {
        rule.rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/twilio/")
    }
    assert registered == set(ROUTES)


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_repeated_or_merged_parameters_are_never_a_new_step(
    app: Flask, client: FlaskClient, twilio: TwilioWebhooks, path: str
) -> None:
    query, extra, leg = ROUTES[path]
    assert twilio.post("/twilio/voice", call_params(SID)).status_code == 200
    params = call_params(leg, **extra)
    first = twilio.post(path, params, query=query)
    assert first.status_code in (200, 204), first.get_data(as_text=True)[:300]
    before = row_counts(app)
    validator = RequestValidator(AUTH_TOKEN)
    url = PUBLIC_URL + path + ("?" + urlencode(query) if query else "")

    # A captured request with one of its parameters repeated: the signature still fits.
    for key in params:
        body = urlencode(params) + "&" + urlencode({key: params[key]})
        response = post_body(client, path, query, body, params)
        assert response.status_code == 400, (key, response.get_data(as_text=True)[:300])
    assert row_counts(app) == before

    # Two parameters merged into one: the same signed text, so a retry of the first request.
    variant = merged(params)
    assert validator.compute_signature(url, variant) == validator.compute_signature(url, params)
    again = twilio.post(path, variant, query=query)
    assert again.status_code == first.status_code
    assert again.get_data() == first.get_data()
    assert row_counts(app) == before


def test_a_repeated_query_argument_is_refused(app: Flask, twilio: TwilioWebhooks) -> None:
    assert twilio.post("/twilio/voice", call_params(SID)).status_code == 200
    before = row_counts(app)
    path = "/twilio/gather?" + urlencode(LANGUAGE_MENU) + "&node=main_menu"
    response = twilio.post(path, call_params(SID, Digits="1"))
    assert response.status_code == 400
    assert row_counts(app) == before


def test_a_replayed_gather_or_status_with_a_repeated_key_changes_nothing(
    app: Flask, client: FlaskClient, twilio: TwilioWebhooks
) -> None:
    """The review's cases: `&Digits=1&Digits=1`, and `completed` logged twice."""
    assert twilio.post("/twilio/voice", call_params(SID)).status_code == 200
    params = call_params(SID, Digits="1")
    assert twilio.post("/twilio/gather", params, query=LANGUAGE_MENU).status_code == 200
    body = urlencode(params) + "&Digits=1"
    assert post_body(client, "/twilio/gather", LANGUAGE_MENU, body, params).status_code == 400
    ended = call_params(SID, CallStatus="completed", CallDuration="31")
    assert twilio.post("/twilio/status", ended).status_code == 204
    body = urlencode(ended) + "&CallStatus=completed"
    assert post_body(client, "/twilio/status", {}, body, ended).status_code == 400
    with app.extensions["callcenter"].database.sessions() as session:
        call = session.scalar(select(Call).where(Call.call_sid == SID))
        kinds = list(session.scalars(select(CallEvent.kind).where(CallEvent.call_sid == SID)))
    assert call is not None and call.step == 2
    assert kinds.count("call.ended") == 1
    assert kinds.count("ivr.language") == 1


def test_huge_webhook_values_are_cut_in_the_event_log(app: Flask, twilio: TwilioWebhooks) -> None:
    assert twilio.post("/twilio/voice", call_params(SID)).status_code == 200
    huge = "9" * 20_000  # under the body limit, far over what a log entry keeps
    params = {
        "AccountSid": "AC" + "1" * 32, "CallSid": LEG, "MessageSid": "SM" + "7" * 32,
        "MessageStatus": "failed", "ErrorCode": huge,
    }  # fmt: skip
    response = twilio.post("/twilio/sms/status", params, query={"call": SID})
    assert response.status_code == 204
    with app.extensions["callcenter"].database.sessions() as session:
        event = session.scalar(select(CallEvent).where(CallEvent.kind == "kb.sms_status"))
    assert event is not None
    assert len(event.detail["error"]) == MAX_DETAIL_CHARS
    assert event.detail["error"].endswith(TRUNCATED)


def test_absurd_webhook_bodies_are_refused_before_anything_is_read(
    app: Flask, twilio: TwilioWebhooks
) -> None:
    params = call_params(SID, SpeechResult="x" * (5 * 1024 * 1024))
    response = twilio.post("/twilio/voice", params)
    assert response.status_code == 413
    assert row_counts(app)["calls"] == 0
