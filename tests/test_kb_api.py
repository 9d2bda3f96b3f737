"""The knowledge base in use: the console's search API, articles, lookups, suggestions, report."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import sync_knowledge_base
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from callcenter.calls.records import log_event, open_call
from callcenter.knowledge.models import KbLookup
from callcenter.knowledge.usage import record_lookup, resolution_report, suggest
from callcenter.models import Call, CallEvent, CallOffer, utcnow
from callcenter.people.agents import create_agent
from callcenter.screenpop import offer_payload

PASSWORD = "correct horse battery"
CALL_A = "CA" + "a" * 32
CALL_B = "CA" + "b" * 32


@pytest.fixture
def kb_app(app: Flask) -> Iterator[Flask]:
    sync_knowledge_base(app)
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        agents = {
            name: create_agent(session, username=name, display_name=name.title(),
                               agent_number=number, password=PASSWORD, role=role,
                               skills=["support"], languages=["en", "zh-CN"]).id
            for name, number, role in [("amy", "1024", "agent"), ("bob", "1025", "agent"),
                                       ("lead", "1030", "supervisor")]
        }  # fmt: skip
        for sid, agent in ((CALL_A, "amy"), (CALL_B, "bob")):
            call = open_call(session, call_sid=sid, from_raw="+8613900139000",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.agent_id = agents[agent]
            call.outcome = "answered"
    app.config["agents"] = agents
    yield app


def login(client: FlaskClient, username: str) -> None:
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    # From here on, the client's requests are the console's own fetches, as a browser says.
    client.environ_base["HTTP_SEC_FETCH_SITE"] = "same-origin"


def lookups(app: Flask) -> list[KbLookup]:
    with app.extensions["callcenter"].database.session() as session:
        rows = session.scalars(select(KbLookup).order_by(KbLookup.id)).all()
        session.expunge_all()
    return list(rows)


def test_search_needs_a_login(kb_app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/kb/search?q=warranty")
    assert response.status_code == 401
    assert response.get_json() == {"error": "login required"}
    assert lookups(kb_app) == []


def test_search_warranty_finds_the_warranty_articles_first(
    kb_app: Flask, client: FlaskClient
) -> None:
    login(client, "amy")
    response = client.get("/api/kb/search?q=warranty&lang=en")
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert results[0]["id"] == "warranty-coverage"  # the article about the warranty itself
    assert {result["id"] for result in results[:4]} == {
        "warranty-coverage", "warranty-claim", "extended-warranty", "out-of-warranty-repairs",
    }  # fmt: skip
    assert {"id", "title", "snippet", "score"} <= set(results[0])
    assert "<mark>" in results[0]["snippet"].lower() or "<mark>" in results[1]["snippet"].lower()
    assert all(result["language"] == "en" for result in results)
    scores = [result["score"] for result in results]
    assert scores == sorted(scores, reverse=True)

    chinese = client.get("/api/kb/search", query_string={"q": "保修"}).get_json()["results"]
    assert chinese[0]["id"] == "warranty-policy-zh"
    assert {result["id"] for result in chinese[:3]} == {
        "warranty-policy-zh", "extended-warranty-zh", "accidental-damage-zh",
    }  # fmt: skip
    assert all(result["language"] == "zh-CN" for result in chinese)


def test_every_search_is_stored_with_the_agent_and_the_call(
    kb_app: Flask, client: FlaskClient
) -> None:
    login(client, "amy")
    client.get("/api/kb/search", query_string={"q": "refund", "call_sid": CALL_A})
    client.get("/api/kb/search", query_string={"q": "  "})  # nothing typed: not a search
    [stored] = lookups(kb_app)
    assert (stored.action, stored.source, stored.query, stored.call_sid) == (
        "search", "console", "refund", CALL_A,
    )  # fmt: skip
    assert stored.agent_id == kb_app.config["agents"]["amy"]
    assert stored.results and stored.detail["top"][0]


def test_search_refuses_bad_parameters_and_other_agents_calls(
    kb_app: Flask, client: FlaskClient
) -> None:
    login(client, "amy")
    assert client.get("/api/kb/search", query_string={"q": "x" * 201}).status_code == 400
    assert client.get("/api/kb/search?q=a&lang=fr").status_code == 400
    assert client.get("/api/kb/search?q=a&limit=ten").status_code == 400
    assert client.get("/api/kb/search?q=a&call_sid=nope").status_code == 400
    assert client.get("/api/kb/search?q=a&call_sid=CA" + "c" * 32).status_code == 404
    refused = client.get("/api/kb/search", query_string={"q": "warranty", "call_sid": CALL_B})
    assert refused.status_code == 403
    assert lookups(kb_app) == []


@pytest.mark.parametrize(
    "query",
    ['"', "NEAR(warranty refund)", "warranty*", "-", "title:warranty",
     "'; DROP TABLE kb_articles;--", "\x00", "(((", "保修 OR 1=1", "%_%",
     "<script>alert(1)</script>"],
)  # fmt: skip
def test_hostile_queries_are_answered_not_executed(
    kb_app: Flask, client: FlaskClient, query: str
) -> None:
    login(client, "amy")
    response = client.get("/api/kb/search", query_string={"q": query})
    assert response.status_code == 200
    for result in response.get_json()["results"]:
        assert "<script>" not in result["snippet"]
    assert client.get("/api/kb/search?q=warranty").get_json()["results"]  # index intact


def test_open_an_article_renders_safe_html_and_is_stored(
    kb_app: Flask, client: FlaskClient
) -> None:
    login(client, "amy")
    response = client.get(f"/api/kb/articles/warranty-coverage?call_sid={CALL_A}&via=suggestion")
    assert response.status_code == 200
    article = response.get_json()
    assert article["title"] and article["summary"] and article["language"] == "en"
    assert article["html"].startswith("<") and "<script" not in article["html"]
    assert article["link"].endswith("/help/warranty-coverage")
    [stored] = lookups(kb_app)
    assert (stored.action, stored.source, stored.article_id, stored.call_sid) == (
        "open", "suggestion", "warranty-coverage", CALL_A,
    )  # fmt: skip
    assert client.get("/api/kb/articles/no-such-article").status_code == 404
    assert client.get("/api/kb/articles/..%2F..%2Fetc").status_code == 404


def test_the_public_help_page_needs_no_login_and_escapes(
    kb_app: Flask, client: FlaskClient
) -> None:
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        from callcenter.knowledge.models import KbArticle

        article = session.get(KbArticle, "warranty-coverage")
        article.body = "Hello <script>alert(1)</script> [x](javascript:alert(1))"
    page = client.get("/help/warranty-coverage")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="javascript' not in html
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/help/nothing-here").status_code == 404


def test_report_is_for_supervisors(kb_app: Flask, client: FlaskClient) -> None:
    login(client, "amy")
    assert client.get("/api/kb/report").status_code == 403
    client.get(f"/api/kb/articles/warranty-coverage?call_sid={CALL_A}")
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        choose(session, CALL_A, "repairs.repairs_menu", "3", "repairs.warranty_info")
        session.scalar(select(Call).where(Call.call_sid == CALL_A)).disposition = "resolved"
    client.post("/api/logout", json={})
    login(client, "lead")
    rows = client.get("/api/kb/report?days=7").get_json()["rows"]
    assert rows == [
        {"article_id": "warranty-coverage", "title": rows[0]["title"],
         "intent": "repairs.warranty_info", "calls": 1, "sent": 0,
         "dispositions": {"resolved": 1}},
    ]  # fmt: skip


# -- domain: suggestions and the report ----------------------------------------------------


def walk(session: Any, call_sid: str, *nodes: str) -> None:
    for flow_node in nodes:
        flow, node = flow_node.split(".")
        log_event(session, call_sid, "ivr.node", flow=flow, node=node)
    session.flush()
    session.commit()


def choose(session: Any, call_sid: str, menu: str, answer: str, chosen: str) -> None:
    """The events of a caller answering a menu, as the IVR engine logs them."""
    flow, node = menu.split(".")
    log_event(session, call_sid, "ivr.node", flow=flow, node=node, node_kind="menu")
    log_event(session, call_sid, "ivr.input", flow=flow, node=node, input=answer)
    walk(session, call_sid, chosen)


def test_suggestions_follow_the_ivr_path_in_the_callers_language(kb_app: Flask) -> None:
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        english = suggest(session, ["main.main_menu", "repairs.repairs_menu",
                                    "repairs.warranty_info"], "en")  # fmt: skip
        assert english and english[0].language == "en"
        assert {s.id for s in english} & {"warranty-coverage", "warranty-claim"}
        assert all("repairs.warranty_info" in s.matched for s in english[:2])
        chinese = suggest(session, ["repairs.warranty_info"], "zh-CN")
        assert chinese[0].id == "warranty-policy-zh"
        assert suggest(session, [], "en") == []
        assert suggest(session, ["main.no_such_node"], "en") == []


def test_articles_used_on_earlier_calls_rank_higher(kb_app: Flask) -> None:
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        found = suggest(session, ["repairs.warranty_info"], "en", limit=10)
        before = [s.id for s in found if s.language == "en"]
        assert len(before) >= 2
        underdog = before[-1]
        for index in range(3):
            sid = f"CA{index:032x}"
            walk(session, sid, "repairs.warranty_info")
            record_lookup(session, action="open", source="console", call_sid=sid,
                          article_id=underdog)  # fmt: skip
        after = [s.id for s in suggest(session, ["repairs.warranty_info"], "en", limit=5)]
        assert after[0] == underdog


def test_the_screen_pop_carries_the_suggestions(kb_app: Flask) -> None:
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        walk(session, CALL_A, "main.main_menu", "repairs.repairs_menu", "repairs.warranty_info")
        call = session.scalar(select(Call).where(Call.call_sid == CALL_A))
        payload = offer_payload(session, services.settings, call, utcnow())
    ids = [item["id"] for item in payload["knowledge"]]
    assert ids and "warranty-coverage" in ids
    assert set(payload["knowledge"][0]) >= {"id", "title", "summary", "score", "matched"}


def test_resolution_report_counts_calls_not_clicks(kb_app: Flask) -> None:
    services = kb_app.extensions["callcenter"]
    now = utcnow()
    with services.database.session() as session:
        choose(session, CALL_A, "repairs.repairs_menu", "3", "repairs.warranty_info")
        for _ in range(3):
            record_lookup(session, action="open", source="console", call_sid=CALL_A,
                          article_id="warranty-coverage")  # fmt: skip
        record_lookup(session, action="send", source="console", call_sid=CALL_A,
                      article_id="warranty-coverage")  # fmt: skip
        record_lookup(session, action="open", source="console", call_sid=CALL_B,
                      article_id="warranty-coverage")  # fmt: skip
        record_lookup(session, action="search", source="console", call_sid=CALL_B, query="x")
        session.scalar(select(Call).where(Call.call_sid == CALL_A)).disposition = "resolved"
        session.flush()
        rows = {(r.article_id, r.intent): r for r in resolution_report(session)}
        old = resolution_report(session, since=now + timedelta(hours=1))
    assert rows[("warranty-coverage", "repairs.warranty_info")].calls == 1
    assert rows[("warranty-coverage", "repairs.warranty_info")].sent == 1
    assert rows[("warranty-coverage", "repairs.warranty_info")].dispositions == {"resolved": 1}
    assert rows[("warranty-coverage", "(none)")].dispositions == {"(none)": 1}
    assert old == []


def test_the_report_names_the_callers_choices_not_every_node_passed(
    kb_app: Flask, phone: Callable[..., Any]
) -> None:
    # English; main menu 1 (repairs, through the goto node to_repairs); a wrong key, then 3
    # (warranty): the caller hears the warranty article (an IVR lookup), then hangs up.
    result = phone(from_="+15550001111", inputs=["1", "1", "7", "3"], hold_seconds=1)
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        rows = resolution_report(session)
        passed = session.scalars(
            select(CallEvent.node).where(
                CallEvent.call_sid == result.call_sid, CallEvent.kind == "ivr.node"
            )
        ).all()
    assert len(passed) >= 8  # identify, greet, welcome, choose_language, hours_check, ...
    assert [(row.article_id, row.intent, row.calls) for row in rows] == [
        ("warranty-coverage", "main.to_repairs", 1),
        ("warranty-coverage", "repairs.warranty_info", 1),
    ]


def test_an_agent_who_accepted_a_transferred_call_may_look_up_for_it(
    kb_app: Flask, client: FlaskClient
) -> None:
    services = kb_app.extensions["callcenter"]
    with services.database.session() as session:
        session.add(CallOffer(call_sid=CALL_B, agent_id=kb_app.config["agents"]["amy"],
                              status="accepted", expires_at=utcnow()))  # fmt: skip
    login(client, "amy")
    response = client.get("/api/kb/search", query_string={"q": "warranty", "call_sid": CALL_B})
    assert response.status_code == 200


# -- send the article to the caller (through the simulator's Messages API) -----------------


def test_send_an_article_by_text_message(live_server: Any) -> None:
    import requests

    from callcenter.models import CallEvent

    app = live_server.app
    sync_knowledge_base(app)
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                           password=PASSWORD, skills=["support"], languages=["en"]).id  # fmt: skip
        create_agent(session, username="bob", display_name="Bob", agent_number="1025",
                     password=PASSWORD, skills=["support"], languages=["en"])  # fmt: skip
        call = open_call(session, call_sid=CALL_A, from_raw="+8613900139000",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.agent_id, call.outcome = amy, "answered"
        anonymous = open_call(session, call_sid=CALL_B, from_raw="anonymous",
                              to="+864008001234", flow="main", default_language="en")  # fmt: skip
        anonymous.agent_id = amy
    board = services.extras["simulator_switchboard"]
    url = f"{live_server.url}/api/kb/articles/warranty-coverage/send"
    with requests.Session() as http:
        assert http.post(url, json={"call_sid": CALL_A}).status_code == 401
        http.post(f"{live_server.url}/api/login", json={"username": "bob", "password": PASSWORD})
        assert http.post(url, json={"call_sid": CALL_A}).status_code == 403
        http.post(f"{live_server.url}/api/login", json={"username": "amy", "password": PASSWORD})
        sent = http.post(url, json={"call_sid": CALL_A})
        assert sent.status_code == 200, sent.text
        answer = sent.json()
        assert answer["to"] == "+8613900139000" and answer["message_sid"].startswith("SM")
        again = http.post(url, json={"call_sid": CALL_A}).json()  # a double click
        assert again["message_sid"] == answer["message_sid"] and again["repeated"]
        assert http.post(url, json={"call_sid": CALL_B}).status_code == 409
        assert http.post(url, json={}).status_code == 400
        assert http.post(url, data="call_sid=x").status_code == 415
    [message] = board.messages(to="+8613900139000")
    assert message.sid == answer["message_sid"]
    assert message.body.startswith("Lumina support: ")
    assert message.body.endswith(f"{live_server.url}/help/warranty-coverage")
    assert requests.get(f"{live_server.url}/help/warranty-coverage").status_code == 200
    deadline = time.monotonic() + 10
    statuses: list[str] = []
    while time.monotonic() < deadline and "delivered" not in statuses:
        with services.database.session() as session:
            statuses = [
                event.detail["status"]
                for event in session.scalars(
                    select(CallEvent).where(CallEvent.call_sid == CALL_A,
                                            CallEvent.kind == "kb.sms_status")
                )
            ]  # fmt: skip
        time.sleep(0.1)
    assert "delivered" in statuses
    sends = [lookup for lookup in lookups(app) if lookup.action == "send"]
    assert [(s.article_id, s.call_sid, s.detail["message_sid"]) for s in sends] == [
        ("warranty-coverage", CALL_A, answer["message_sid"])
    ]
