"""Tickets: opened from a call with a promised deadline, worked through their statuses with
every change kept, seen by the owner's team only, shown on the caller's next screen-pop, and
their owners reminded before and after the deadline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import LiveServer
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_agent_socket import Console, team  # noqa: F401

from callcenter.calls.records import open_call
from callcenter.care.board import wallboard_counts
from callcenter.care.models import Ticket, TicketEvent
from callcenter.care.ticket_reminders import due_reminders
from callcenter.care.tickets import open_survey_ticket
from callcenter.models import Call, CallOffer
from callcenter.people.agents import create_agent
from callcenter.people.customers import import_customers_csv
from callcenter.screenpop import offer_payload

PASSWORD = "correct horse battery"
CALL = "CA" + "1" * 32
REPAIRS_CALL = "CA" + "3" * 32
NUMBER = "+8613800138000"


@pytest.fixture
def world(app: Flask, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """amy and bob (support), rita (repairs only), lead (supervisor); a support call amy took
    from a known customer, and a repairs call rita took."""
    services = app.extensions["callcenter"]
    csv = tmp_path / "customers.csv"
    csv.write_text(f"name,phone,tier,language,account,notes\nWang Fang,{NUMBER},vip,en,A100,\n")
    with services.database.session() as session:
        import_customers_csv(session, csv)
        agents = {
            name: create_agent(session, username=name, display_name=name.title(),
                               agent_number=number, password=PASSWORD, role=role,
                               skills=skills, languages=["en"]).id
            for name, number, role, skills in [
                ("amy", "1024", "agent", ["support"]), ("bob", "1025", "agent", ["support"]),
                ("rita", "1026", "agent", ["repairs"]),
                ("lead", "1030", "supervisor", ["support"]),
            ]
        }  # fmt: skip
        for sid, agent, queue in ((CALL, "amy", "support"), (REPAIRS_CALL, "rita", "repairs")):
            call = open_call(session, call_sid=sid, from_raw=NUMBER, to="+864008001234",
                             flow="main", default_language="en")  # fmt: skip
            call.queue, call.agent_id, call.outcome = queue, agents[agent], "answered"
    yield {"agents": agents, "services": services}


def login(client: FlaskClient, username: str) -> None:
    client.post("/api/logout", json={})
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def complaint(**extra: Any) -> dict[str, Any]:
    return {"category": "complaint", "kind": "venting", "priority": "high",
            "description": "Third repair in a month; wants a manager.", "call_sid": CALL,
            **extra}  # fmt: skip


def test_a_complaint_from_a_call_carries_its_promised_deadline(
    world: dict[str, Any], client: FlaskClient, clock: Any
) -> None:
    login(client, "amy")
    before = datetime.now(UTC)
    answer = client.post("/api/tickets", json=complaint())
    assert answer.status_code == 201, answer.get_json()
    ticket = answer.get_json()["ticket"]
    assert answer.get_json()["created"] is True
    # config.yaml: venting complaints (发泄型) are promised within 12 hours.
    assert ticket["promised_hours"] == 12
    due = datetime.fromisoformat(ticket["due_at"])
    assert timedelta(hours=12) <= due - before <= timedelta(hours=12, minutes=1)
    assert ticket["promise"].startswith(
        "Complaint (Venting (发泄型)): we promise an answer within 12 hours, by "
    )
    assert ticket["customer"]["name"] == "Wang Fang" and ticket["caller_number"] == NUMBER
    assert ticket["queue"] == "support" and ticket["owner"]["username"] == "amy"
    assert ticket["status"] == "open" and ticket["priority"] == "high"
    assert [call["call_sid"] for call in ticket["calls"]] == [CALL]
    assert [event["kind"] for event in ticket["history"]] == ["created", "call"]

    repair = client.post("/api/tickets", json={"category": "repair", "description": "Screen",
                                               "call_sid": CALL})  # fmt: skip
    assert repair.get_json()["ticket"]["promised_hours"] == 72
    assert repair.get_json()["ticket"]["priority"] == "normal"  # the configured default


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"category": "is required", "description": "is required"}),
        ({"category": "complaint", "description": "x"},
         {"kind": "is required for complaint: rational, venting, compensation"}),
        ({"category": "complaint", "kind": "angry", "description": "x"},
         {"kind": "must be one of rational, venting, compensation"}),
        ({"category": "repair", "kind": "venting", "description": "x"},
         {"kind": "repair tickets have no kind"}),
        ({"category": "fraud", "description": "x"},
         {"category": "must be one of repair, return, billing, complaint, followup"}),
        ({"category": "repair", "description": "   ", "priority": "asap"},
         {"description": "is required", "priority": "must be one of low, normal, high, urgent"}),
        ({"category": "repair", "description": 5, "owner_id": "1"},
         {"description": "must be text", "owner_id": "must be an id (a positive integer)"}),
        ({"category": "repair", "description": "x" * 4001},
         {"description": "must be at most 4000 characters"}),
        ({"category": "repair", "description": "x", "call_sid": "CA123"},
         {"call_sid": "must be a call SID (CA + 32 hex digits)"}),
        ({"category": "repair", "description": "x", "call_sid": "CA" + "9" * 32},
         {"call_sid": "no such call of yours"}),
        ({"category": "repair", "description": "x", "customer_id": 999},
         {"customer_id": "no such customer"}),
    ],
)  # fmt: skip
def test_fields_are_validated_one_message_each(
    world: dict[str, Any], client: FlaskClient, body: dict[str, Any], errors: dict[str, str]
) -> None:
    login(client, "amy")
    answer = client.post("/api/tickets", json=body)
    assert answer.status_code == 400
    assert answer.get_json() == {"errors": errors}
    with world["services"].database.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 0


def test_a_double_click_opens_one_ticket(world: dict[str, Any], client: FlaskClient) -> None:
    login(client, "amy")
    first = client.post("/api/tickets", json=complaint(request_id="form-7f3a"))
    again = client.post("/api/tickets", json=complaint(request_id="form-7f3a"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["created"] is False
    assert again.get_json()["ticket"]["id"] == first.get_json()["ticket"]["id"]
    other = client.post("/api/tickets", json=complaint(request_id="form-8000"))
    assert other.status_code == 201
    login(client, "bob")  # another agent's form ids are their own
    theirs = client.post("/api/tickets", json=complaint(request_id="form-7f3a", call_sid=None))
    assert theirs.status_code == 201
    with world["services"].database.session() as session:
        assert session.scalar(select(func.count()).select_from(Ticket)) == 3


def test_status_changes_notes_and_reassignment_are_all_kept(
    world: dict[str, Any], client: FlaskClient
) -> None:
    login(client, "amy")
    ticket_id = client.post("/api/tickets", json=complaint()).get_json()["ticket"]["id"]
    url = f"/api/tickets/{ticket_id}"
    step = client.patch(url, json={"status": "in_progress", "note": "Called the workshop"})
    assert step.status_code == 200 and step.get_json()["ticket"]["status"] == "in_progress"
    bad = client.patch(url, json={"status": "done", "category": "repair"})
    assert bad.status_code == 400
    assert bad.get_json() == {
        "errors": {
            "category": "cannot be changed",
            "status": "must be one of open, in_progress, resolved, closed",
        }
    }
    handed = client.patch(url, json={"owner_id": world["agents"]["bob"]})  # a teammate
    assert handed.get_json()["ticket"]["owner"]["username"] == "bob"
    # amy no longer owns it: handing bob's ticket on is for supervisors.
    refused = client.patch(url, json={"owner_id": world["agents"]["lead"]})
    assert refused.status_code == 400
    assert refused.get_json()["errors"] == {
        "owner_id": "only supervisors reassign someone else's ticket"
    }
    assert client.patch(url, json={"owner_id": world["agents"]["amy"]}).status_code == 200  # take
    assert client.patch(url, json={"status": "resolved"}).get_json()["ticket"]["resolved_at"]
    closed = client.patch(url, json={"status": "closed"}).get_json()["ticket"]
    assert closed["status"] == "closed" and closed["closed_at"]
    reopen = client.patch(url, json={"status": "in_progress"})
    assert reopen.get_json() == {"errors": {"status": "only supervisors reopen a closed ticket"}}
    assert client.patch(url, json={"status": "open"}).get_json() == {
        "errors": {"status": "cannot go from closed to open"}
    }
    login(client, "lead")
    assert client.patch(url, json={"status": "in_progress"}).status_code == 200
    history = client.get(url).get_json()["ticket"]["history"]
    assert [(e["kind"], e["old"], e["new"]) for e in history] == [
        ("created", None, "open"),
        ("call", None, CALL),
        ("status", "open", "in_progress"),
        ("note", None, None),
        ("reassigned", "amy", "bob"),
        ("reassigned", "bob", "amy"),
        ("status", "in_progress", "resolved"),
        ("status", "resolved", "closed"),
        ("status", "closed", "in_progress"),
    ]
    assert history[3]["note"] == "Called the workshop"
    assert history[-1]["agent"]["username"] == "lead"


def test_agents_see_their_teams_tickets_and_supervisors_all(
    world: dict[str, Any], client: FlaskClient
) -> None:
    login(client, "amy")
    support = client.post("/api/tickets", json=complaint()).get_json()["ticket"]["id"]
    login(client, "rita")
    repairs = client.post("/api/tickets", json={
        "category": "repair", "description": "Fridge", "call_sid": REPAIRS_CALL,
    }).get_json()["ticket"]["id"]  # fmt: skip
    # rita cannot name amy's call, nor give a ticket to someone outside her team.
    assert client.post("/api/tickets", json=complaint()).get_json() == {
        "errors": {"call_sid": "no such call of yours"}
    }
    outside = client.post("/api/tickets", json={"category": "repair", "description": "x",
                                                "owner_id": world["agents"]["amy"]})  # fmt: skip
    assert outside.get_json()["errors"]["owner_id"].startswith("agents give tickets only to")

    def ids(username: str, scope: str = "team") -> list[int]:
        login(client, username)
        answer = client.get(f"/api/tickets?scope={scope}")
        assert answer.status_code == 200, answer.get_json()
        return [ticket["id"] for ticket in answer.get_json()["tickets"]]

    assert ids("amy") == [support]
    assert ids("bob") == [support]  # amy's teammate (both have the support skill)
    assert ids("bob", "mine") == []
    assert ids("rita") == [repairs]
    assert sorted(ids("lead", "all")) == sorted([support, repairs])
    login(client, "rita")
    assert client.get(f"/api/tickets/{support}").status_code == 403
    assert client.patch(f"/api/tickets/{support}", json={"note": "x"}).status_code == 403
    assert client.get("/api/tickets/99999").status_code == 404
    assert client.get("/api/tickets?scope=everyone").get_json() == {
        "errors": {"scope": "must be one of mine, team, overdue, all"}
    }
    client.post("/api/logout", json={})
    assert client.get("/api/tickets").status_code == 401
    assert client.post("/api/tickets", json=complaint()).status_code == 401
    assert client.get("/tickets").status_code == 302


def test_the_screen_pop_lists_the_callers_open_tickets_and_ranks_articles_by_them(
    world: dict[str, Any], client: FlaskClient
) -> None:
    from callcenter.knowledge.models import KbArticle

    services = world["services"]
    login(client, "amy")
    ticket = client.post("/api/tickets", json=complaint()).get_json()["ticket"]
    closed = client.post("/api/tickets", json={"category": "billing", "description": "paid",
                                               "call_sid": CALL}).get_json()["ticket"]  # fmt: skip
    client.patch(f"/api/tickets/{closed['id']}", json={"status": "closed"})
    with services.database.session() as session:
        session.add(KbArticle(id="complaint-handling", title="How we handle complaints",
                              language="en", tags=[], intents=["ticket.complaint"],
                              summary="Within 24 hours.", body="", checksum="x",
                              path="x.md"))  # fmt: skip
    with services.database.session() as session:
        again = open_call(session, call_sid="CA" + "4" * 32, from_raw=NUMBER,
                          to="+864008001234", flow="main", default_language="en")  # fmt: skip
        again.queue = "support"
        session.flush()
        payload = offer_payload(session, services.settings, again, datetime.now(UTC))
    assert [item["id"] for item in payload["tickets"]] == [ticket["id"]]
    assert payload["tickets"][0]["category_label"] == "Complaint (Venting (发泄型))"
    assert payload["tickets"][0]["overdue"] is False
    assert [article["id"] for article in payload["knowledge"]] == ["complaint-handling"]


def test_owners_are_reminded_once_before_and_once_after_the_deadline(
    world: dict[str, Any], client: FlaskClient
) -> None:
    services = world["services"]
    settings = services.settings
    login(client, "amy")
    ticket_id = client.post("/api/tickets", json=complaint()).get_json()["ticket"]["id"]
    amy = world["agents"]["amy"]
    with services.database.session() as session:
        due = session.get(Ticket, ticket_id).due_at
    with services.database.session() as session:
        assert due_reminders(session, settings, due - timedelta(hours=3)) == []
        assert due_reminders(session, settings, due - timedelta(hours=1)) == [
            (amy, ticket_id, "due-soon")
        ]
        assert due_reminders(session, settings, due - timedelta(minutes=30)) == []
        counts = wallboard_counts(session, settings, due - timedelta(minutes=30))
        assert counts["tickets"] == {"open": 1, "overdue": 0, "due_soon": 1}
    with services.database.session() as session:
        assert due_reminders(session, settings, due + timedelta(seconds=1)) == [
            (amy, ticket_id, "overdue")
        ]
        assert due_reminders(session, settings, due + timedelta(hours=5)) == []
        counts = wallboard_counts(session, settings, due + timedelta(seconds=1))
        assert counts["tickets"] == {"open": 1, "overdue": 1, "due_soon": 0}
    login(client, "bob")
    assert client.get("/api/tickets?scope=overdue").get_json()["tickets"] == []  # not yet
    login(client, "lead")
    counts = client.get("/api/care/counts").get_json()
    assert counts["tickets"]["open"] == 1 and counts["followups"]["open"] == 0
    login(client, "amy")
    assert client.get("/api/care/counts").status_code == 403


def test_a_low_survey_score_opens_one_follow_up_ticket(world: dict[str, Any]) -> None:
    services = world["services"]
    now = datetime.now(UTC)
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == CALL))
        assert open_survey_ticket(session, services.settings, call, 4, now) is None
        ticket = open_survey_ticket(session, services.settings, call, 2, now)
        assert ticket is not None
        again = open_survey_ticket(session, services.settings, call, 1, now)
        assert again.id == ticket.id  # once per call, whatever the survey sends again
        assert (ticket.category, ticket.priority, ticket.owner_id, ticket.source) == (
            "followup", "high", world["agents"]["amy"], "survey",
        )  # fmt: skip
        assert ticket.due_at == now + timedelta(hours=24)
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
        kinds = session.scalars(
            select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
        ).all()
        assert kinds == ["created", "call"]
        assert session.scalar(select(func.count()).select_from(CallOffer)) == 0


def test_the_owner_hears_ticket_due_on_their_console(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    services = live_server.app.extensions["callcenter"]
    amy = Console(live_server, "amy")
    bob = Console(live_server, "bob")
    for console in (amy, bob):
        console.client.on("ticket:due", console._recorder("ticket:due"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        bob.wait_for("agent:state")
        # The tickets come due once both consoles listen (the dispatcher's own housekeeping
        # runs every second: it may be the pass that tells them).
        now = datetime.now(UTC)
        with services.database.session() as session:
            for owner, due in (("amy", now + timedelta(hours=1)),
                               ("bob", now - timedelta(hours=1))):  # fmt: skip
                session.add(Ticket(category="repair", priority="normal", status="open",
                                   description="Fridge", owner_id=team[owner], source="agent",
                                   created_at=now, updated_at=now, due_at=due))  # fmt: skip
        services.extras["care"].check()  # one housekeeping pass of the dispatcher
        soon = amy.wait_for("ticket:due", timeout=5)
        assert (soon["state"], soon["ticket"]["owner"]["username"]) == ("due-soon", "amy")
        late = bob.wait_for("ticket:due", timeout=5)
        assert (late["state"], late["ticket"]["overdue"]) == ("overdue", True)
        services.extras["care"].check()  # told once
        with pytest.raises(AssertionError):
            amy.wait_for("ticket:due", timeout=1)
    finally:
        amy.close()
        bob.close()


@pytest.mark.parametrize(
    ("category", "kind", "language", "article"),
    [
        ("repair", None, "en", "ticket-repair"),
        ("return", None, "en", "ticket-return"),
        ("billing", None, "en", "ticket-billing"),
        ("complaint", "compensation", "en", "ticket-complaint"),
        ("followup", None, "en", "ticket-followup"),
        ("repair", None, "zh-CN", "ticket-repair-zh"),
        ("complaint", "venting", "zh-CN", "ticket-complaint-zh"),
    ],
)
def test_the_demo_knowledge_base_suggests_the_open_tickets_article_first(
    world: dict[str, Any],
    client: FlaskClient,
    category: str,
    kind: str | None,
    language: str,
    article: str,
) -> None:
    """With the repository's knowledge_base/ (what `make run` indexes), a caller with an open
    ticket of a category is suggested that category's article first, in their language."""
    from conftest import sync_knowledge_base

    services = world["services"]
    sync_knowledge_base(client.application)
    login(client, "amy")
    body = {"category": category, "description": "called about it", "call_sid": CALL,
            **({"kind": kind} if kind else {})}  # fmt: skip
    answer = client.post("/api/tickets", json=body)
    assert answer.status_code == 201, answer.get_json()
    with services.database.session() as session:
        again = open_call(session, call_sid="CA" + "4" * 32, from_raw=NUMBER,
                          to="+864008001234", flow="main", default_language=language)  # fmt: skip
        again.language = language
        again.queue = "support"
        session.flush()
        payload = offer_payload(session, services.settings, again, datetime.now(UTC))
    assert payload["knowledge"], payload
    assert payload["knowledge"][0]["id"] == article
