"""The post-call survey is not in the call's recording: through the simulator, the agent
hangs up first, the recording is paused (Twilio's `skip`) before the caller hears the first
question, stays paused while they answer, and the call's end completes it with the pause
closed. A recording not started yet when the survey begins is never started."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401
from test_recording_flow import wait_for_recording
from test_survey import answers_later, events_of, heard, the_call

from callcenter.calls.records import open_call
from callcenter.media.call_recordings import claim_due, request_recording, survey_pause
from callcenter.models import CallRecording, utcnow

RATE_EN = "Please stay on the line to rate this call from 1 to 5, 5 being the best."


def test_the_recording_is_paused_for_the_survey(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:

    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = Console(live_server, "amy")
    amy.client.on("call:recording", amy._recorder("call:recording"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139001", ["1", "0"],
                              dial_talk_seconds=900, on_wait=answers_later(["4", "1"]))  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        started = amy.wait_for("call:recording", timeout=10, call_sid=sid)
        assert started["status"] == "in-progress"
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        result = caller.result()
    finally:
        amy.close()
    assert RATE_EN in heard(result)
    call = the_call(live_server, sid)
    assert (call.csat, call.resolved) == (4, True)
    recording = wait_for_recording(live_server, sid, "completed")
    [pause] = recording.pauses
    assert (pause["by"], pause["reason"]) == (None, "survey")
    assert pause["resumed_at"] is not None and pause["paused_at"] <= pause["resumed_at"]
    # Paused (through Twilio, then recorded) before the caller heard the first question:
    # their answers came after it.
    kinds = [kind for kind, _ in events_of(live_server, sid, "")]
    assert kinds.index("survey.started") < kinds.index("recording.paused")
    assert kinds.index("recording.paused") < kinds.index("survey.rated")
    assert "recording.resumed" not in kinds
    # What Twilio was asked, and what the simulator did: the paused stretch is left out.
    [simulated] = board.call_recordings(sid)
    assert simulated.sid == recording.recording_sid and simulated.pause_behavior == "skip"
    path = f"/Recordings/{simulated.sid}.json"
    updates = [(r.get("Status"), r.get("PauseBehavior")) for r in board.requests
               if r.method == "POST" and r.path.endswith(path)]  # fmt: skip
    assert updates == [("paused", "skip")]
    assert simulated.status == "completed"


def test_a_recording_not_started_when_the_survey_begins_never_starts(app) -> None:
    services = app.extensions["callcenter"]
    now = utcnow()
    with services.database.session() as session:
        call = open_call(session, call_sid="CA" + "a" * 32, from_raw="+8613900139001",
                         to="+864008001234", flow="main", default_language="en")  # fmt: skip
        call.queue = "support"
        session.flush()
        assert request_recording(session, services.settings, call, call.call_sid, now)
        assert survey_pause(session, call.call_sid, now) is None
        assert claim_due(session, now + timedelta(seconds=5)) == []
        recording = session.scalar(select(CallRecording))
        assert recording.status == "failed" and "survey" in (recording.last_error or "")


THANKS_EN = "Thank you for your feedback. Goodbye."


def surveyed_call_with_refusals(
    live_server: LiveServer, refusals: dict[str, int]
) -> tuple[str, Any, list[str | None]]:
    """A surveyed call whose recording's updates Twilio refuses (`refusals`: status →
    times) once the agent has hung up; returns (call SID, what happened, the updates)."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    amy = Console(live_server, "amy")
    amy.client.on("call:recording", amy._recorder("call:recording"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139001", ["1", "0"],
                              dial_talk_seconds=900, on_wait=answers_later(["4", "1"]))  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        assert amy.wait_for("call:recording", timeout=10, call_sid=sid)["status"] == "in-progress"
        for status, times in refusals.items():
            board.refuse_updates(status, times)
        assert amy.call("call:hangup", {"call_sid": sid}) == {"ok": True}
        result = caller.result()
    finally:
        amy.close()
    [simulated] = board.call_recordings(sid)
    path = f"/Recordings/{simulated.sid}.json"
    updates = [r.get("Status") for r in board.requests
               if r.method == "POST" and r.path.endswith(path)]  # fmt: skip
    return sid, result, updates


def test_a_refused_pause_is_tried_again_then_the_recording_is_stopped(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    sid, result, updates = surveyed_call_with_refusals(live_server, {"paused": 2})
    assert updates == ["paused", "paused", "stopped"]
    assert RATE_EN in heard(result)
    call = the_call(live_server, sid)
    assert (call.csat, call.resolved) == (4, True)  # surveyed: the recording was over
    recording = wait_for_recording(live_server, sid, "completed")
    assert recording.pauses in (None, [])
    kinds = [kind for kind, _ in events_of(live_server, sid, "")]
    assert kinds.index("recording.stopped") < kinds.index("survey.rated")
    assert (
        dict(events_of(live_server, sid, "recording.stopped"))["recording.stopped"]["reason"]
        == "survey"
    )


def test_a_recording_neither_paused_nor_stopped_means_no_survey(
    live_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    sid, result, updates = surveyed_call_with_refusals(live_server, {"paused": 2, "stopped": 1})
    assert updates == ["paused", "paused", "stopped"]
    said = heard(result)
    assert RATE_EN not in said and said[-1] == THANKS_EN  # thanked, not asked
    call = the_call(live_server, sid)
    assert (call.csat, call.resolved) == (None, None)
    skipped = dict(events_of(live_server, sid, "survey.skipped"))
    assert "neither paused nor stopped" in skipped["survey.skipped"]["reason"]
    kinds = [kind for kind, _ in events_of(live_server, sid, "")]
    assert "survey.rated" not in kinds and "recording.paused" not in kinds
