"""Why an action was refused, in the agent's language: the Socket.IO acks of the consoles
and the field errors of the JSON APIs (docs/consoles.md#languages-of-the-consoles)."""

from __future__ import annotations

from conftest import LiveServer
from flask import Flask
from flask.testing import FlaskClient
from test_admin import as_user, web  # noqa: F401
from test_agent_socket import Console, team  # noqa: F401
from test_customers_api import login, people  # noqa: F401
from test_supervision import supervisor

from callcenter.calls.routing import RoutingError
from callcenter.messages import N_, Phrase
from callcenter.models import Agent

WANG = "+8613800138000"  # 王伟 in demo/customers.csv


def _speaks(server: LiveServer, agent_id: int, language: str | None) -> None:
    with server.app.extensions["callcenter"].database.session() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        agent.ui_language = language


def test_a_refusal_keeps_its_template_and_its_english() -> None:
    refusal = RoutingError(N_("go available first: you are {status}"), status="away")
    assert str(refusal) == "go available first: you are away"
    assert refusal.template == "go available first: you are {status}"
    assert refusal.values == {"status": "away"}
    assert str(RoutingError("plain")) == "plain"


def test_a_chinese_speaking_agent_is_refused_in_chinese(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    _speaks(live_server, team["amy"], "zh-CN")
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        answer = amy.call("call:accept", {"call_sid": "CA" + "0" * 32})
        assert answer == {"error": "这通电话已不再分配给您"}
        assert amy.call("agent:status", {"status": "away"})["ok"]
        answer = amy.call("call:dial", {"number": WANG})
        assert answer == {"error": "请先切换为空闲：您当前为 away"}
    finally:
        amy.close()


def test_an_english_speaking_agent_is_refused_in_english(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    _speaks(live_server, team["amy"], "en")
    amy = Console(live_server, "amy")
    try:
        amy.wait_for("agent:state")
        answer = amy.call("call:accept", {"call_sid": "CA" + "0" * 32})
        assert answer == {"error": "this call is no longer offered to you"}
    finally:
        amy.close()


# -- field errors of the JSON APIs ------------------------------------------------------------


def _prefers(app: Flask, agent_id: int, language: str | None) -> None:
    with app.extensions["callcenter"].database.session() as session:
        agent = session.get(Agent, agent_id)
        assert agent is not None
        agent.ui_language = language
        session.commit()


def test_a_field_error_is_its_english_text_and_keeps_its_template() -> None:
    error = Phrase(N_("must be at most {limit} characters"), limit=40)
    assert error == "must be at most 40 characters"
    assert error.template == "must be at most {limit} characters"
    assert error.values == {"limit": 40}


def test_a_chinese_speaking_agent_gets_field_errors_in_chinese(
    app: Flask,
    client: FlaskClient,
    people: dict[str, int],  # noqa: F811
) -> None:
    _prefers(app, people["amy"], "zh-CN")
    login(client, "amy")
    answer = client.post("/api/tickets", json={"priority": "whenever"})
    assert answer.status_code == 400
    errors = answer.get_json()["errors"]
    assert errors["description"] == "为必填项"
    assert errors["priority"].startswith("须为以下之一：")

    customer = client.post("/api/customers", json={"name": "Li Lei", "phones": [WANG]})
    customer_id = customer.get_json()["customer"]["id"]
    patched = client.patch(f"/api/customers/{customer_id}", json={"phones": ["12345"]})
    assert patched.status_code == 400
    assert patched.get_json()["errors"]["phones"].startswith("'12345' 不是有效的电话号码")


def test_an_english_speaking_agent_gets_field_errors_in_english(
    app: Flask,
    client: FlaskClient,
    people: dict[str, int],  # noqa: F811
) -> None:
    _prefers(app, people["amy"], "en")
    login(client, "amy")
    errors = client.post("/api/tickets", json={"priority": "whenever"}).get_json()["errors"]
    assert errors["description"] == "is required"
    assert errors["priority"].startswith("must be one of ")
    customer = client.post("/api/customers", json={"name": "Li Lei", "phones": [WANG]})
    customer_id = customer.get_json()["customer"]["id"]
    patched = client.patch(f"/api/customers/{customer_id}", json={"phones": ["12345"]})
    assert patched.get_json()["errors"]["phones"].startswith("'12345' is not a valid phone number")


def test_a_chinese_speaking_supervisor_is_refused_in_chinese(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    _speaks(live_server, team["lead"], "zh-CN")
    lead = supervisor(live_server, "lead")
    try:
        sid = "CA" + "7" * 32
        assert lead.call("supervisor:monitor", {"call_sid": sid}) == {"error": "没有这通电话"}
        answer = lead.call("supervisor:move", {"call_sid": sid})
        assert answer == {"error": "请指定队列、优先级或两者"}
        refused = lead.client.call("supervisor:leave", "CA1", namespace="/supervisor", timeout=5)
        assert refused == {"error": "请求内容须为一个 JSON 对象"}
    finally:
        lead.close()


def test_an_admin_reading_chinese_gets_account_field_errors_in_chinese(
    web: Flask,  # noqa: F811
) -> None:
    root = as_user(web, "root")
    body = {"username": "eve", "password": "long-enough-1", "name": "Eve", "number": "12",
            "phone": "12345", "role": "boss"}  # fmt: skip
    chinese = root.post("/api/admin/agents", json=body, headers={"Accept-Language": "zh-CN"})
    assert chinese.status_code == 400
    errors = chinese.get_json()["errors"]
    assert errors["number"] == "3 到 8 位数字（会播报给来电者）"
    assert errors["role"] == "须为以下之一：agent, supervisor, admin"
    assert errors["phone"].startswith("'12345' 不是有效的电话号码")
    english = root.post("/api/admin/agents", json=body, headers={"Accept-Language": "en"})
    assert english.get_json()["errors"]["role"] == "one of agent, supervisor, admin"
