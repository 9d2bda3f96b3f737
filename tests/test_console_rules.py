"""What the console's reads may write, who sees voicemail notes, and how long after a call
its caller may still be texted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from conftest import sync_knowledge_base
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from test_call_recordings import REC, fetch, seed_voicemail, store_audio

from callcenter.calls.records import open_call
from callcenter.knowledge.models import KbLookup
from callcenter.models import Call, RecordingPlayback, utcnow
from callcenter.people.agents import create_agent

PASSWORD = "correct horse battery"
CALL = "CA" + "1" * 32
OTHER_CALL = "CA" + "2" * 32


@pytest.fixture
def world(app: Flask) -> Iterator[dict[str, int]]:
    """amy and bob (agents), lead (supervisor); amy's call CALL and bob's OTHER_CALL."""
    sync_knowledge_base(app)
    with app.extensions["callcenter"].database.session() as session:
        agents = {
            name: create_agent(session, username=name, display_name=name.title(),
                               agent_number=number, password=PASSWORD, role=role,
                               skills=["support"], languages=["en"]).id
            for name, number, role in [("amy", "1024", "agent"), ("bob", "1025", "agent"),
                                       ("lead", "1030", "supervisor")]
        }  # fmt: skip
        for sid, agent in ((CALL, "amy"), (OTHER_CALL, "bob")):
            call = open_call(session, call_sid=sid, from_raw="+8613900139000",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.queue, call.agent_id, call.outcome = "support", agents[agent], "answered"
    yield agents


def login(client: FlaskClient, username: str) -> None:
    client.post("/api/logout", json={})
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def count(app: Flask, model: Any) -> int:
    with app.extensions["callcenter"].database.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# -- reads that leave a trace ----------------------------------------------------------------

CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}


def test_a_link_on_another_site_records_no_lookup(
    app: Flask, world: dict[str, int], client: FlaskClient
) -> None:
    login(client, "amy")
    article = f"/api/kb/articles/warranty-coverage?call_sid={CALL}&via=suggestion"
    search = f"/api/kb/search?q=refund&call_sid={CALL}"
    for site in ("cross-site", "same-site", "none"):
        headers = {**CROSS_SITE, "Sec-Fetch-Site": site}
        assert client.get(article, headers=headers).status_code == 200
        assert client.get(search, headers=headers).status_code == 200
    assert count(app, KbLookup) == 0
    # The console's own fetches are recorded.
    own = {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert client.get(article, headers=own).status_code == 200
    assert client.get(search, headers=own).status_code == 200
    assert count(app, KbLookup) == 2


def test_a_link_on_another_site_neither_plays_nor_logs_a_recording(
    app: Flask, world: dict[str, int], client: FlaskClient
) -> None:
    store_audio(app, REC, CALL, "call")
    login(client, "amy")
    url = f"/api/recordings/{REC}"
    for site in ("cross-site", "same-site", "none"):
        response = client.get(url, headers={**CROSS_SITE, "Sec-Fetch-Site": site})
        assert response.status_code == 403
        assert response.get_json()["error"] == "recordings play only in the console"
    assert count(app, RecordingPlayback) == 0
    assert fetch(client, url).status_code == 200  # the console's <audio>: same-origin
    assert count(app, RecordingPlayback) == 1


# -- voicemail notes -------------------------------------------------------------------------


def test_handling_notes_are_seen_by_those_who_may_play_the_voicemail(
    app: Flask, world: dict[str, int], client: FlaskClient
) -> None:
    voicemail_id = seed_voicemail(app)
    login(client, "amy")
    assert client.post(f"/api/voicemails/{voicemail_id}/assign", json={}).status_code == 200
    notes = "Called back; customer's new address is 12 Garden Rd."
    done = client.post(f"/api/voicemails/{voicemail_id}/handled", json={"notes": notes})
    assert done.get_json()["voicemail"]["notes"] == notes
    [mine] = client.get("/api/voicemails?status=handled").get_json()["voicemails"]
    assert (mine["notes"], mine["playable"]) == (notes, True)

    login(client, "bob")  # may not play amy's voicemail: sees neither audio nor notes
    [theirs] = client.get("/api/voicemails?status=handled").get_json()["voicemails"]
    assert (theirs["notes"], theirs["playable"], theirs["url"]) == (None, False, None)
    assert fetch(client, f"/api/recordings/{'RE' + 'd' * 32}").status_code == 403

    login(client, "lead")
    [seen] = client.get("/api/voicemails?status=handled").get_json()["voicemails"]
    assert (seen["notes"], seen["playable"]) == (notes, True)


# -- texting an article to the caller --------------------------------------------------------


def test_articles_are_texted_only_during_the_call_or_just_after(live_server: Any) -> None:
    app = live_server.app
    sync_knowledge_base(app)
    services = app.extensions["callcenter"]
    with services.database.session() as session:
        amy = create_agent(session, username="amy", display_name="Amy", agent_number="1024",
                           password=PASSWORD, skills=["support"], languages=["en"]).id  # fmt: skip
        for sid in (CALL, OTHER_CALL):
            call = open_call(session, call_sid=sid, from_raw="+8613900139000",
                             to="+864008001234", flow="main", default_language="en")  # fmt: skip
            call.agent_id, call.outcome, call.status = amy, "answered", "completed"
        session.scalar(select(Call).where(Call.call_sid == CALL)).ended_at = utcnow() - timedelta(
            minutes=5
        )
        session.scalar(select(Call).where(Call.call_sid == OTHER_CALL)).ended_at = (
            utcnow() - timedelta(minutes=30)
        )
    url = f"{live_server.url}/api/kb/articles/warranty-coverage/send"
    board = services.extras["simulator_switchboard"]
    with requests.Session() as http:
        http.post(f"{live_server.url}/api/login", json={"username": "amy", "password": PASSWORD})
        late = http.post(url, json={"call_sid": OTHER_CALL})
        assert late.status_code == 409
        assert "ended more than 10 minutes ago" in late.json()["error"]
        assert board.messages(to="+8613900139000") == []
        recent = http.post(url, json={"call_sid": CALL})
        assert recent.status_code == 200, recent.text
    assert len(board.messages(to="+8613900139000")) == 1
