"""Customer records over the API: search by name, any phone format or account code; create and
edit with field errors; who may set what; every change in the history; merging two records;
a double click making one customer; and erasure leaving nothing of the person behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, Text, select, text
from sqlalchemy.types import JSON

from callcenter.care.models import Ticket
from callcenter.crm.models import CustomerChange
from callcenter.db import Base
from callcenter.knowledge.usage import record_lookup
from callcenter.models import (
    AuditEntry,
    Call,
    CallRecording,
    Customer,
    RecordingDownload,
    Voicemail,
)
from callcenter.people.agents import create_agent

PASSWORD = "correct horse battery"
NUMBER = "+8613800138000"
OTHER = "+8613900139000"


@pytest.fixture
def people(app: Flask) -> Iterator[dict[str, int]]:
    """amy (agent), lead (supervisor), root (admin)."""
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        ids = {
            name: create_agent(session, username=name, display_name=name.title(),
                               agent_number=number, password=PASSWORD, role=role,
                               skills=["support"], languages=["en"]).id
            for name, number, role in [("amy", "1024", "agent"), ("lead", "1030", "supervisor"),
                                       ("root", "1099", "admin")]
        }  # fmt: skip
        session.commit()
    yield ids


def login(client: FlaskClient, username: str) -> None:
    client.post("/api/logout", json={})
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def create(client: FlaskClient, **fields: Any) -> Any:
    return client.post("/api/customers", json={"name": "Li Lei", "phones": [NUMBER], **fields})


# -- search -----------------------------------------------------------------------------------


def test_customers_are_found_by_name_any_phone_format_and_account(
    client: FlaskClient, people: dict[str, int]
) -> None:
    login(client, "amy")
    made = create(client, account="acme-1001", language="en")
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["customer"]["account"] == "ACME-1001"
    create(client, name="Han Meimei", phones=[OTHER])

    def found(q: str) -> list[str]:
        answer = client.get("/api/customers", query_string={"q": q})
        assert answer.status_code == 200
        return [c["name"] for c in answer.get_json()["customers"]]

    assert found("lei") == ["Li Lei"]
    assert found("+86 138 0013 8000") == ["Li Lei"]
    assert found("+86 (138) 0013-8000") == ["Li Lei"]
    assert found("0013 8000") == ["Li Lei"]
    assert found("8613800138000") == ["Li Lei"]
    assert found(" acme-1001 ") == ["Li Lei"]
    assert found("139") == []  # too short to be a number, no name has it
    assert found("nobody") == []
    assert found("%") == []  # LIKE wildcards are text


def test_search_needs_a_login(client: FlaskClient, people: dict[str, int]) -> None:
    assert client.get("/api/customers?q=li").status_code == 401
    assert client.post("/api/customers", json={"name": "x"}).status_code == 401


# -- create and edit --------------------------------------------------------------------------


def test_field_errors_name_each_field(client: FlaskClient, people: dict[str, int]) -> None:
    login(client, "lead")
    answer = client.post(
        "/api/customers",
        json={"name": " ", "phones": ["12345"], "tier": "gold", "language": "fr",
              "account": "no spaces!", "notes": 5, "account_manager_id": 999999,
              "colour": "red"},
    )  # fmt: skip
    assert answer.status_code == 400
    errors = answer.get_json()["errors"]
    assert set(errors) == {"name", "phones", "tier", "language", "account", "notes",
                           "account_manager_id", "colour"}  # fmt: skip
    assert "not a valid phone number" in errors["phones"]
    assert errors["tier"] == "must be one of vip, normal, potential"
    with app_session(client) as session:
        assert session.scalar(select(Customer.id)) is None

    create(client)
    taken = create(client, name="Someone Else")
    assert taken.status_code == 400
    assert taken.get_json()["errors"]["phones"].startswith(f"{NUMBER} already belongs to")
    customer_id = create(client, name="Han", phones=[OTHER]).get_json()["customer"]["id"]
    patched = client.patch(f"/api/customers/{customer_id}", json={"phones": ["+86 138 0013 8000"]})
    assert patched.status_code == 400
    assert "already belongs" in patched.get_json()["errors"]["phones"]
    assert client.patch("/api/customers/424242", json={"name": "x"}).status_code == 404
    assert client.patch(f"/api/customers/{customer_id}", json=[1]).status_code == 400


def app_session(client: FlaskClient) -> Any:
    return client.application.extensions["callcenter"].database.session()


def test_agents_edit_but_only_supervisors_set_tier_and_account_manager(
    client: FlaskClient, people: dict[str, int]
) -> None:
    login(client, "amy")
    assert create(client, tier="vip").status_code == 403
    assert create(client, account_manager_id=people["amy"]).status_code == 403
    made = create(client, tier="normal")  # the default: nothing is being set
    assert made.status_code == 201, made.get_json()
    customer_id = made.get_json()["customer"]["id"]
    url = f"/api/customers/{customer_id}"
    for fields in ({"tier": "vip"}, {"account_manager_id": people["amy"]}):
        refused = client.patch(url, json=fields)
        assert refused.status_code == 403
        assert refused.get_json() == {
            "error": "only supervisors set the tier and the account manager"
        }
    fields = {"name": "Li  Lei ", "phones": [NUMBER, "+86 139 0013 9000"],
              "notes": "prefers mornings", "language": "zh-cn"}  # fmt: skip
    edited = client.patch(url, json=fields)
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["changed"] == ["phones", "language", "notes"]
    assert edited.get_json()["customer"]["phones"] == [NUMBER, OTHER]
    assert edited.get_json()["customer"]["language"] == "zh-CN"

    for who in ("lead", "root"):
        login(client, who)
        set_ = client.patch(url, json={"tier": "vip", "account_manager_id": people["amy"]})
        assert set_.status_code == 200, set_.get_json()
        client.patch(url, json={"tier": "normal", "account_manager_id": None})
    login(client, "lead")
    client.patch(url, json={"tier": "vip", "account_manager_id": people["amy"]})
    file = client.get(url).get_json()
    assert file["customer"]["tier"] == "vip"
    assert file["customer"]["account_manager"]["number"] == "1024"

    history = [(h["actor"], h["field"], h["old"], h["new"]) for h in reversed(file["history"])]
    assert history[0] == ("amy", "created", None, f"Li Lei ({NUMBER})")
    assert ("amy", "phones", NUMBER, f"{NUMBER}, {OTHER}") in history
    assert ("amy", "notes", "", "prefers mornings") in history
    assert history[-2:] == [("lead", "tier", "normal", "vip"),
                            ("lead", "account_manager_id", None, str(people["amy"]))]  # fmt: skip
    with app_session(client) as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == "lead").order_by(AuditEntry.id)
        ).all()
    assert actions == ["customer.tier", "customer.account_manager_id"] * 3


def test_a_double_click_makes_one_customer(client: FlaskClient, people: dict[str, int]) -> None:
    login(client, "amy")
    first = create(client)
    again = create(client)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["customer"]["id"] == first.get_json()["customer"]["id"]
    assert again.get_json()["created"] is False

    # Two clicks at the same moment, from two threads: still one customer.
    app = client.application
    answers: list[int] = []

    def click() -> None:
        other = app.test_client()
        login(other, "amy")
        answers.append(create(other, name="Han Meimei", phones=[OTHER]).status_code)

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(answers) == [200, 201]
    with app_session(client) as session:
        assert session.scalar(select(text("count(*)")).select_from(Customer)) == 2


# -- merge ------------------------------------------------------------------------------------


def test_merging_moves_everything_to_the_survivor(
    app: Flask, client: FlaskClient, people: dict[str, int]
) -> None:
    login(client, "amy")
    keep = create(client).get_json()["customer"]["id"]
    other = create(client, name="Lei Li", phones=[OTHER], account="A-7", notes="old record")
    other_id = other.get_json()["customer"]["id"]
    with app_session(client) as session:
        from callcenter.calls.records import open_call

        call = open_call(session, call_sid="CA" + "7" * 32, from_raw=OTHER,
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        session.flush()
        assert call.customer_id == other_id
        session.add(Voicemail(mailbox="support", call_sid=call.call_sid,
                              recording_sid="RE" + "7" * 32, customer_id=other_id,
                              from_number=OTHER))  # fmt: skip
        session.add(Ticket(category="complaint", priority="high", customer_id=other_id,
                           due_at=datetime.now(UTC)))  # fmt: skip
        session.commit()

    assert client.post(f"/api/customers/{keep}/merge", json={"other_id": keep}).status_code == 409
    assert client.post(f"/api/customers/{keep}/merge", json={"other_id": "x"}).status_code == 400
    merged = client.post(f"/api/customers/{keep}/merge", json={"other_id": other_id})
    assert merged.status_code == 200, merged.get_json()
    customer = merged.get_json()["customer"]
    assert (customer["name"], customer["phones"]) == ("Li Lei", [NUMBER, OTHER])
    assert (customer["account"], customer["notes"]) == ("A-7", "old record")
    assert client.get(f"/api/customers/{other_id}").status_code == 404
    with app_session(client) as session:
        assert session.scalar(select(Call.customer_id)) == keep
        assert session.scalar(select(Voicemail.customer_id)) == keep
        assert session.scalar(select(Ticket.customer_id)) == keep
        fields = session.scalars(
            select(CustomerChange.field).where(CustomerChange.customer_id == keep)
        ).all()
    assert fields.count("created") == 2  # both records' histories are kept
    assert "merged" in fields
    file = client.get(f"/api/customers/{keep}").get_json()
    assert [c["call_sid"] for c in file["calls"]] == ["CA" + "7" * 32]
    assert len(file["voicemails"]) == 1


# -- erasure ----------------------------------------------------------------------------------


def every_text(app: Flask) -> str:
    """Every text and JSON value of every table, as one dump."""
    parts: list[str] = []
    with app_session_of(app) as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in session.execute(select(*columns)):
                parts.extend(json.dumps(value, ensure_ascii=False) for value in row)
    return "\n".join(parts)


def app_session_of(app: Flask) -> Any:
    return app.extensions["callcenter"].database.session()


def test_erasure_leaves_no_personal_data_in_the_database_or_recordings(
    app: Flask, client: FlaskClient, people: dict[str, int], phone: Any, clock: Any
) -> None:
    login(client, "amy")
    customer_id = create(client, name="Zhang Wuji", account="ZW-1",
                         notes="allergic to hold music").get_json()["customer"]["id"]  # fmt: skip
    client.patch(f"/api/customers/{customer_id}", json={"phones": [NUMBER, OTHER]})
    # A real call after hours: greeted by name, a voicemail left.
    clock.now = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
    result = phone(from_="+86 138 0013 8000", inputs=["1"], record_seconds=4)
    assert result.recordings
    settings = app.extensions["callcenter"].settings
    recordings = Path(settings.path(settings.recordings_dir))
    with app_session_of(app) as session:
        call = session.scalars(select(Call)).one()
        assert call.customer_id == customer_id
        call.wrapup_notes = "Zhang Wuji asked us to call 138 0013 8000 back"
        call.agent_id = people["amy"]
        voicemail = session.scalars(select(Voicemail)).one()
        files = []
        for sid, purpose in ((voicemail.recording_sid, "voicemail"), ("RE" + "5" * 32, "call")):
            job = session.scalar(
                select(RecordingDownload).where(RecordingDownload.recording_sid == sid)
            ) or RecordingDownload(recording_sid=sid, call_sid=call.call_sid, purpose=purpose,
                                   source_url="https://api.twilio.com/x")  # fmt: skip
            job.status, job.path = "done", f"2026/11/25/{sid}.wav"
            session.add(job)
            (recordings / job.path).parent.mkdir(parents=True, exist_ok=True)
            (recordings / job.path).write_bytes(b"RIFF voice of Zhang Wuji")
            files.append(recordings / job.path)
        recording = CallRecording(
            call_sid=call.call_sid,
            leg_sid="CA" + "6" * 32,
            recording_sid="RE" + "5" * 32,
            customer_id=customer_id,
        )
        session.add(recording)
        record_lookup(session, action="send", source="console", call_sid=call.call_sid,
                      agent_id=people["amy"], article_id="warranty", to=NUMBER)  # fmt: skip
        call_sid = call.call_sid
        session.commit()
    ticket = client.post(
        "/api/tickets",
        json={
            "category": "complaint",
            "kind": "venting",
            "priority": "high",
            "call_sid": call_sid,
            "customer_id": customer_id,
            "description": "Zhang Wuji (+8613800138000) is upset",
        },
    )
    assert ticket.status_code == 201, ticket.get_json()
    dump = every_text(app)
    assert "Zhang Wuji" in dump and NUMBER in dump and "ZW-1" in dump  # the test can fail

    assert client.post(f"/api/customers/{customer_id}/erase", json={}).status_code == 403
    login(client, "lead")
    assert client.post(f"/api/customers/{customer_id}/erase", json={}).status_code == 403
    login(client, "root")
    erased = client.post(f"/api/customers/{customer_id}/erase", json={})
    assert erased.status_code == 200, erased.get_json()
    assert erased.get_json()["audio_files"] == 2

    dump = every_text(app)
    for personal in ("Zhang Wuji", "zhang wuji", NUMBER, OTHER, "8613800138000",
                     "13800138000", "138 0013 8000", "ZW-1", "allergic to hold music"):  # fmt: skip
        assert personal not in dump, personal
    assert all(not path.exists() for path in files)
    for path in recordings.rglob("*"):
        assert path.is_dir() or b"Zhang" not in path.read_bytes()

    # The counts stay: the call, the voicemail and the ticket are still there, anonymous.
    with app_session_of(app) as session:
        assert session.scalar(select(Customer.name).where(Customer.id == customer_id)) == (
            f"erased customer #{customer_id}"
        )
        assert session.scalar(select(Call.customer_id)) == customer_id
        assert session.scalar(select(Voicemail.from_number)) == "erased"
        assert session.scalar(select(text("count(*)")).select_from(Ticket)) == 1
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.erase")
        ).one()
        assert (entry.actor, entry.details["customer_id"]) == ("root", customer_id)
        downloads = session.scalars(select(RecordingDownload)).all()
        assert all(job.purged_at is not None for job in downloads)
    file = client.get(f"/api/customers/{customer_id}").get_json()
    assert [(h["field"], h["actor"]) for h in file["history"]] == [("erased", "root")]
    assert client.get("/api/customers", query_string={"q": NUMBER}).get_json()["customers"] == []


def test_the_command_erases_too(
    app: Flask, client: FlaskClient, people: dict[str, int], database_url: str
) -> None:
    from click.testing import CliRunner
    from conftest import ACCOUNT_SID, AUTH_TOKEN

    from callcenter.cli import main

    login(client, "amy")
    customer_id = create(client).get_json()["customer"]["id"]
    env = {"CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_SECRET_KEY": "cli-test-secret",
           "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}  # fmt: skip
    runner = CliRunner(mix_stderr=False)
    kept = runner.invoke(main, ["customers", "erase", str(customer_id)], env=env, input="n\n")
    assert kept.exit_code == 1
    assert NUMBER in every_text(app)
    answer = runner.invoke(main, ["customers", "erase", str(customer_id)], env=env, input="y\n")
    assert answer.exit_code == 0, answer.stderr
    assert f"erased customer #{customer_id}" in answer.stdout
    assert NUMBER not in every_text(app)
    with app_session_of(app) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "customer.erase")
        ).one()
        assert entry.actor == "command line"
    missing = runner.invoke(main, ["customers", "erase", "424242", "--yes"], env=env)
    assert missing.exit_code == 1
    assert "no such customer" in missing.stderr


def test_the_customer_file_shows_each_calls_survey_answers(
    client: FlaskClient, people: dict[str, int]
) -> None:
    login(client, "amy")
    customer_id = create(client).get_json()["customer"]["id"]
    with app_session(client) as session:
        from callcenter.calls.records import open_call

        call = open_call(session, call_sid="CA" + "8" * 32, from_raw=NUMBER,
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.csat, call.resolved = 2, False
        session.commit()
    calls = client.get(f"/api/customers/{customer_id}").get_json()["calls"]
    assert [(c["call_sid"], c["csat"], c["resolved"]) for c in calls] == [
        ("CA" + "8" * 32, 2, False)
    ]
