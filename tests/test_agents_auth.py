"""Agent accounts on the command line (`callcenter agents ...`) and console sign-in."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash

from callcenter.cli import main
from callcenter.db import Database
from callcenter.models import Agent, Customer, CustomerPhone
from callcenter.people.agents import authenticate, create_agent
from callcenter.people.cli import DEMO_AGENTS
from callcenter.web import auth

PASSWORD = "secret-password"
DEMO_CSV = ROOT / "demo" / "customers.csv"


# -- command line -----------------------------------------------------------------------------


def cli_env(database_url: str) -> dict[str, str]:
    """Every secret given, so nothing is generated under the repository's instance/."""
    return {
        "CALLCENTER_DATABASE_URL": database_url,
        "CALLCENTER_SECRET_KEY": "cli-test-secret",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    }


def invoke(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    return CliRunner(mix_stderr=False).invoke(
        main, args, env=env, input=input, catch_exceptions=False
    )


def agents_in(database_url: str) -> dict[str, Agent]:
    database = Database(database_url)
    try:
        with database.session() as session:
            found = session.scalars(select(Agent)).all()
            session.expunge_all()
            return {agent.username: agent for agent in found}
    finally:
        database.dispose()


ALICE = ["agents", "add", "alice", "--name", "Alice Chen", "--number", "1031"]


@pytest.fixture
def alice(database_url: str) -> Agent:
    result = invoke([*ALICE, "--password-stdin"], cli_env(database_url), input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output + result.stderr
    return agents_in(database_url)["alice"]


def test_add_reads_the_password_from_stdin_and_stores_only_a_scrypt_hash(
    database_url: str,
) -> None:
    result = invoke(
        [
            *("agents", "add", "Alice", "--name", "Alice Chen", "--number", "1031"),
            *("--role", "supervisor", "--skills", "vip, support", "--languages", "zh-cn,en"),
            *("--phone", "+86 139 1234 5678", "--password-stdin"),
        ],
        cli_env(database_url),
        input=PASSWORD + "\nthe second line is not read\n",
    )

    assert result.exit_code == 0, result.output + result.stderr
    assert result.output.strip() == "added alice: Alice Chen, number 1031, supervisor"
    assert PASSWORD not in result.output + result.stderr
    agent = agents_in(database_url)["alice"]
    assert (agent.display_name, agent.agent_number, agent.role) == (
        "Alice Chen",
        "1031",
        "supervisor",
    )
    assert (agent.skills, agent.languages) == (["support", "vip"], ["en", "zh-CN"])
    assert agent.phone == "+8613912345678"
    assert (agent.active, agent.status) == (True, "offline")
    assert agent.password_hash.startswith("scrypt:")
    assert PASSWORD not in agent.password_hash
    assert check_password_hash(agent.password_hash, PASSWORD)
    assert not check_password_hash(agent.password_hash, PASSWORD + "\n")

    listing = invoke(["agents", "list"], cli_env(database_url))
    assert listing.exit_code == 0, listing.stderr
    header, row = listing.output.splitlines()
    assert header.split() == ["USERNAME", "NAME", "NUMBER", "ROLE", "SKILLS", "LANGUAGES", "STATUS"]
    assert row.split() == [
        "alice",
        "Alice",
        "Chen",
        "1031",
        "supervisor",
        "support,vip",
        "en,zh-CN",
        "offline",
    ]
    assert header.index("NUMBER") == row.index("1031")  # columns line up


def test_list_without_agents(database_url: str) -> None:
    result = invoke(["agents", "list"], cli_env(database_url))
    assert result.exit_code == 0
    assert result.output.startswith("no agents yet")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (ALICE, None, "username: 'alice' is taken"),
        (
            ["agents", "add", "ALICE", "--name", "A", "--number", "1099"],
            None,
            "username: 'alice' is taken",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1031"],
            None,
            "number: 1031 is taken",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032"],
            "short\n",
            "password: at least 8 characters",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032"],
            "\n",
            "password: at least 8 characters",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032"],
            "",
            "password: at least 8 characters",
        ),
        (
            ["agents", "add", "9bob", "--name", "Bob", "--number", "1032"],
            None,
            "username: 2-64 of a-z",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "12"],
            None,
            "number: 3 to 8 digits",
        ),
        (["agents", "add", "bob", "--name", " ", "--number", "1032"], None, "name: required"),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032", "--role", "boss"],
            None,
            "role: one of agent, supervisor, admin",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032", "--skills", "sales"],
            None,
            "skills: sales not used by any queue (known: repairs, support, vip)",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032", "--languages", "en,fr"],
            None,
            "languages: 'fr' is not configured (en, zh-CN)",
        ),
        (
            ["agents", "add", "bob", "--name", "Bob", "--number", "1032", "--phone", "12345"],
            None,
            "phone: '12345' is not a valid phone number",
        ),
    ],
)
def test_add_refuses_bad_input_and_writes_nothing(
    alice: Agent, database_url: str, args: list[str], stdin: str | None, message: str
) -> None:
    given = PASSWORD + "\n" if stdin is None else stdin
    result = invoke([*args, "--password-stdin"], cli_env(database_url), input=given)

    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {message}"), result.stderr
    assert result.output == ""
    assert list(agents_in(database_url)) == ["alice"]


def test_the_password_is_never_an_argument(database_url: str) -> None:
    missing = invoke([*ALICE], cli_env(database_url), input=PASSWORD + "\n")
    assert missing.exit_code == 1
    assert "pass --password-stdin" in missing.stderr

    as_argument = invoke([*ALICE, "--password", PASSWORD], cli_env(database_url))
    assert as_argument.exit_code == 2
    assert "No such option: --password" in as_argument.stderr
    assert agents_in(database_url) == {}


def demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config.yaml with its instance folder under tmp_path; returns that folder."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    config.update(flows_dir=str(ROOT / "ivr_flows"), instance_dir=str(tmp_path / "instance"))
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(config_file))
    return tmp_path / "instance"


def read_credentials(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.split("\t")[0]: line.split("\t")[1] for line in lines if not line.startswith("#")}


def account_manager_of_wang(database_url: str) -> str | None:
    database = Database(database_url)
    try:
        with database.session() as session:
            wang = session.scalars(
                select(Customer).join(CustomerPhone).where(CustomerPhone.number == "+8613800138000")
            ).one()
            return wang.account_manager.username if wang.account_manager else None
    finally:
        database.dispose()


def test_demo_team_is_created_once_with_private_random_passwords(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = demo_config(tmp_path, monkeypatch)
    env = cli_env(database_url)
    imported = invoke(["customers", "import", str(DEMO_CSV)], env)
    assert imported.exit_code == 0, imported.stderr

    first = invoke(["agents", "demo"], env)

    assert first.exit_code == 0, first.output + first.stderr
    credentials_file = instance / "demo_credentials.txt"
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    credentials = read_credentials(credentials_file)
    usernames = [username for username, *_ in DEMO_AGENTS]
    assert list(credentials) == usernames
    assert len(set(credentials.values())) == len(usernames)
    assert all(len(password) >= 16 for password in credentials.values())
    for username, password in credentials.items():
        assert f"{username}: created" in first.output
        assert password in first.output  # shown once
    team = agents_in(database_url)
    assert set(team) == set(usernames)
    assert team["lead"].role == "supervisor" and team["admin"].role == "admin"
    assert sorted(agent.agent_number for agent in team.values()) == [
        str(number) for number in range(1024, 1024 + len(usernames))
    ]
    assert {skill for agent in team.values() for skill in agent.skills} == {
        "support",
        "repairs",
        "vip",
    }
    assert [name for name, agent in team.items() if "vip" in agent.skills] == ["chen.jing"]
    assert any(not name.isascii() for name in (a.display_name for a in team.values()))
    for username, password in credentials.items():
        assert check_password_hash(team[username].password_hash, password)
    assert account_manager_of_wang(database_url) == "chen.jing"
    assert "王伟: account manager is now chen.jing" in first.output
    saved = credentials_file.read_bytes()

    again = invoke(["agents", "demo"], env)

    assert again.exit_code == 0, again.stderr
    assert all(f"{username}: exists, left alone" in again.output for username in usernames)
    assert again.output.strip().endswith("nothing created")
    assert not any(password in again.output for password in credentials.values())
    assert credentials_file.read_bytes() == saved
    assert {n: a.password_hash for n, a in agents_in(database_url).items()} == {
        n: a.password_hash for n, a in team.items()
    }

    # One demo agent removed: only that one is made again, the other lines are kept.
    database = Database(database_url)
    with database.session() as session:
        session.execute(delete(Agent).where(Agent.username == "li.na"))
    database.dispose()
    third = invoke(["agents", "demo"], env)
    assert third.exit_code == 0, third.stderr
    assert "li.na: created" in third.output
    renewed = read_credentials(credentials_file)
    assert renewed["li.na"] != credentials["li.na"]
    assert {k: v for k, v in renewed.items() if k != "li.na"} == {
        k: v for k, v in credentials.items() if k != "li.na"
    }
    assert stat.S_IMODE(credentials_file.stat().st_mode) == 0o600
    assert list(instance.iterdir()) == [credentials_file]  # no leftover temporary file


def test_demo_without_customers_and_with_a_taken_number(
    alice: Agent, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = demo_config(tmp_path, monkeypatch)
    env = cli_env(database_url)
    clash = invoke(
        ["agents", "add", "temp", "--name", "Temp", "--number", "1027", "--password-stdin"],
        env,
        input=PASSWORD,
    )
    assert clash.exit_code == 0, clash.stderr

    refused = invoke(["agents", "demo"], env)

    assert refused.exit_code == 1
    assert "demo team: number: 1027 is taken; nothing was changed" in refused.stderr
    assert sorted(agents_in(database_url)) == ["alice", "temp"]
    assert not (instance / "demo_credentials.txt").exists()

    database = Database(database_url)
    with database.session() as session:
        session.execute(delete(Agent).where(Agent.username == "temp"))
    database.dispose()
    created = invoke(["agents", "demo"], env)
    assert created.exit_code == 0, created.stderr
    assert "customer +8613800138000 not found" in created.output
    assert len(agents_in(database_url)) == 1 + len(DEMO_AGENTS)


# -- sign-in -----------------------------------------------------------------------------------

probe = Blueprint("auth_probe", __name__)


@probe.get("/probe/any")
@auth.login_required()
def probe_any() -> str:
    agent = auth.current_agent()
    assert agent is not None
    return agent.username


@probe.get("/probe/supervisor")
@auth.login_required("supervisor")
def probe_supervisor() -> str:
    return "ok"


@probe.get("/probe/admin")
@auth.login_required("admin")
def probe_admin() -> str:
    return "ok"


def with_auth(app: Flask) -> Flask:
    if "auth" not in app.blueprints:
        app.register_blueprint(auth.bp)
    app.register_blueprint(probe)
    return app


@pytest.fixture
def web(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    app = with_auth(make_app())
    database = app.extensions["callcenter"].database
    with database.session() as session:
        for username, number, role in [
            ("alice", "1031", "agent"),
            ("sam", "1032", "supervisor"),
            ("root", "1033", "admin"),
        ]:
            create_agent(
                session,
                username=username,
                display_name=username.title(),
                agent_number=number,
                password=PASSWORD,
                role=role,
                skills=["support"],
                languages=["en"],
            )
    yield app


def login(client: FlaskClient, username: str = "alice", password: str = PASSWORD) -> Any:
    return client.post("/api/login", json={"username": username, "password": password})


def session_cookie(response: Any) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def cookie_expires(set_cookie: str) -> datetime:
    for part in set_cookie.split("; "):
        if part.lower().startswith("expires="):
            return parsedate_to_datetime(part.split("=", 1)[1])
    raise AssertionError(f"no Expires in {set_cookie}")


def set_active(app: Flask, username: str, active: bool) -> None:
    with app.extensions["callcenter"].database.session() as session:
        session.scalars(select(Agent).where(Agent.username == username)).one().active = active


def test_login_sets_a_protected_session_cookie_for_session_hours(web: Flask) -> None:
    client = web.test_client()
    assert client.get("/api/me").status_code == 401

    response = login(client, "  Alice ")

    assert response.status_code == 200
    agent = response.get_json()["agent"]
    assert (agent["username"], agent["role"], agent["number"]) == ("alice", "agent", "1031")
    assert "password" not in response.get_data(as_text=True)
    cookie = session_cookie(response)
    attributes = {part.split("=")[0].lower() for part in cookie.split("; ")[1:]}
    assert {"httponly", "secure", "expires", "path"} <= attributes
    assert "SameSite=Lax" in cookie.split("; ")
    expected = datetime.now(UTC) + timedelta(hours=12)
    assert abs((cookie_expires(cookie) - expected).total_seconds()) < 120
    assert web.permanent_session_lifetime == timedelta(hours=12)

    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.get_json() == {"agent": agent}


def test_the_cookie_lifetime_follows_the_setting(make_app: Callable[..., Flask]) -> None:
    app = with_auth(make_app(session_hours=2))
    with app.extensions["callcenter"].database.session() as session:
        create_agent(
            session, username="bob", display_name="Bob", agent_number="1040", password=PASSWORD
        )
    response = login(app.test_client(), "bob")
    assert response.status_code == 200
    expected = datetime.now(UTC) + timedelta(hours=2)
    assert abs((cookie_expires(session_cookie(response)) - expected).total_seconds()) < 120


def test_a_login_ends_session_hours_after_it_began(
    web: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web.test_client()
    started = datetime.now(UTC).timestamp()
    monkeypatch.setattr(auth, "_epoch", lambda: started)
    assert login(client).status_code == 200

    monkeypatch.setattr(auth, "_epoch", lambda: started + 11.9 * 3600)
    assert client.get("/api/me").status_code == 200  # requests do not extend the login
    monkeypatch.setattr(auth, "_epoch", lambda: started + 12 * 3600 + 5)
    assert client.get("/api/me").status_code == 401
    assert client.get("/probe/any").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_answer(web: Flask) -> None:
    client = web.test_client()
    wrong = login(client, "alice", "not-the-password")
    unknown = login(client, "nobody", PASSWORD)

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.get_json() == {"error": "invalid username or password"}
        assert "Set-Cookie" not in response.headers
    assert wrong.get_data() == unknown.get_data()
    assert client.get("/api/me").status_code == 401


def test_login_and_logout_only_accept_json(web: Flask) -> None:
    client = web.test_client()
    form = client.post("/api/login", data={"username": "alice", "password": PASSWORD})
    assert form.status_code == 415
    plain = client.post(
        "/api/login",
        data='{"username": "alice", "password": "secret-password"}',
        content_type="text/plain",
    )
    assert plain.status_code == 415
    assert client.get("/api/me").status_code == 401

    for body in (
        "{not json",
        "[]",
        '"alice"',
        '{"username": "alice"}',
        '{"username": "alice", "password": 12345678}',
        '{"username": "", "password": "x"}',
        '{"username": "alice", "password": "' + "x" * 5000 + '"}',
    ):
        bad = client.post("/api/login", data=body, content_type="application/json")
        assert bad.status_code == 400, body
        assert "error" in bad.get_json()
    assert client.get("/api/me").status_code == 401

    assert login(client).status_code == 200
    assert client.post("/api/logout", data={}).status_code == 415  # a cross-site form
    assert client.get("/api/me").status_code == 200


def test_logout_ends_the_session(web: Flask) -> None:
    client = web.test_client()
    assert login(client).status_code == 200

    response = client.post("/api/logout", json={})

    assert response.status_code == 204
    assert cookie_expires(session_cookie(response)).year == 1970  # the browser drops it
    assert client.get("/api/me").status_code == 401
    assert client.post("/api/logout", json={}).status_code == 204  # and again: harmless


def test_login_starts_a_fresh_session(web: Flask) -> None:
    client = web.test_client()
    with client.session_transaction() as before:
        before["agent_id"] = 999
        before["planted"] = "by someone else"

    assert login(client, "sam").status_code == 200

    with client.session_transaction() as after:
        assert "planted" not in after
        assert after["role"] == "supervisor"
        assert after["agent_id"] != 999


def test_roles_are_ordered_agent_supervisor_admin(web: Flask) -> None:
    expected = {
        None: {"any": 401, "supervisor": 401, "admin": 401},
        "alice": {"any": 200, "supervisor": 403, "admin": 403},
        "sam": {"any": 200, "supervisor": 200, "admin": 403},
        "root": {"any": 200, "supervisor": 200, "admin": 200},
    }
    for username, statuses in expected.items():
        client = web.test_client()
        if username:
            assert login(client, username).status_code == 200
        got = {path: client.get(f"/probe/{path}").status_code for path in statuses}
        assert got == statuses, username
    refused = web.test_client()
    assert login(refused).status_code == 200
    assert refused.get("/probe/admin").get_json() == {"error": "requires the admin role"}
    with pytest.raises(ValueError, match="unknown role"):
        auth.login_required("owner")


def test_five_failures_slow_the_username_from_that_address_only(web: Flask) -> None:
    now = [1000.0]
    web.extensions["auth_throttle"].clock = lambda: now[0]
    client = web.test_client()

    for _ in range(5):
        assert login(client, "alice", "guess-guess").status_code == 401
    slowed = login(client, "ALICE", PASSWORD)  # even the right password waits its turn

    assert slowed.status_code == 429
    assert 0 < int(slowed.headers["Retry-After"]) <= 2
    assert "Set-Cookie" not in slowed.headers
    assert login(client, "sam").status_code == 200  # other usernames are not affected
    elsewhere = web.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert login(elsewhere, "alice").status_code == 200  # nor is the owner at their desk
    now[0] += 1
    assert login(client, "alice").status_code == 429
    now[0] += 2
    assert login(client, "alice").status_code == 200


def test_failures_spread_out_or_forgiven_by_a_success_do_not_block(web: Flask) -> None:
    now = [1000.0]
    web.extensions["auth_throttle"].clock = lambda: now[0]
    client = web.test_client()
    for _ in range(4):
        assert login(client, "alice", "guess-guess").status_code == 401
    now[0] += 301  # those four are now out of the window
    for _ in range(4):
        assert login(client, "alice", "guess-guess").status_code == 401
    assert login(client, "alice").status_code == 200
    for _ in range(4):
        assert login(client, "alice", "guess-guess").status_code == 401
    assert login(client, "alice").status_code == 200
    # Unknown usernames are throttled the same way (the answer reveals nothing).
    for _ in range(5):
        assert login(client, "nobody", "guess-guess").status_code == 401
    assert login(client, "nobody", "guess-guess").status_code == 429


def test_a_deactivated_agent_is_logged_out_and_cannot_log_in(web: Flask) -> None:
    client = web.test_client()
    cookie = session_cookie(login(client, "sam")).split(";")[0]

    def agent_of_cookie() -> Agent | None:
        with web.test_request_context("/socket.io/", headers={"Cookie": cookie}):
            return auth.current_agent()

    found = agent_of_cookie()
    assert found is not None and found.username == "sam"

    set_active(web, "sam", False)

    assert agent_of_cookie() is None
    assert client.get("/api/me").status_code == 401
    assert client.get("/probe/any").status_code == 401
    refused = login(client, "sam")
    assert refused.status_code == 401
    assert refused.get_json() == {"error": "invalid username or password"}
    with web.extensions["callcenter"].database.session() as session:
        assert authenticate(session, "sam", PASSWORD) is None
        assert session.scalar(select(func.count()).select_from(Agent)) == 3

    set_active(web, "sam", True)
    assert agent_of_cookie() is not None  # the same session works again once reactivated


def test_current_agent_is_none_without_a_session(web: Flask) -> None:
    with web.test_request_context("/"):
        assert auth.current_agent() is None
