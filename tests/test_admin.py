"""Managing the team without a shell: the admin pages and API (`web/admin.py`), and
`callcenter agents edit|reactivate|logout` beside them, both audited."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import test_agent_socket
import test_agents_auth
from conftest import LiveServer
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from test_agent_socket import Console
from test_agents_auth import PASSWORD, agents_in, cli_env, invoke, login

from callcenter.models import Agent, AuditEntry
from callcenter.people.agents import create_agent

web = test_agents_auth.web  # fixtures: alice (agent), sam (supervisor), root (admin)
team = test_agent_socket.team

PAGES = ("/admin", "/admin/config")
NEW_AGENT = {"username": "eve", "password": "long-enough-1", "name": "Eve", "number": "1099"}
APIS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/admin/agents", None),
    ("POST", "/api/admin/agents", NEW_AGENT),
    ("PATCH", "/api/admin/agents/alice", {"name": "Mallory"}),
    ("POST", "/api/admin/agents/alice/deactivate", {}),
    ("POST", "/api/admin/agents/alice/reactivate", {}),
    ("POST", "/api/admin/agents/alice/password", {"password": "another-password"}),
    ("POST", "/api/admin/agents/alice/logout", {}),
]


def as_user(web: Flask, username: str | None) -> FlaskClient:
    client = web.test_client()
    if username is not None:
        assert login(client, username).status_code == 200
    return client


def call(client: FlaskClient, method: str, path: str, body: Any = None) -> Any:
    if method == "GET":
        return client.get(path)
    return client.open(path, method=method, json=body if body is not None else {})


def audit_of(web: Flask, action: str) -> list[AuditEntry]:
    with web.extensions["callcenter"].database.session() as session:
        found = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        ).all()
        session.expunge_all()
        return list(found)


def agent(web: Flask, username: str) -> Agent:
    with web.extensions["callcenter"].database.session() as session:
        found = session.scalars(select(Agent).where(Agent.username == username)).one()
        session.expunge(found)
        return found


# -- who may -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_admin_pages_are_for_admins_only(web: Flask, path: str) -> None:
    anonymous = as_user(web, None).get(path)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == f"/login?next={path}"
    for username in ("alice", "sam"):
        assert as_user(web, username).get(path).status_code == 403, username
    page = as_user(web, "root").get(path)
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers


def test_the_agent_console_links_admins_to_the_admin_pages(web: Flask) -> None:
    assert 'href="/admin"' in as_user(web, "root").get("/agent").get_data(as_text=True)
    for username in ("alice", "sam"):
        assert "/admin" not in as_user(web, username).get("/agent").get_data(as_text=True)


@pytest.mark.parametrize(("method", "path", "body"), APIS)
def test_admin_api_is_for_admins_only(
    web: Flask, method: str, path: str, body: dict[str, Any] | None
) -> None:
    assert call(as_user(web, None), method, path, body).status_code == 401
    for username in ("alice", "sam"):
        refused = call(as_user(web, username), method, path, body)
        assert refused.status_code == 403, (username, refused.get_json())
    before = agent(web, "alice")
    assert before.display_name == "Alice" and before.active
    assert "eve" not in agents_in(web.extensions["callcenter"].settings.database_url)
    assert audit_of(web, "agent.edit") == [] and audit_of(web, "agent.deactivate") == []
    assert call(as_user(web, "root"), method, path, body).status_code in (200, 201, 409)


def test_admin_posts_take_only_json(web: Flask) -> None:
    """A cross-site form cannot post here (no CORS is ever granted for a JSON body)."""
    root = as_user(web, "root")
    form = root.post("/api/admin/agents/alice/deactivate", data={"x": "1"})
    assert form.status_code == 415
    assert agent(web, "alice").active


# -- add, edit -----------------------------------------------------------------------------------


def test_add_checks_every_field_like_the_command_line(web: Flask) -> None:
    root = as_user(web, "root")
    bad = root.post("/api/admin/agents", json={
        "username": "Eve", "password": "long-enough-1", "name": "Eve", "number": "12",
        "skills": ["sales"], "languages": ["fr"], "phone": "12345", "role": "boss",
    })  # fmt: skip
    assert bad.status_code == 400
    errors = bad.get_json()["errors"]
    assert errors.pop("phone").startswith("'12345' is not a valid phone number")
    assert errors == {
        "number": "3 to 8 digits (it is announced to callers)",
        "skills": "sales not used by any queue (known: repairs, support, vip)",
        "languages": "'fr' is not configured (en, zh-CN)",
        "role": "one of agent, supervisor, admin",
    }
    for body, field, why in [
        ({"name": "Eve"}, "number", "required"),
        ({"number": "1099", "password": "short"}, "password", "at least 8 characters"),
        ({"number": "1031"}, "number", "1031 is taken"),
        ({"number": "1099", "username": "alice"}, "username", "'alice' is taken"),
        ({"number": "1099", "username": "9lives"}, "username", "2-64 of a-z"),
        ({"number": "1099", "surname": "X"}, "surname", "not a field"),
    ]:
        full = {"username": "eve", "password": "long-enough-1", "name": "Eve", **body}
        answer = root.post("/api/admin/agents", json=full)
        assert answer.status_code == 400, body
        assert answer.get_json()["errors"][field].startswith(why), answer.get_json()
    assert sorted(agents_in(web.extensions["callcenter"].settings.database_url)) == [
        "alice", "root", "sam",
    ]  # fmt: skip

    added = root.post("/api/admin/agents", json={
        "username": "Eve", "password": "long-enough-1", "name": " Eve <b>Li</b> ",
        "number": "1099", "skills": ["vip", "support"], "languages": ["zh-cn", "en"],
        "phone": "+86 139 1234 5678", "role": "supervisor",
    })  # fmt: skip
    assert added.status_code == 201, added.get_json()
    shown = added.get_json()["agent"]
    assert {key: shown[key] for key in ("username", "name", "number", "role", "skills",
                                        "languages", "phone", "active", "status")} == {
        "username": "eve", "name": "Eve <b>Li</b>", "number": "1099", "role": "supervisor",
        "skills": ["support", "vip"], "languages": ["en", "zh-CN"], "phone": "+8613912345678",
        "active": True, "status": "offline",
    }  # fmt: skip
    assert "password" not in json.dumps(added.get_json())
    assert login(web.test_client(), "eve", "long-enough-1").status_code == 200
    listed = root.get("/api/admin/agents").get_json()
    assert [a["username"] for a in listed["agents"]] == ["alice", "sam", "root", "eve"]
    assert listed["skills"] == ["repairs", "support", "vip"]
    assert listed["languages"] == ["en", "zh-CN"]
    assert "password_hash" not in json.dumps(listed)


def test_edit_changes_only_what_is_given_and_says_old_and_new(web: Flask) -> None:
    root = as_user(web, "root")
    changed = root.patch("/api/admin/agents/ALICE", json={
        "name": "Alice Chen", "number": "2031", "skills": "support,repairs",
        "languages": ["zh-CN"], "phone": "+86 139 0013 9001", "role": "supervisor",
    })  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["changes"] == {
        "name": ["Alice", "Alice Chen"],
        "number": ["1031", "2031"],
        "skills": [["support"], ["repairs", "support"]],
        "languages": [["en"], ["zh-CN"]],
        "phone": [None, "+8613900139001"],
        "role": ["agent", "supervisor"],
    }
    alice = agent(web, "alice")
    assert (alice.display_name, alice.agent_number, alice.role, alice.phone) == (
        "Alice Chen", "2031", "supervisor", "+8613900139001",
    )  # fmt: skip

    same = root.patch("/api/admin/agents/alice", json={"name": "Alice Chen"})
    assert same.status_code == 200 and same.get_json()["changes"] == {}
    cleared = root.patch("/api/admin/agents/alice", json={"phone": None, "skills": []})
    assert cleared.get_json()["changes"] == {
        "phone": ["+8613900139001", None],
        "skills": [["repairs", "support"], []],
    }

    for body, field in [
        ({"number": "1032"}, "number"),  # sam's
        ({"name": "  "}, "name"),
        ({"languages": ["fr"]}, "languages"),
        ({"skills": [1]}, "skills"),
        ({"username": "bob"}, "username"),  # not editable
    ]:
        refused = root.patch("/api/admin/agents/alice", json=body)
        assert refused.status_code == 400, body
        assert field in refused.get_json()["errors"], refused.get_json()
    assert agent(web, "alice").agent_number == "2031"
    assert root.patch("/api/admin/agents/nobody", json={"name": "X"}).status_code == 404
    assert len(audit_of(web, "agent.edit")) == 2  # the refused and empty edits left no entry


def test_where_an_agent_takes_calls_is_set_like_any_field(web: Flask) -> None:
    root = as_user(web, "root")
    no_phone = root.patch("/api/admin/agents/alice", json={"takes_calls_on": "phone"})
    assert no_phone.status_code == 400
    assert "without a phone number" in no_phone.get_json()["errors"]["takes_calls_on"]
    assert agent(web, "alice").takes_calls_on == "browser"
    changed = root.patch("/api/admin/agents/alice", json={
        "takes_calls_on": "phone", "phone": "+8613900139001", "auto_answer": True,
    })  # fmt: skip
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["changes"] == {
        "takes_calls_on": ["browser", "phone"],
        "phone": [None, "+8613900139001"],
        "auto_answer": [False, True],
    }
    assert changed.get_json()["agent"]["takes_calls_on"] == "phone"
    dropped = root.patch("/api/admin/agents/alice", json={"phone": None})
    assert dropped.status_code == 400 and "takes_calls_on" in dropped.get_json()["errors"]
    assert root.patch("/api/admin/agents/alice", json={"auto_answer": "yes"}).status_code == 400
    assert agent(web, "alice").phone == "+8613900139001"

    env = cli_env(web.extensions["callcenter"].settings.database_url)
    result = invoke(["agents", "edit", "alice", "--take-calls-on", "browser", "--no-phone",
                     "--no-auto-answer"], env)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == [
        "alice: takes_calls_on: phone -> browser",
        "alice: auto_answer: True -> False",
        "alice: phone: +8613900139001 -> -",
    ]


def test_an_admin_cannot_lock_themselves_or_the_team_out(web: Flask) -> None:
    root = as_user(web, "root")
    assert root.post("/api/admin/agents/root/deactivate", json={}).status_code == 409
    assert root.patch("/api/admin/agents/root", json={"role": "agent"}).status_code == 409
    assert agent(web, "root").role == "admin" and agent(web, "root").active
    # the last active admin stays one, whoever asks (here: the command line)
    env = cli_env(web.extensions["callcenter"].settings.database_url)
    demoted = invoke(["agents", "edit", "root", "--role", "agent"], env)
    assert demoted.exit_code == 2
    assert demoted.stderr == "Error: root is the last active admin\n"
    gone = invoke(["agents", "deactivate", "root"], env)
    assert gone.exit_code == 1 and "last active admin" in gone.stderr
    assert agent(web, "root").active and agent(web, "root").role == "admin"


# -- sessions end --------------------------------------------------------------------------------


def test_deactivation_ends_the_agents_session_and_reactivation_lets_them_log_in(
    web: Flask,
) -> None:
    root, alice = as_user(web, "root"), as_user(web, "alice")
    assert alice.get("/api/me").status_code == 200

    done = root.post("/api/admin/agents/alice/deactivate", json={})

    assert done.status_code == 200 and done.get_json()["agent"]["active"] is False
    assert alice.get("/api/me").status_code == 401
    assert alice.get("/agent").status_code == 302  # back to the login form
    assert login(web.test_client(), "alice").status_code == 401
    assert root.post("/api/admin/agents/alice/deactivate", json={}).status_code == 409
    listed = {a["username"]: a for a in root.get("/api/admin/agents").get_json()["agents"]}
    assert listed["alice"]["active"] is False

    assert root.post("/api/admin/agents/alice/reactivate", json={}).status_code == 200
    assert alice.get("/api/me").status_code == 401  # the old session stays ended
    assert login(alice).status_code == 200
    assert alice.get("/api/me").status_code == 200


def test_a_password_reset_ends_the_agents_sessions(web: Flask) -> None:
    root, alice = as_user(web, "root"), as_user(web, "alice")
    short = root.post("/api/admin/agents/alice/password", json={"password": "short"})
    assert short.status_code == 400
    assert short.get_json() == {"errors": {"password": "at least 8 characters"}}
    assert alice.get("/api/me").status_code == 200  # a refused reset ends nothing

    done = root.post("/api/admin/agents/alice/password", json={"password": "brand-new-pass"})

    assert done.status_code == 200
    assert alice.get("/api/me").status_code == 401
    assert login(web.test_client(), "alice", PASSWORD).status_code == 401
    assert login(web.test_client(), "alice", "brand-new-pass").status_code == 200
    entry = audit_of(web, "agent.password")[-1]
    shown = json.dumps(entry.public())
    assert "brand-new-pass" not in shown and "scrypt" not in shown


def test_force_logout_ends_every_session_but_not_the_account(web: Flask) -> None:
    root, laptop, phone = as_user(web, "root"), as_user(web, "alice"), as_user(web, "alice")

    assert root.post("/api/admin/agents/alice/logout", json={}).status_code == 200

    assert laptop.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 401
    assert root.get("/api/me").status_code == 200  # only alice's
    assert login(laptop).status_code == 200  # the same password still works
    assert root.post("/api/admin/agents/nobody/logout", json={}).status_code == 404


def test_deactivation_closes_an_open_console_at_once(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    services = live_server.app.extensions["callcenter"]
    services.extras["realtime"].housekeeping.clear()  # no sweep: the admin action itself tells
    with services.database.session() as session:
        create_agent(session, username="boss", display_name="Boss", agent_number="1099",
                     password=test_agent_socket.PASSWORD, role="admin")  # fmt: skip
    amy = Console(live_server, "amy")
    boss = Console(live_server, "boss", namespace="/supervisor")
    try:
        told = threading.Event()
        amy.client.on("session:ended", lambda data=None: told.set(), namespace=amy.namespace)
        amy.wait_for("agent:state")
        answer = boss.http.post(f"{live_server.url}/api/admin/agents/amy/deactivate", json={})
        assert answer.status_code == 200, answer.text
        assert told.wait(5)
        assert amy.http.get(f"{live_server.url}/api/me").status_code == 401
    finally:
        amy.close()
        boss.close()


# -- the audit log -------------------------------------------------------------------------------


def test_every_admin_action_is_in_the_audit_log_with_old_and_new(web: Flask) -> None:
    root = as_user(web, "root")
    root.post("/api/admin/agents", json={"username": "eve", "password": "long-enough-1",
                                         "name": "Eve", "number": "1099"})  # fmt: skip
    root.patch("/api/admin/agents/eve", json={"skills": ["vip"], "name": "Eve Li"})
    root.post("/api/admin/agents/eve/password", json={"password": "long-enough-2"})
    root.post("/api/admin/agents/eve/logout", json={})
    root.post("/api/admin/agents/eve/deactivate", json={})
    root.post("/api/admin/agents/eve/reactivate", json={})

    log = root.get(f"/api/audit?agent_id={agent(web, 'eve').id}").get_json()["entries"]

    assert [e["action"] for e in log] == [
        "agent.reactivate", "agent.deactivate", "agent.logout", "agent.password", "agent.edit",
        "agent.add",
    ]  # fmt: skip
    assert {e["actor"] for e in log} == {"root"}
    assert all(e["result"] == "ok" and e["at"] for e in log)
    by_action = {e["action"]: e["details"] for e in log}
    assert by_action["agent.edit"] == {
        "changes": {"name": ["Eve", "Eve Li"], "skills": [[], ["vip"]]}
    }
    assert by_action["agent.deactivate"] == {"changes": {"active": [True, False]}}
    assert by_action["agent.reactivate"] == {"changes": {"active": [False, True]}}
    assert by_action["agent.add"]["changes"]["number"] == [None, "1099"]
    assert by_action["agent.password"] == {} and by_action["agent.logout"] == {}
    text = json.dumps(log)
    assert "long-enough" not in text and "scrypt" not in text and "hash" not in text


# -- the command line ----------------------------------------------------------------------------


def test_agents_edit_on_the_command_line(web: Flask) -> None:
    env = cli_env(web.extensions["callcenter"].settings.database_url)
    alice = as_user(web, "alice")

    result = invoke(["agents", "edit", "alice", "--name", "Alice Chen", "--skills", "vip,support",
                     "--languages", "zh-cn", "--phone", "+86 139 1234 5678"], env)  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.output.splitlines() == [
        "alice: name: Alice -> Alice Chen",
        "alice: skills: support -> support,vip",
        "alice: languages: en -> zh-CN",
        "alice: phone: - -> +8613912345678",
    ]
    assert alice.get("/api/me").status_code == 200  # an edit ends no session
    no_phone = invoke(["agents", "edit", "alice", "--no-phone", "--role", "supervisor"], env)
    assert no_phone.exit_code == 0, no_phone.stderr
    assert agent(web, "alice").phone is None and agent(web, "alice").role == "supervisor"
    entries = audit_of(web, "agent.edit")
    assert entries[0].actor.startswith("command line (") and entries[0].actor_id is None
    assert entries[1].details == {
        "changes": {"phone": ["+8613912345678", None], "role": ["agent", "supervisor"]}
    }
    unchanged = invoke(["agents", "edit", "alice", "--name", "Alice Chen"], env)
    assert unchanged.output == "alice: nothing changed\n"
    assert len(audit_of(web, "agent.edit")) == 2

    for args, message in [
        (["--number", "1032"], "number: 1032 is taken"),
        (["--skills", "sales"], "skills: sales not used by any queue"),
        (["--languages", "fr"], "languages: 'fr' is not configured"),
        (["--phone", "12345"], "phone: '12345' is not a valid phone number"),
        (["--role", "boss"], "role: one of agent, supervisor, admin"),
        (["--name", " "], "name: required"),
        (["--phone", "+8613900139001", "--no-phone"], "give --phone or --no-phone, not both"),
        ([], "nothing to change"),
    ]:
        refused = invoke(["agents", "edit", "alice", *args], env)
        assert refused.exit_code == 2, (args, refused.stderr)
        assert refused.stderr.startswith(f"Error: {message}"), refused.stderr
        assert refused.stderr.count("\n") == 1 and refused.output == ""
    nobody = invoke(["agents", "edit", "nobody", "--name", "X"], env)
    assert (nobody.exit_code, nobody.stderr) == (2, "Error: no agent 'nobody'\n")
    assert agent(web, "alice").display_name == "Alice Chen"


def test_reactivate_and_logout_on_the_command_line(web: Flask) -> None:
    env = cli_env(web.extensions["callcenter"].settings.database_url)
    alice = as_user(web, "alice")
    assert invoke(["agents", "logout", "alice"], env).exit_code == 0
    assert alice.get("/api/me").status_code == 401
    assert invoke(["agents", "deactivate", "alice"], env).exit_code == 0
    assert login(alice).status_code == 401

    again = invoke(["agents", "reactivate", "alice"], env)

    assert again.exit_code == 0, again.stderr
    assert again.output == "reactivated alice: they may log in again\n"
    assert login(alice).status_code == 200
    twice = invoke(["agents", "reactivate", "alice"], env)
    assert (twice.exit_code, twice.stderr) == (2, "Error: alice is already active\n")
    actions: Callable[[str], list[AuditEntry]] = lambda name: audit_of(web, name)  # noqa: E731
    assert [len(actions(name)) for name in ("agent.logout", "agent.deactivate",
                                            "agent.reactivate")] == [1, 1, 1]  # fmt: skip
    assert actions("agent.deactivate")[0].details == {"changes": {"active": [True, False]}}
