"""Recordings of answered calls: callbacks, pauses, playback with ranges and authorization,
retention, and the voicemail inbox API."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ACCOUNT_SID, PUBLIC_URL, Clock, TwilioWebhooks
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from callcenter.calls.records import open_call
from callcenter.cli import main as cli_main
from callcenter.media.call_recordings import (
    RecordingError,
    active_recording,
    mark_start_failed,
    mark_started,
    request_recording,
    set_paused,
)
from callcenter.models import (
    Call,
    CallOffer,
    CallRecording,
    RecordingDownload,
    RecordingPlayback,
    Voicemail,
    utcnow,
)
from callcenter.people.agents import create_agent
from callcenter.simulator.audio import wav_bytes

PASSWORD = "correct horse battery"
CALL = "CA" + "1" * 32
OTHER_CALL = "CA" + "2" * 32
LEG = CALL
REC = "RE" + "a" * 32
API = PUBLIC_URL + "/simulator/2010-04-01/Accounts/" + ACCOUNT_SID + "/Recordings/"


@pytest.fixture
def world(app: Flask) -> Iterator[dict[str, Any]]:
    """Three agents, two answered calls (amy's and bob's) in the recorded support queue."""
    services = app.extensions["callcenter"]
    with services.database.session() as session:
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
    yield {"agents": agents, "services": services}


def login(client: FlaskClient, username: str) -> None:
    client.post("/api/logout", json={})
    response = client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def recording_callback(twilio: TwilioWebhooks, status: str, **extra: str) -> Any:
    params = {"AccountSid": ACCOUNT_SID, "CallSid": LEG, "RecordingSid": REC,
              "RecordingStatus": status, "RecordingSource": "StartCallRecordingAPI",
              "RecordingChannels": "2", **extra}  # fmt: skip
    return twilio.post("/twilio/recording/call", params, query={"call": CALL})


def requested(world: dict[str, Any]) -> int:
    services = world["services"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == CALL))
        recording = request_recording(session, services.settings, call, LEG, utcnow())
        assert recording is not None and recording.channels == 2
        return recording.id


# -- the recording's life ------------------------------------------------------------------


def test_one_recording_per_call_and_only_where_the_queue_records(
    world: dict[str, Any],
) -> None:
    services = world["services"]
    requested(world)
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == CALL))
        assert request_recording(session, services.settings, call, LEG, utcnow()) is None
        other = session.scalar(select(Call).where(Call.call_sid == OTHER_CALL))
        other.queue = "nowhere"
        assert request_recording(session, services.settings, other, OTHER_CALL, utcnow()) is None


def test_a_failed_start_is_retried_with_backoff_then_given_up(world: dict[str, Any]) -> None:
    services = world["services"]
    recording_id = requested(world)
    now = utcnow()
    with services.database.session() as session:
        first = mark_start_failed(session, recording_id, "HTTP 500", now)
        assert first.status == "requested" and first.next_attempt_at > now
        for _ in range(10):
            mark_start_failed(session, recording_id, "HTTP 500", now)
        assert session.get(CallRecording, recording_id).status == "failed"


def test_status_callbacks_schedule_one_verified_download(
    world: dict[str, Any], twilio: TwilioWebhooks
) -> None:
    recording_id = requested(world)
    services = world["services"]
    assert recording_callback(twilio, "in-progress", RecordingDuration="-1").status_code == 204
    with services.database.session() as session:
        recording = session.get(CallRecording, recording_id)
        assert (recording.recording_sid, recording.status) == (REC, "in-progress")
    done = {"RecordingUrl": API + REC, "RecordingDuration": "42"}
    assert recording_callback(twilio, "completed", **done).status_code == 204
    assert recording_callback(twilio, "completed", **done).status_code == 204  # a retry
    assert recording_callback(twilio, "completed", **done, ErrorCode="0").status_code == 204
    with services.database.session() as session:
        recording = session.get(CallRecording, recording_id)
        assert (recording.status, recording.duration_seconds, recording.channels) == (
            "completed", 42, 2,
        )  # fmt: skip
        jobs = session.scalars(select(RecordingDownload)).all()
        assert [(job.recording_sid, job.purpose, job.call_sid) for job in jobs] == [
            (REC, "call", CALL)
        ]


def test_bad_recording_callbacks_are_refused(
    world: dict[str, Any], twilio: TwilioWebhooks, client: FlaskClient
) -> None:
    requested(world)
    elsewhere = {"RecordingUrl": "https://attacker.example/" + REC, "RecordingDuration": "4"}
    assert recording_callback(twilio, "completed", **elsewhere).status_code == 400
    assert recording_callback(twilio, "completed", RecordingSid="RE../x").status_code == 400
    forged = client.post(f"/twilio/recording/call?call={CALL}",
                         data={"CallSid": LEG, "RecordingSid": REC, "RecordingStatus": "completed"},
                         headers={"X-Twilio-Signature": "forged"})  # fmt: skip
    assert forged.status_code == 403
    no_call = twilio.post("/twilio/recording/call", {"CallSid": LEG, "RecordingSid": REC,
                                                     "RecordingStatus": "completed"})  # fmt: skip
    assert no_call.status_code == 400
    with world["services"].database.session() as session:
        assert session.scalar(select(func.count()).select_from(RecordingDownload)) == 0


def test_absent_recording_stores_nothing(world: dict[str, Any], twilio: TwilioWebhooks) -> None:
    recording_id = requested(world)
    assert recording_callback(twilio, "absent", ErrorCode="16101").status_code == 204
    with world["services"].database.session() as session:
        assert session.get(CallRecording, recording_id).status == "absent"
        assert session.scalar(select(func.count()).select_from(RecordingDownload)) == 0


def test_pauses_are_kept_on_the_recording(world: dict[str, Any]) -> None:
    services = world["services"]
    recording_id = requested(world)
    amy = world["agents"]["amy"]
    now = utcnow()
    with services.database.session() as session:
        with pytest.raises(RecordingError, match="not being recorded"):
            set_paused(session, CALL, True, amy, now)
        mark_started(session, recording_id, REC, now)
        set_paused(session, CALL, True, amy, now + timedelta(seconds=10))
        with pytest.raises(RecordingError, match="already paused"):
            set_paused(session, CALL, True, amy, now)
        set_paused(session, CALL, False, amy, now + timedelta(seconds=40))
        with pytest.raises(RecordingError, match="not paused"):
            set_paused(session, CALL, False, amy, now)
        recording = active_recording(session, CALL)
        assert recording.status == "in-progress"
        [pause] = recording.pauses
        assert (pause["by"], pause["agent"]) == (amy, "1024")
        assert pause["resumed_at"] > pause["paused_at"]


# -- playback --------------------------------------------------------------------------------


def store_audio(app: Flask, recording_sid: str, call_sid: str, purpose: str,
                relative: str | None = None) -> bytes:  # fmt: skip
    """A downloaded, verified recording on disk and in the database."""
    services = app.extensions["callcenter"]
    audio = wav_bytes(3.0)
    if relative is None:  # the file is written only at its normal place, under the root
        relative = f"2026/11/24/{recording_sid}.wav"
        path = services.settings.path(services.settings.recordings_dir) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(audio)
    with services.database.session() as session:
        session.add(RecordingDownload(
            recording_sid=recording_sid, call_sid=call_sid, purpose=purpose,
            source_url=API + recording_sid, status="done", attempts=1, path=relative,
            size_bytes=len(audio), sha256=hashlib.sha256(audio).hexdigest(),
            content_type="audio/x-wav", completed_at=utcnow(),
        ))  # fmt: skip
        if purpose == "call":
            session.add(CallRecording(call_sid=call_sid, leg_sid=call_sid,
                                      recording_sid=recording_sid, status="completed",
                                      channels=2, duration_seconds=3))  # fmt: skip
    return audio


def fetch(client: FlaskClient, url: str, **headers: str) -> Any:
    """GET the audio as the console's player does (a same-origin fetch) and close the
    response (the file it streams from is closed too)."""
    response = client.get(url, headers={"Sec-Fetch-Site": "same-origin", **headers})
    response.get_data()
    response.close()
    return response


def playbacks(app: Flask) -> list[RecordingPlayback]:
    with app.extensions["callcenter"].database.session() as session:
        rows = session.scalars(select(RecordingPlayback).order_by(RecordingPlayback.id)).all()
        session.expunge_all()
    return list(rows)


def test_the_agent_on_the_call_plays_it_with_ranges(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    audio = store_audio(app, REC, CALL, "call")
    url = f"/api/recordings/{REC}"
    assert fetch(client, url).status_code == 401
    login(client, "amy")
    whole = fetch(client, url)
    assert whole.status_code == 200 and whole.data == audio
    assert whole.mimetype == "audio/x-wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert "no-store" in whole.headers["Cache-Control"]
    part = fetch(client, url, Range="bytes=100-199")
    assert part.status_code == 206
    assert part.data == audio[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(audio)}"
    tail = fetch(client, url, Range=f"bytes={len(audio) + 10}-")
    assert tail.status_code == 416
    start = fetch(client, url, Range="bytes=0-")
    assert start.status_code == 206 and start.data == audio
    logged = playbacks(app)
    assert [(p.recording_sid, p.agent_id, p.purpose, p.byte_range) for p in logged] == [
        (REC, world["agents"]["amy"], "call", None),
    ]  # the ranges and seeks of one listening session are one playback


def test_every_way_of_fetching_the_audio_is_logged(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    audio = store_audio(app, REC, CALL, "call")
    login(client, "lead")
    suffix = fetch(client, f"/api/recordings/{REC}", Range=f"bytes=-{len(audio)}")
    assert suffix.status_code == 206 and suffix.data == audio
    login(client, "amy")
    odd = fetch(client, f"/api/recordings/{REC}", Range="bytes=00-", **{"If-Range": '"x"'})
    assert odd.status_code == 200
    assert [(p.agent_id, p.byte_range) for p in playbacks(app)] == [
        (world["agents"]["lead"], f"bytes=-{len(audio)}"),
        (world["agents"]["amy"], "bytes=00-"),
    ]


def test_another_agent_cannot_fetch_it_but_a_supervisor_can(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    store_audio(app, REC, CALL, "call")
    login(client, "bob")
    refused = fetch(client, f"/api/recordings/{REC}")
    assert refused.status_code == 403 and refused.get_json()["error"]
    assert client.get(f"/api/calls/{CALL}").status_code == 403
    login(client, "lead")
    assert fetch(client, f"/api/recordings/{REC}").status_code == 200
    assert [p.agent_id for p in playbacks(app)] == [world["agents"]["lead"]]


def test_an_agent_who_took_the_call_after_a_transfer_may_play_it(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    store_audio(app, REC, CALL, "call")
    with world["services"].database.session() as session:
        session.add(CallOffer(call_sid=CALL, agent_id=world["agents"]["bob"], status="accepted",
                              expires_at=utcnow()))  # fmt: skip
    login(client, "bob")
    assert fetch(client, f"/api/recordings/{REC}").status_code == 200


@pytest.mark.parametrize("kind", ["parent", "absolute", "nested"])
def test_path_traversal_is_rejected(
    app: Flask, world: dict[str, Any], client: FlaskClient, tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "outside.wav"  # a real file, outside recordings/
    outside.write_bytes(wav_bytes(1.0))
    settings = world["services"].settings
    root = settings.path(settings.recordings_dir)
    root.mkdir(parents=True, exist_ok=True)
    up = os.path.relpath(outside, root)
    relative = {"parent": up, "absolute": str(outside), "nested": f"2026/11/../../{up}"}[kind]
    store_audio(app, REC, CALL, "call", relative=relative)
    login(client, "lead")
    response = fetch(client, f"/api/recordings/{REC}")
    assert response.status_code == 404
    assert b"RIFF" not in response.data


@pytest.mark.parametrize("sid", ["RE..%2F..%2Fetc%2Fpasswd", "../etc/passwd", "RE" + "z" * 32])
def test_malformed_recording_sids_are_not_found(
    world: dict[str, Any], client: FlaskClient, sid: str
) -> None:
    login(client, "lead")
    assert fetch(client, f"/api/recordings/{sid}").status_code == 404


def test_a_recording_not_yet_downloaded_or_purged_says_so(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    store_audio(app, REC, CALL, "call")
    login(client, "amy")
    with world["services"].database.session() as session:
        job = session.scalar(select(RecordingDownload))
        job.status = "pending"
    assert fetch(client, f"/api/recordings/{REC}").status_code == 409
    with world["services"].database.session() as session:
        job = session.scalar(select(RecordingDownload))
        job.status, job.purged_at = "done", utcnow()
    assert fetch(client, f"/api/recordings/{REC}").status_code == 410


def test_the_call_record_shows_the_recording_and_its_pauses(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    store_audio(app, REC, CALL, "call")
    with world["services"].database.session() as session:
        recording = session.scalar(select(CallRecording))
        recording.pauses = [{"paused_at": "2026-11-24T10:00:10+00:00",
                             "resumed_at": "2026-11-24T10:00:40+00:00", "by": 1}]  # fmt: skip
    login(client, "amy")
    record = client.get(f"/api/calls/{CALL}").get_json()
    [shown] = record["recordings"]
    assert shown["recording_sid"] == REC and shown["playable"] and shown["channels"] == 2
    assert shown["url"] == f"/api/recordings/{REC}"
    assert shown["pauses"][0]["resumed_at"].endswith("10:00:40+00:00")
    mine = client.get("/api/calls").get_json()["calls"]
    assert [item["call_sid"] for item in mine] == [CALL]
    login(client, "lead")
    assert {item["call_sid"] for item in client.get("/api/calls").get_json()["calls"]} == {
        CALL, OTHER_CALL,
    }  # fmt: skip
    page = client.get(f"/calls/{CALL}")
    assert page.status_code == 200 and CALL.encode() in page.data


# -- retention -------------------------------------------------------------------------------


def test_purge_honours_the_retention_policy(
    app: Flask, world: dict[str, Any], tmp_path: Path, database_url: str
) -> None:
    services = world["services"]
    store_audio(app, REC, CALL, "call")
    old_voicemail, open_voicemail = "RE" + "b" * 32, "RE" + "c" * 32
    for sid, status in ((old_voicemail, "handled"), (open_voicemail, "new")):
        store_audio(app, sid, OTHER_CALL, "voicemail")
        with services.database.session() as session:
            session.add(Voicemail(mailbox="support", call_sid=OTHER_CALL, recording_sid=sid,
                                  status=status))  # fmt: skip
    with services.database.session() as session:
        for job in session.scalars(select(RecordingDownload)):
            job.completed_at = utcnow() - timedelta(days=100)  # past voicemail_days (90)
    root = services.settings.path(services.settings.recordings_dir)
    env = {"CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_SECRET_KEY": "x" * 32}
    config = tmp_path / "config.yaml"
    source = Path(__file__).resolve().parent.parent / "config.yaml"
    config.write_text(source.read_text().replace("recordings_dir: recordings",
                                                 f"recordings_dir: {root}"))  # fmt: skip
    env["CALLCENTER_CONFIG"] = str(config)
    runner = CliRunner()
    dry = runner.invoke(cli_main, ["recordings", "purge", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"{old_voicemail}: would be deleted" in dry.output
    assert (root / f"2026/11/24/{old_voicemail}.wav").exists()
    done = runner.invoke(cli_main, ["recordings", "purge"], env=env)
    assert done.exit_code == 0, done.output
    assert "deleted 1 recording(s)" in done.output and "kept 1 voicemail(s)" in done.output
    assert not (root / f"2026/11/24/{old_voicemail}.wav").exists()
    assert (root / f"2026/11/24/{open_voicemail}.wav").exists()  # nobody handled it yet
    assert (root / f"2026/11/24/{REC}.wav").exists()  # calls are kept 365 days
    with services.database.session() as session:
        purged = session.scalar(
            select(RecordingDownload).where(RecordingDownload.recording_sid == old_voicemail)
        )
        assert purged.purged_at is not None and purged.sha256  # the row and its facts stay


# -- voicemail inbox -------------------------------------------------------------------------


def seed_voicemail(app: Flask, sid: str = "RE" + "d" * 32) -> int:
    services = app.extensions["callcenter"]
    store_audio(app, sid, OTHER_CALL, "voicemail")
    with services.database.session() as session:
        voicemail = Voicemail(mailbox="support", call_sid=OTHER_CALL, recording_sid=sid,
                              from_number="+8613900139000", duration_seconds=3)  # fmt: skip
        session.add(voicemail)
        session.flush()
        return voicemail.id


def test_voicemail_inbox_assign_play_and_handle(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    voicemail_id = seed_voicemail(app)
    login(client, "amy")
    [item] = client.get("/api/voicemails").get_json()["voicemails"]
    assert (item["id"], item["status"], item["playable"]) == (voicemail_id, "new", True)
    assert fetch(client, item["url"]).status_code == 200  # unassigned: anyone may listen
    taken = client.post(f"/api/voicemails/{voicemail_id}/assign", json={})
    assert taken.get_json()["voicemail"]["assigned_to"]["username"] == "amy"
    login(client, "bob")
    assert client.post(f"/api/voicemails/{voicemail_id}/assign", json={}).status_code == 409
    assert fetch(client, item["url"]).status_code == 403  # amy's now
    [seen] = client.get("/api/voicemails").get_json()["voicemails"]
    assert (seen["playable"], seen["url"]) == (False, None)
    assert client.post(f"/api/voicemails/{voicemail_id}/handled", json={}).status_code == 409
    login(client, "amy")
    handled = client.post(f"/api/voicemails/{voicemail_id}/handled", json={"notes": "called"})
    assert handled.get_json()["voicemail"]["status"] == "handled"
    assert client.get("/api/voicemails").get_json()["voicemails"] == []
    [closed] = client.get("/api/voicemails?status=handled").get_json()["voicemails"]
    assert closed["notes"] == "called" and closed["handled_by"] == "1024"
    assert client.get("/api/voicemails?status=nope").status_code == 400
    assert client.get("/api/voicemails?mailbox=nope").status_code == 400
    assert client.post(f"/api/voicemails/{voicemail_id}/assign", data="x").status_code == 415
    assert client.post("/api/voicemails/999/assign", json={}).status_code == 404


def test_a_supervisor_assigns_voicemail_to_an_agent(
    app: Flask, world: dict[str, Any], client: FlaskClient
) -> None:
    voicemail_id = seed_voicemail(app)
    login(client, "amy")
    refused = client.post(f"/api/voicemails/{voicemail_id}/assign",
                          json={"agent_id": world["agents"]["bob"]})  # fmt: skip
    assert refused.status_code == 409
    login(client, "lead")
    given = client.post(f"/api/voicemails/{voicemail_id}/assign",
                        json={"agent_id": world["agents"]["bob"]})  # fmt: skip
    assert given.get_json()["voicemail"]["assigned_to"]["username"] == "bob"
    login(client, "bob")
    assert client.post(f"/api/voicemails/{voicemail_id}/release", json={}).status_code == 200


def test_call_now_from_the_inbox_calls_back_once(
    app: Flask, world: dict[str, Any], client: FlaskClient, clock: Clock, monkeypatch: Any
) -> None:
    """Call now on a voicemail (`POST /api/calls/dial` as the console's `call:dial`): the
    voicemail is the agent's, linked to one call-back, taken by the agent at once and dialed
    once (the agent's leg, then the customer: the bridge, stood in for here)."""
    voicemail_id = seed_voicemail(app)
    dialed: list[tuple[str, str]] = []

    def call_back(call_sid: str, number: str, *_: Any) -> tuple[str, str]:
        dialed.append((call_sid, number))
        return "CA" + "c" * 32, "CA" + "a" * 32

    monkeypatch.setattr(world["services"].extras["bridge"], "call_back", call_back)
    login(client, "amy")
    busy = client.post("/api/calls/dial", json={"voicemail_id": voicemail_id})
    assert busy.status_code == 409 and "available" in busy.get_json()["error"]
    services = world["services"]
    with services.database.session() as session:
        from callcenter.models import Agent

        session.get(Agent, world["agents"]["amy"]).status = "available"
    answer = client.post("/api/calls/dial", json={"voicemail_id": voicemail_id})
    assert answer.status_code == 200, answer.get_json()
    call_sid = answer.get_json()["call_sid"]
    assert client.post("/api/calls/dial", json={"voicemail_id": voicemail_id}).status_code == 409
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == call_sid))
        assert (call.caller_number, call.context["callback"], call.direction) == (
            "+8613900139000", True, "outbound",
        )  # fmt: skip
        assert call.agent_id == world["agents"]["amy"]
        [offer] = session.scalars(select(CallOffer).where(CallOffer.call_sid == call_sid)).all()
        assert offer.agent_id == world["agents"]["amy"] and offer.status == "accepted"
        voicemail = session.get(Voicemail, voicemail_id)
        assert voicemail.callback_call_sid == call_sid
        assert voicemail.assigned_agent_id == world["agents"]["amy"]
    assert dialed == [(call_sid, "+8613900139000")]


def test_a_recording_start_is_claimed_once_and_reclaimed_after_its_lease(
    world: dict[str, Any],
) -> None:
    from callcenter.media.call_recordings import START_LEASE_SECONDS, claim_due

    services = world["services"]
    recording_id = requested(world)
    now = utcnow()
    with services.database.session() as session:
        [claim] = claim_due(session, now)
        assert (claim.id, claim.leg_sid, claim.channels) == (recording_id, LEG, 2)
    with services.database.session() as session:
        assert claim_due(session, now) == []  # another dispatcher gets nothing
        later = now + timedelta(seconds=START_LEASE_SECONDS + 1)
        assert [c.id for c in claim_due(session, later)] == [recording_id]  # it died


def test_a_recording_without_a_row_is_still_stored(
    world: dict[str, Any], twilio: TwilioWebhooks
) -> None:
    requested(world)
    with world["services"].database.session() as session:
        mark_started(session, session.scalar(select(CallRecording.id)), REC, utcnow())
    stray = "RE" + "e" * 32  # a second start the dispatcher never heard back from
    done = {"RecordingUrl": API + stray, "RecordingDuration": "7", "RecordingSid": stray}
    assert recording_callback(twilio, "completed", **done).status_code == 204
    with world["services"].database.session() as session:
        kept = session.scalar(select(CallRecording).where(CallRecording.recording_sid == stray))
        assert (kept.call_sid, kept.status, kept.duration_seconds) == (CALL, "completed", 7)
        job = session.scalar(
            select(RecordingDownload).where(RecordingDownload.recording_sid == stray)
        )
        assert job is not None and job.purpose == "call"


def test_the_conference_itself_is_not_recorded(
    world: dict[str, Any], twilio: TwilioWebhooks
) -> None:
    params = {"AccountSid": ACCOUNT_SID, "CallSid": CALL, "From": "+8613900139000",
              "To": "+864008001234"}  # fmt: skip
    answer = twilio.post("/twilio/bridge/caller", params, query={"agent": "1024"})
    assert answer.status_code == 200 and b"<Conference" in answer.data
    assert b"record" not in answer.data.lower()


def test_a_recording_of_a_call_that_ended_is_given_up_not_started(
    world: dict[str, Any],
) -> None:
    from callcenter.media.call_recordings import claim_due

    services = world["services"]
    recording_id = requested(world)
    with services.database.session() as session:
        session.scalar(select(Call).where(Call.call_sid == CALL)).ended_at = utcnow()
    with services.database.session() as session:
        assert claim_due(session, utcnow()) == []
    with services.database.session() as session:
        recording = session.get(CallRecording, recording_id)
        assert (recording.status, recording.last_error) == ("failed", "the call ended")


def test_call_now_when_twilio_cannot_be_reached_answers_502_and_frees_the_agent(
    app: Flask, world: dict[str, Any], client: FlaskClient, monkeypatch: Any
) -> None:
    """Twilio refusing the call-back's legs is a 502 naming why, not a 500: the call is put
    back (not left taken by the agent) and the agent can dial again."""
    from callcenter.telephony.bridge import BridgeError

    voicemail_id = seed_voicemail(app)

    def call_back(*_: Any) -> tuple[str, str]:
        raise BridgeError("Twilio could not be reached", status=503)

    monkeypatch.setattr(world["services"].extras["bridge"], "call_back", call_back)
    services = world["services"]
    with services.database.session() as session:
        from callcenter.models import Agent

        session.get(Agent, world["agents"]["amy"]).status = "available"
    login(client, "amy")
    answer = client.post("/api/calls/dial", json={"voicemail_id": voicemail_id})
    assert answer.status_code == 502, answer.get_json()
    assert "could not be reached" in answer.get_json()["error"]
    with services.database.session() as session:
        from callcenter.models import Agent

        amy = session.get(Agent, world["agents"]["amy"])
        assert (amy.status, amy.current_call_sid) == ("available", None)
        [placed] = session.scalars(select(Call).where(Call.direction == "outbound"))
        assert (placed.status, placed.outcome) == ("failed", "failed")
        assert placed.ended_at is not None
