"""A whole recorded call through the simulator: the caller meets an agent, the dispatcher
starts a dual-channel recording, the agent pauses it for card details and resumes, the
call ends, the download is verified and the call record plays it."""

from __future__ import annotations

import time
import wave
from typing import Any

from conftest import LiveServer, start_caller
from sqlalchemy import select
from test_agent_socket import Console
from test_agent_socket import team as team  # the fixture

from callcenter.media.recording_fetcher import RecordingFetcher
from callcenter.models import CallRecording, RecordingDownload

PACE = 0.02  # real seconds per simulated second (conftest's start_caller)


def wait_for_recording(server: LiveServer, call_sid: str, status: str, timeout: float = 15):
    services = server.app.extensions["callcenter"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.database.session() as session:
            found = session.scalar(select(CallRecording).where(CallRecording.call_sid == call_sid))
            if found is not None and found.status == status:
                session.expunge(found)
                return found
        time.sleep(0.1)
    raise AssertionError(f"recording of {call_sid} never became {status}")


def test_an_answered_call_is_recorded_paused_and_stored(
    live_server: LiveServer, team: dict[str, int]
) -> None:
    services = live_server.app.extensions["callcenter"]
    settings = services.settings
    amy = Console(live_server, "amy")
    amy.client.on("call:recording", amy._recorder("call:recording"), namespace="/agent")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        caller = start_caller(live_server.app, live_server.url, "+8613900139000",
                              ["1", "2", "12345678#"], dial_talk_seconds=300)  # fmt: skip
        sid = caller.call_sid
        amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert amy.call("call:accept", {"call_sid": sid})["ok"]
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        started = amy.wait_for("call:recording", timeout=10, call_sid=sid)
        assert (started["status"], started["channels"]) == ("in-progress", 2)

        paused = amy.call("call:record", {"call_sid": sid, "action": "pause"})
        assert paused["ok"] and paused["status"] == "paused", paused
        assert amy.call("call:record", {"call_sid": sid, "action": "pause"})["error"]
        time.sleep(60 * PACE)  # a minute of the caller reading out their card
        resumed = amy.call("call:record", {"call_sid": sid, "action": "resume"})
        assert resumed["ok"] and resumed["status"] == "in-progress", resumed
        assert len(resumed["pauses"]) == 1

        caller.result()
        recording = wait_for_recording(live_server, sid, "completed")
        assert recording.duration_seconds is not None
        assert 0 < recording.duration_seconds < 300 - 50  # the pause is left out

        with RecordingFetcher(services.database.sessions, settings.path(settings.recordings_dir),
                              settings.twilio_account_sid, settings.twilio_auth_token,
                              settings.downloads) as fetcher:  # fmt: skip
            [outcome] = fetcher.run_due()
        assert outcome.ok, outcome.error
        with wave.open(str(outcome.path)) as audio:
            assert audio.getnchannels() == 2
            seconds = audio.getnframes() / audio.getframerate()
            assert abs(seconds - recording.duration_seconds) <= 2

        with services.database.session() as session:
            job = session.scalar(
                select(RecordingDownload).where(RecordingDownload.recording_sid
                                                == recording.recording_sid)
            )  # fmt: skip
            assert (job.purpose, job.call_sid, job.status) == ("call", sid, "done")

        record: dict[str, Any] = amy.http.get(f"{live_server.url}/api/calls/{sid}").json()
        [shown] = record["recordings"]
        assert shown["playable"] and shown["channels"] == 2 and len(shown["pauses"]) == 1
        events = [item["kind"] for item in record["timeline"]]
        assert events.index("recording.paused") < events.index("recording.resumed")
        player = {"Range": "bytes=0-99", "Sec-Fetch-Site": "same-origin"}  # the console's <audio>
        audio = amy.http.get(live_server.url + shown["url"], headers=player)
        assert audio.status_code == 206 and audio.content[:4] == b"RIFF"
    finally:
        amy.close()
