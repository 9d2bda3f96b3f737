"""Call recordings through the switchboard's ``Calls/{CallSid}/Recordings`` API, driven by
the real ``twilio.rest.Client``: start, pause (skip or silence), resume, stop, the signed
recording status callbacks, and the WAV the recording store serves afterwards."""

from __future__ import annotations

import io
import threading
import time
import uuid
import wave
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import ACCOUNT_SID as APP_ACCOUNT_SID
from conftest import AUTH_TOKEN as APP_AUTH_TOKEN
from conftest import LiveServer, start_caller
from test_simulator_switchboard import ACCOUNT_SID, AUTH_TOKEN, CALLER, CENTER, FakeApp, wait_for
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.serving import make_server

from callcenter.simulator.leg.call import place_call
from callcenter.simulator.leg.events import CallResult
from callcenter.simulator.recordings import RecordingStore
from callcenter.simulator.rest.api import create_switchboard_api
from callcenter.simulator.rest.recordings import create_simulator_api, store_of
from callcenter.simulator.switchboard import Switchboard
from callcenter.simulator.transports import WsgiTransport

PACE = 0.1  # one simulated second of a call takes 100 ms
STATUS_PATH = "/twilio/recording-status"


@dataclass
class RecWorld:
    fake: FakeApp
    board: Switchboard
    store: RecordingStore
    client: Client
    url: str
    callers: list[threading.Thread] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.url}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}"

    def recording_url(self, sid: str) -> str:
        return f"{self.api}/Recordings/{sid}"

    def callbacks(self, status: str | None = None) -> list[dict[str, str]]:
        return [
            hit.params
            for hit in self.fake.hits_for(STATUS_PATH)
            if status is None or hit.params.get("RecordingStatus") == status
        ]

    def download(self, sid: str) -> requests.Response:
        return requests.get(
            self.recording_url(sid) + ".wav", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10
        )


@pytest.fixture
def rec_world(tmp_path: Path) -> Iterator[RecWorld]:
    """A small Twilio-style app with the recordings API and the switchboard API, served for
    real.  The board is given no store: it finds the one the app's recordings API serves."""
    fake = FakeApp()
    server = make_server("127.0.0.1", 0, fake.flask, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    fake.public_url = url
    store = RecordingStore(tmp_path / "recordings")
    board = Switchboard(
        WsgiTransport(fake.flask),
        public_url=url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        pace=PACE,
    )
    fake.flask.register_blueprint(
        create_simulator_api(store, ACCOUNT_SID, AUTH_TOKEN), url_prefix="/simulator"
    )
    fake.flask.register_blueprint(
        create_switchboard_api(board, ACCOUNT_SID, AUTH_TOKEN), url_prefix="/simulator"
    )
    assert store_of(fake.flask) is store
    fake.ok(STATUS_PATH, "/twilio/status")
    response = VoiceResponse()
    response.pause(length=3600)
    fake.twiml("/twilio/voice", response)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = url + "/simulator"
    world = RecWorld(fake, board, store, client, url)
    try:
        yield world
    finally:
        board.close()
        for caller in world.callers:
            caller.join(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        client.http_client.session.close()


def call_in(world: RecWorld, pace: float = PACE) -> tuple[str, dict[str, Any]]:
    """A caller on the line (a long <Pause>) in a thread of its own; its SID once the call
    is in progress."""
    outcome: dict[str, Any] = {}
    sid = "CA" + uuid.uuid4().hex

    def run() -> None:
        outcome["result"] = place_call(
            WsgiTransport(world.fake.flask),
            public_url=world.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_=CALLER,
            to=CENTER,
            call_sid=sid,
            switchboard=world.board,
            pace=pace,
        )

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    world.callers.append(thread)
    wait_for(
        "the call to be in progress",
        lambda: (call := world.board.get_call(sid)) is not None and call.status == "in-progress",
    )
    return sid, outcome


def hang_up(world: RecWorld, sid: str) -> CallResult:
    world.client.calls(sid).update(status="completed")
    result = world.board.wait(sid, timeout=10)
    assert result is not None, "the call did not end"
    return result


def wav(response: requests.Response) -> tuple[int, float, array]:
    """Channels, seconds and samples of a downloaded WAV."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "audio/x-wav"
    with wave.open(io.BytesIO(response.content), "rb") as reader:
        frames = reader.readframes(reader.getnframes())
        samples = array("h", frames)
        return reader.getnchannels(), reader.getnframes() / reader.getframerate(), samples


def longest_zero_run(samples: array) -> int:
    longest = run = 0
    for sample in samples:
        run = run + 1 if sample == 0 else 0
        longest = max(longest, run)
    return longest


# -- the whole life of a recording ------------------------------------------------------------


def test_dual_recording_calls_back_signed_and_leaves_a_two_channel_wav(rec_world: RecWorld) -> None:
    world = rec_world
    sid, _outcome = call_in(world)
    started = time.monotonic()
    recording = world.client.calls(sid).recordings.create(
        recording_channels="dual",
        recording_status_callback=world.url + STATUS_PATH,
        recording_status_callback_event=["in-progress", "completed"],
    )
    assert recording.sid.startswith("RE") and len(recording.sid) == 34
    assert recording.sid[2:] == recording.sid[2:].lower()
    assert (recording.call_sid, recording.account_sid) == (sid, ACCOUNT_SID)
    assert (recording.status, recording.channels, recording.source) == (
        "in-progress",
        2,
        "StartCallRecordingAPI",
    )
    assert recording.conference_sid is None and recording.duration is None
    assert recording.start_time is not None and recording.date_created is not None
    assert recording.uri == (
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}/Recordings/{recording.sid}.json"
    )
    in_progress = wait_for("the in-progress callback", lambda: world.callbacks("in-progress"))[0]
    assert in_progress["RecordingSid"] == recording.sid
    assert in_progress["RecordingDuration"] == "-1"
    assert in_progress["RecordingChannels"] == "2"
    # Nothing is stored while the recording goes on.
    assert world.download(recording.sid).status_code == 404

    time.sleep(1.0)  # ten seconds of the call
    result = hang_up(world, sid)
    elapsed = (time.monotonic() - started) / PACE
    done = wait_for("the completed callback", lambda: world.callbacks("completed"))[0]
    assert world.board.wait_idle()
    assert [p["RecordingStatus"] for p in world.callbacks()] == ["in-progress", "completed"]
    assert world.fake.all_valid()  # every callback carried a valid X-Twilio-Signature
    duration = int(done["RecordingDuration"])
    assert 9 <= duration <= elapsed + 1
    assert duration <= result.duration + 1
    assert done == {
        "AccountSid": ACCOUNT_SID,
        "CallSid": sid,
        "RecordingSid": recording.sid,
        "RecordingUrl": world.recording_url(recording.sid),
        "RecordingStatus": "completed",
        "RecordingDuration": str(duration),
        "RecordingChannels": "2",
        "RecordingSource": "StartCallRecordingAPI",
        "RecordingStartTime": done["RecordingStartTime"],
        "RecordingTrack": "both",
        "ErrorCode": "0",
    }
    assert parsedate_to_datetime(done["RecordingStartTime"]) == recording.start_time

    channels, seconds, samples = wav(world.download(recording.sid))
    assert (channels, seconds) == (2, duration)
    left, right = samples[0::2], samples[1::2]
    assert max(left) > 5000 and max(right) > 5000 and left != right  # two different tones
    # The RecordingUrl itself (no extension) is the audio, as on Twilio.
    plain = requests.get(done["RecordingUrl"], auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10)
    assert plain.content == world.download(recording.sid).content

    fetched = world.client.calls(sid).recordings(recording.sid).fetch()
    assert (fetched.status, fetched.duration, fetched.error_code) == (
        "completed",
        str(duration),
        None,
    )
    listed = world.client.calls(sid).recordings.list()
    assert [r.sid for r in listed] == [recording.sid]
    stored = world.client.recordings(recording.sid).fetch()
    assert (stored.source, stored.channels, stored.duration, stored.call_sid) == (
        "StartCallRecordingAPI",
        2,
        str(duration),
        sid,
    )
    assert stored.start_time == recording.start_time


def test_pause_with_skip_leaves_out_what_silence_keeps_silent(rec_world: RecWorld) -> None:
    world = rec_world
    skip_call, _ = call_in(world)
    silence_call, _ = call_in(world)
    marks = [time.monotonic()]
    skipping = world.client.calls(skip_call).recordings.create()
    silent = world.client.calls(silence_call).recordings.create(trim="do-not-trim")
    assert skipping.channels == 1 and silent.channels == 1  # mono by default

    time.sleep(1.0)
    marks.append(time.monotonic())
    paused = (
        world.client.calls(skip_call)
        .recordings(skipping.sid)
        .update(status="paused", pause_behavior="skip")
    )
    assert paused.status == "paused"
    current = world.client.calls(silence_call).recordings("Twilio.CURRENT")
    assert current.update(status="paused", pause_behavior="silence").sid == silent.sid
    time.sleep(1.0)
    marks.append(time.monotonic())
    assert world.client.calls(skip_call).recordings(skipping.sid).update(
        status="in-progress"
    ).status == ("in-progress")
    assert current.update(status="in-progress").status == "in-progress"
    time.sleep(1.0)
    marks.append(time.monotonic())
    stopped = world.client.calls(skip_call).recordings(skipping.sid).update(status="stopped")
    assert stopped.status == "stopped"
    assert current.update(status="stopped").status == "stopped"
    marks.append(time.monotonic())
    assert world.board.wait_idle()

    recorded = (marks[1] - marks[0] + marks[3] - marks[2]) / PACE  # ~20 s
    whole = (marks[4] - marks[0]) / PACE  # ~30 s
    skipped = world.client.calls(skip_call).recordings(skipping.sid).fetch()
    kept = world.client.calls(silence_call).recordings(silent.sid).fetch()
    assert (skipped.status, kept.status) == ("completed", "completed")
    assert abs(int(skipped.duration) - recorded) <= 2.5
    assert abs(int(kept.duration) - whole) <= 2.5
    assert int(kept.duration) - int(skipped.duration) >= 7

    channels, seconds, samples = wav(world.download(skipping.sid))
    assert (channels, seconds) == (1, int(skipped.duration))
    assert longest_zero_run(samples) < 100  # a tone all along: the pause is not in it
    channels, seconds, samples = wav(world.download(silent.sid))
    assert (channels, seconds) == (1, int(kept.duration))
    third = len(samples) // 3
    middle = samples[third + third // 4 : 2 * third - third // 4]
    assert middle and not any(middle)  # the paused stretch is silence
    assert any(samples[: third // 2]) and any(samples[-third // 2 :])

    # The calls go on; when they end, no second recording appears.
    hang_up(world, skip_call)
    hang_up(world, silence_call)
    assert world.board.wait_idle()
    assert [r.sid for r in world.client.calls(skip_call).recordings.list()] == [skipping.sid]


def test_a_recording_with_nothing_in_it_is_absent(rec_world: RecWorld) -> None:
    world = rec_world
    sid, _ = call_in(world, pace=1.0)  # real time: the request's own latency is ~0 s
    response = requests.post(
        f"{world.api}/Calls/{sid}/Recordings.json",
        data={
            "RecordingStatusCallback": world.url + STATUS_PATH,
            "RecordingStatusCallbackEvent": "in-progress completed absent",
            "RecordingStatusCallbackMethod": "GET",
        },
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    recording = response.json()
    world.client.calls(sid).recordings("Twilio.CURRENT").update(
        status="paused", pause_behavior="skip"
    )
    time.sleep(0.3)
    hang_up(world, sid)  # the call ends while the recording is paused
    absent = wait_for("the absent callback", lambda: world.callbacks("absent"))[0]
    assert world.board.wait_idle()
    hits = world.fake.hits_for(STATUS_PATH)
    assert [hit.method for hit in hits] == ["GET", "GET"] and world.fake.all_valid()
    assert [p["RecordingStatus"] for p in world.callbacks()] == ["in-progress", "absent"]
    assert absent["RecordingDuration"] == "0" and absent["ErrorCode"] == "16101"
    assert absent["RecordingSid"] == recording["sid"]
    fetched = world.client.calls(sid).recordings(recording["sid"]).fetch()
    assert (fetched.status, fetched.duration, fetched.error_code) == ("absent", "0", 16101)
    assert world.download(recording["sid"]).status_code == 404
    assert list(world.store.root.glob("RE*")) == []


def test_a_pause_is_silence_unless_told_to_skip(rec_world: RecWorld) -> None:
    world = rec_world
    sid, _ = call_in(world)
    recordings = world.client.calls(sid).recordings
    first = recordings.create()
    assert recordings(first.sid).update(status="paused").status == "paused"
    assert world.board.find_recording(sid, first.sid).pause_behavior == "silence"  # type: ignore[union-attr]
    assert recordings("Twilio.CURRENT").update(status="stopped").sid == first.sid
    second = recordings.create()
    recordings(second.sid).update(status="paused", pause_behavior="skip")
    assert world.board.find_recording(sid, "Twilio.CURRENT") is world.board.find_recording(
        sid, second.sid
    )
    assert [r.sid for r in recordings.list()] == [second.sid, first.sid]  # newest first


def test_only_subscribed_events_are_sent(rec_world: RecWorld) -> None:
    world = rec_world
    sid, _ = call_in(world)
    recording = world.client.calls(sid).recordings.create(
        recording_status_callback=world.url + STATUS_PATH
    )  # default events: completed only
    time.sleep(0.3)
    hang_up(world, sid)
    assert world.board.wait_idle()
    assert [p["RecordingStatus"] for p in world.callbacks()] == ["completed"]
    assert world.callbacks()[0]["RecordingSid"] == recording.sid
    assert world.callbacks()[0]["RecordingChannels"] == "1"


def test_bad_recording_requests_get_twilio_errors(rec_world: RecWorld) -> None:
    world = rec_world
    client = world.client

    def error(call: Any) -> tuple[int, int]:
        with pytest.raises(TwilioRestException) as raised:
            call()
        return raised.value.status, raised.value.code

    unknown = "CA" + "0" * 32
    assert error(lambda: client.calls(unknown).recordings.create()) == (404, 20404)
    listed = requests.get(
        f"{world.api}/Calls/{unknown}/Recordings.json", auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10
    )
    assert (listed.status_code, listed.json()["code"]) == (404, 20404)
    sid, _ = call_in(world)
    recordings = client.calls(sid).recordings
    assert error(lambda: recordings.create(recording_channels="stereo")) == (400, 20001)
    assert error(lambda: recordings.create(recording_track="sideways")) == (400, 20001)
    assert error(lambda: recordings.create(trim="maybe")) == (400, 20001)
    assert error(lambda: recordings.create(recording_status_callback_event=["paused"])) == (
        400,
        20001,
    )
    outside = "https://elsewhere.example.com/hook"
    assert error(lambda: recordings.create(recording_status_callback=outside)) == (400, 21609)
    assert error(lambda: recordings("Twilio.CURRENT").update(status="paused")) == (404, 20404)
    assert error(lambda: recordings("RE" + "0" * 32).fetch()) == (404, 20404)

    recording = recordings.create()
    assert error(lambda: recordings(recording.sid).update(status="completed")) == (400, 20001)
    assert error(
        lambda: recordings(recording.sid).update(status="paused", pause_behavior="mute")
    ) == (400, 20001)
    assert error(lambda: recordings(recording.sid).delete()) == (400, 20001)
    other, _ = call_in(world)
    assert error(lambda: client.calls(other).recordings(recording.sid).fetch()) == (404, 20404)

    time.sleep(0.3)
    hang_up(world, sid)
    assert world.board.wait_idle()
    assert error(lambda: recordings.create()) == (404, 20404)  # the call is over
    assert error(lambda: recordings(recording.sid).update(status="stopped")) == (400, 20001)
    assert recordings(recording.sid).fetch().status == "completed"
    assert recordings(recording.sid).delete() is True
    assert world.download(recording.sid).status_code == 404
    assert error(lambda: recordings(recording.sid).fetch()) == (404, 20404)


def test_call_recordings_are_downloaded_through_the_fault_injecting_route(
    rec_world: RecWorld,
) -> None:
    world = rec_world
    sid, _ = call_in(world)
    recording = world.client.calls(sid).recordings.create(recording_channels="dual")
    time.sleep(0.5)
    hang_up(world, sid)
    assert world.board.wait_idle()
    world.store.inject(fail_next=1, status=503, truncate_next=1)
    assert world.download(recording.sid).status_code == 503
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # cut short
        world.download(recording.sid)
    channels, _seconds, _samples = wav(world.download(recording.sid))
    assert channels == 2


# -- inside the product app ---------------------------------------------------------------------


def test_the_app_s_switchboard_records_into_the_app_s_store(live_server: LiveServer) -> None:
    """With the app's own wiring: the recording lands in the store its recordings API serves
    (``simulator_recordings``), at the RecordingUrl the app's Twilio API URL starts."""
    services = live_server.app.extensions["callcenter"]
    board = services.extras["simulator_switchboard"]
    store = services.extras["simulator_recordings"]
    client = Client(APP_ACCOUNT_SID, APP_AUTH_TOKEN)
    client.api.base_url = live_server.url + "/simulator"
    caller = start_caller(live_server.app, live_server.url, "+8613900139000", ["1", "0"])
    try:
        wait_for("the caller to queue", lambda: (c := board.get_call(caller.call_sid)) and c.queue)
        recording = client.calls(caller.call_sid).recordings.create(recording_channels="dual")
        time.sleep(0.3)  # 15 s of the call at the caller's pace
        client.calls(caller.call_sid).update(status="completed")
        caller.result()
        assert board.wait_idle()
        fetched = client.calls(caller.call_sid).recordings(recording.sid).fetch()
        assert fetched.status == "completed" and int(fetched.duration) >= 10
        url = board.recording_url(recording.sid)
        assert url == (
            f"{services.settings.twilio_api_url}/2010-04-01/Accounts/{APP_ACCOUNT_SID}"
            f"/Recordings/{recording.sid}"
        )
        store.inject(fail_next=1)
        auth = (APP_ACCOUNT_SID, APP_AUTH_TOKEN)
        assert requests.get(url, auth=auth, timeout=10).status_code == 500
        channels, seconds, _ = wav(requests.get(url, auth=auth, timeout=10))
        assert (channels, seconds) == (2, int(fetched.duration))
    finally:
        client.http_client.session.close()
