"""Hostile input on every route the app registers: ids no column holds, JSON nested or
sized to hurt, and the headers every answer carries. Routes come from app.url_map, so a
route added later is covered without touching this file."""

from __future__ import annotations

import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter, Rule

from callcenter.people.agents import create_agent
from callcenter.web.limits import MAX_ID, MAX_JSON_BYTES

PASSWORD = "correct horse battery"
HUGE_IDS = (str(MAX_ID + 1), str(2**70), "99999999999999999999999")
# The routes that read a JSON body.
JSON_ROUTES = {
    "/api/login",
    "/api/voicemails/<id:voicemail_id>/assign",
    "/api/voicemails/<id:voicemail_id>/release",
    "/api/voicemails/<id:voicemail_id>/handled",
    "/api/kb/articles/<article_id>/send",
    "/api/customers",
    "/api/customers/<id:customer_id>",
    "/api/customers/<id:customer_id>/merge",
    "/api/customers/<id:customer_id>/erase",
    "/api/tickets",
    "/api/tickets/<id:ticket_id>",
    "/api/followups/<id:followup_id>/assign",
    "/api/followups/<id:followup_id>/release",
    "/api/followups/<id:followup_id>/done",
    "/api/admin/agents",
    "/api/admin/agents/<username>",
    "/api/admin/agents/<username>/deactivate",
    "/api/admin/agents/<username>/reactivate",
    "/api/admin/agents/<username>/password",
    "/api/admin/agents/<username>/logout",
    "/api/admin/erasures/retry",
    "/api/me/language",
    "/api/voice/preferences",
    "/api/calls/dial",
}


@pytest.fixture
def lead(app: Flask, client: FlaskClient) -> FlaskClient:
    """The client, logged in as an admin (who passes every role check)."""
    with app.extensions["callcenter"].database.session() as session:
        create_agent(session, username="lead", display_name="Lead", agent_number="1030",
                     password=PASSWORD, role="admin", skills=["support"],
                     languages=["en"])  # fmt: skip
    response = client.post("/api/login", json={"username": "lead", "password": PASSWORD})
    assert response.status_code == 200
    return client


def url_for_rule(rule: Rule, id_value: str = "1") -> str:
    """A concrete URL of `rule`: ids get `id_value`, other arguments a harmless word."""
    converters = rule._converters  # werkzeug lists them nowhere public

    def value(match: re.Match[str]) -> str:
        name = match.group(1).rpartition(":")[2]
        return id_value if isinstance(converters[name], IntegerConverter) else "x"

    return re.sub(r"<([^>]+)>", value, rule.rule)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_every_integer_in_a_url_is_a_bounded_id(app: Flask) -> None:
    bounded = [
        (rule.rule, name, converter.max)
        for rule in app.url_map.iter_rules()
        for name, converter in rule._converters.items()
        if isinstance(converter, IntegerConverter)
    ]
    assert bounded, "no id in any URL: this test would check nothing"
    assert all(maximum is not None and maximum <= MAX_ID for _, _, maximum in bounded), bounded


def test_ids_no_column_holds_are_not_found(
    app: Flask, lead: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if any(isinstance(c, IntegerConverter) for c in rule._converters.values())
    ]
    assert rules
    for rule in rules:
        for value in HUGE_IDS:
            url = url_for_rule(rule, value)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = lead.open(url, method=method, json={})
                assert response.status_code == 404, (method, url, response.status_code)
    assert errors_logged(caplog) == []


@pytest.mark.parametrize("agent_id", [2**63, 2**70, -1, 0])
def test_an_agent_id_no_column_holds_is_refused(
    app: Flask, lead: FlaskClient, caplog: pytest.LogCaptureFixture, agent_id: int
) -> None:
    response = lead.post("/api/voicemails/1/assign", json={"agent_id": agent_id})
    assert response.status_code == 400
    assert "agent_id" in response.get_json()["error"]
    assert errors_logged(caplog) == []


def json_rules(app: Flask) -> list[Rule]:
    return [
        rule
        for rule in app.url_map.iter_rules()
        if rule.methods
        and {"POST", "PUT", "PATCH"} & rule.methods
        and not rule.rule.startswith("/twilio/")
    ]


def test_the_json_routes_are_all_known(app: Flask) -> None:
    api = {rule.rule for rule in json_rules(app) if rule.rule.startswith("/api/")}
    assert api >= JSON_ROUTES
    assert api - JSON_ROUTES == {"/api/logout"}  # it reads no body


@pytest.mark.parametrize("logged_in", [False, True])
def test_json_nested_a_thousand_deep_is_refused_on_every_route(
    app: Flask,
    client: FlaskClient,
    lead: FlaskClient,
    caplog: pytest.LogCaptureFixture,
    logged_in: bool,
) -> None:
    if not logged_in:
        client.post("/api/logout", json={})
    body = deep(1000)
    for rule in sorted(json_rules(app), key=lambda rule: rule.rule == "/api/logout"):
        method = next(m for m in ("POST", "PUT", "PATCH") if m in (rule.methods or ()))
        response = client.open(
            url_for_rule(rule), method=method, data=body, content_type="application/json"
        )
        assert response.status_code < 500, (rule.rule, response.status_code)
        if rule.rule in JSON_ROUTES and (logged_in or rule.rule == "/api/login"):
            assert response.status_code == 400, (rule.rule, response.status_code)
            assert "deeper than" in response.get_json()["error"]
    assert errors_logged(caplog) == []


@pytest.mark.parametrize("body", [deep(33), '{"a": ' + deep(40) + "}", deep(30_000)])
def test_login_refuses_deep_json_without_a_traceback(
    client: FlaskClient, caplog: pytest.LogCaptureFixture, body: str
) -> None:
    response = client.post("/api/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "deeper than" in response.get_json()["error"]
    assert errors_logged(caplog) == []


def test_oversized_json_is_refused(
    app: Flask, lead: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    notes = "x" * (MAX_JSON_BYTES + 1)
    response = lead.post("/api/voicemails/1/handled", json={"notes": notes})
    assert response.status_code == 400
    assert "larger than" in response.get_json()["error"]
    login = lead.post("/api/login", json={"username": "lead", "password": notes})
    assert login.status_code == 400
    fine = lead.post("/api/login", json={"username": "lead", "password": PASSWORD, "x": [[1]]})
    assert fine.status_code == 200  # ordinary JSON still reads
    assert errors_logged(caplog) == []


def test_every_answer_says_nosniff_and_every_page_has_a_policy(
    app: Flask, lead: FlaskClient
) -> None:
    seen: list[tuple[str, int, str]] = []
    urls = ["/no/such/page", "/api/no-such-thing"]
    for rule in app.url_map.iter_rules():
        if "GET" in (rule.methods or ()) and not rule.rule.startswith("/simulator/"):
            urls.append(url_for_rule(rule))
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/twilio/"):
            urls.append(rule.rule)  # answered 403 (unsigned)
    for url in urls:
        method = "POST" if url.startswith("/twilio/") else "GET"
        response = lead.open(url, method=method)
        response.close()
        seen.append((url, response.status_code, response.mimetype))
        assert response.headers.get("X-Content-Type-Options") == "nosniff", url
        if response.mimetype == "text/html":
            policy = response.headers.get("Content-Security-Policy", "")
            assert "default-src" in policy and "frame-ancestors" in policy, url
    assert any(mimetype == "text/html" for _, _, mimetype in seen)
    assert any(mimetype == "application/json" for _, _, mimetype in seen)
