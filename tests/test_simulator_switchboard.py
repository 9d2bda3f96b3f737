"""The switchboard: live calls and conferences behind Twilio's REST API, driven by the real
``twilio.rest.Client`` against a small Twilio-style test app (not the product app)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, request
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, Enqueue, VoiceResponse
from werkzeug.serving import make_server

from callcenter.simulator.board import Answer
from callcenter.simulator.leg.call import SimulatedCall, place_call
from callcenter.simulator.leg.events import CallResult, format_event
from callcenter.simulator.rest.api import create_switchboard_api
from callcenter.simulator.switchboard import Switchboard
from callcenter.simulator.transports import WsgiTransport

ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "switchboard-test-token"
CALLER = "+8613900139000"
CENTER = "+864008001234"
PACE = 0.01  # one simulated second takes 10 ms
OFFLINE_URL = "https://cc.example.com"

Handler = Callable[[dict[str, str]], Any]


@dataclass
class Hit:
    method: str
    path: str
    params: dict[str, str]
    valid: bool


class FakeApp:
    """Answers webhooks with per-test TwiML, checking every Twilio signature."""

    def __init__(self, public_url: str = OFFLINE_URL) -> None:
        self.flask = Flask("fake_switchboard_app")
        self.public_url = public_url
        self.handlers: dict[str, Handler] = {}
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        validator = RequestValidator(AUTH_TOKEN)

        @self.flask.before_request
        def check_signature() -> Any:
            if request.path.startswith("/simulator/"):
                return None  # the REST API uses basic auth
            query = request.query_string.decode()
            url = self.public_url + request.path + (f"?{query}" if query else "")
            valid = validator.validate(
                url, request.form, request.headers.get("X-Twilio-Signature", "")
            )
            with self._lock:
                self.hits.append(Hit(request.method, request.path, request.values.to_dict(), valid))
            return None if valid else ("invalid signature", 403)

        @self.flask.route("/<path:path>", methods=["GET", "POST"])
        def dispatch(path: str) -> Any:
            handler = self.handlers.get("/" + path)
            if handler is None:
                return "not found", 404
            answer = handler(request.values.to_dict())
            if isinstance(answer, VoiceResponse):
                return str(answer), 200, {"Content-Type": "text/xml"}
            return answer

    def twiml(self, path: str, response: VoiceResponse) -> None:
        self.handlers[path] = lambda params: response

    def ok(self, *paths: str) -> None:
        for path in paths:
            self.handlers[path] = lambda params: ("", 204)

    def hits_for(self, path: str) -> list[Hit]:
        with self._lock:
            return [hit for hit in self.hits if hit.path == path]

    def all_valid(self) -> bool:
        with self._lock:
            return bool(self.hits) and all(hit.valid for hit in self.hits)


@dataclass
class World:
    fake: FakeApp
    board: Switchboard
    client: Client
    url: str
    callers: list[threading.Thread] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"{self.url}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}"


@pytest.fixture
def world() -> Iterator[World]:
    """The fake app with the switchboard API, served for real (the twilio client needs HTTP)."""
    fake = FakeApp()
    server = make_server("127.0.0.1", 0, fake.flask, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    fake.public_url = url
    board = Switchboard(
        WsgiTransport(fake.flask),
        public_url=url,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        pace=PACE,
    )
    fake.flask.register_blueprint(
        create_switchboard_api(board, ACCOUNT_SID, AUTH_TOKEN), url_prefix="/simulator"
    )
    fake.ok("/twilio/status", "/twilio/leg-status", "/twilio/conference-events")
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    client = Client(ACCOUNT_SID, AUTH_TOKEN)
    client.api.base_url = url + "/simulator"
    world = World(fake, board, client, url)
    try:
        yield world
    finally:
        board.close()  # hangs up callers still on the line, too
        for caller in world.callers:
            caller.join(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        client.http_client.session.close()


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class CallerThread:
    """A simulated caller placed in a thread of its own (place_call blocks)."""

    def __init__(self, world: World, call_sid: str, **options: Any) -> None:
        self.result: CallResult | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = place_call(
                    WsgiTransport(world.fake.flask),
                    public_url=world.url,
                    account_sid=ACCOUNT_SID,
                    auth_token=AUTH_TOKEN,
                    from_=CALLER,
                    to=CENTER,
                    call_sid=call_sid,
                    switchboard=world.board,
                    pace=PACE,
                    **options,
                )
            except BaseException as exc:  # handed to the test thread
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        world.callers.append(self.thread)

    def join(self, timeout: float = 10.0) -> CallResult:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the caller is still on the line"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def conference_twiml(
    name: str, action: str | None = None, say: str | None = None, **attributes: Any
) -> VoiceResponse:
    response = VoiceResponse()
    if say:
        response.say(say)
    dial = Dial(action=action) if action else Dial()
    dial.conference(name, **attributes)
    response.append(dial)
    return response


def events_of(fake: FakeApp) -> list[tuple[str, str]]:
    return [
        (hit.params["StatusCallbackEvent"], hit.params.get("CallSid", ""))
        for hit in fake.hits_for("/twilio/conference-events")
    ]


# -- the whole story --------------------------------------------------------------------------


def test_queued_caller_is_redirected_into_a_conference_with_an_agent_leg(world: World) -> None:
    fake, board, client, url = world.fake, world.board, world.client, world.url
    caller_sid = "CA" + "c" * 32
    room = "support-" + caller_sid

    queue = VoiceResponse()
    queue.append(Enqueue("support", wait_url="/twilio/queue-wait", action="/twilio/queue-done"))
    fake.twiml("/twilio/voice", queue)
    music = VoiceResponse()
    music.play("/static/queue-music.wav", loop=0)
    fake.twiml("/twilio/queue-wait", music)
    fake.twiml("/twilio/queue-done", VoiceResponse())

    connect = conference_twiml(
        room,
        action="/twilio/after-dial",
        say="Agent 1 0 2 4 will help you",
        start_conference_on_enter=False,
        end_conference_on_exit=False,
        wait_url="/twilio/conference-wait",
        status_callback="/twilio/conference-events",
        status_callback_event="start end join leave hold mute",
    )
    fake.twiml("/twilio/connect", connect)
    waiting = VoiceResponse()
    waiting.say("Connecting you now")
    waiting.play("/static/wait.wav", loop=0)
    fake.twiml("/twilio/conference-wait", waiting)
    agent = conference_twiml(
        room,
        say="Customer from the support queue",
        start_conference_on_enter=True,
        end_conference_on_exit=True,
    )
    fake.twiml("/twilio/agent", agent)
    hold = VoiceResponse()
    hold.say("Please hold")
    hold.play("/static/hold.wav", loop=0)
    fake.twiml("/twilio/hold-music", hold)
    goodbye = VoiceResponse()
    goodbye.say("Thank you for calling, goodbye")
    goodbye.hangup()
    fake.twiml("/twilio/after-dial", goodbye)

    caller = CallerThread(world, caller_sid, hold_seconds=3000, dial_talk_seconds=3000)
    live = wait_for("the caller to queue", lambda: (c := board.get_call(caller_sid)) and c.queue)
    assert live.name == "support"

    # 1. The app takes the caller out of the queue with a REST redirect.
    updated = client.calls(caller_sid).update(url=f"{url}/twilio/connect", method="POST")
    assert (updated.sid, updated.status, updated.direction) == (
        caller_sid,
        "in-progress",
        "inbound",
    )
    conference = wait_for(
        "the conference", lambda: client.conferences.list(friendly_name=room, status="init")
    )[0]
    assert conference.sid.startswith("CF") and conference.friendly_name == room
    waiting_for = client.conferences(conference.sid).participants.list()
    assert [p.call_sid for p in waiting_for] == [caller_sid]
    assert waiting_for[0].start_conference_on_enter is False
    assert waiting_for[0].status == "connected"

    # 2. ... and dials the agent into the same conference.
    leg = client.calls.create(
        to="client:alice",
        from_=CENTER,
        url=f"{url}/twilio/agent",
        method="POST",
        status_callback=f"{url}/twilio/leg-status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert leg.sid.startswith("CA") and leg.sid != caller_sid
    assert (leg.status, leg.direction, leg.to, leg._from) == (
        "queued",
        "outbound-api",
        "client:alice",
        CENTER,
    )
    wait_for(
        "the conference to start",
        lambda: client.conferences(conference.sid).fetch().status == "in-progress",
    )
    participants = {p.call_sid: p for p in client.conferences(conference.sid).participants.list()}
    assert set(participants) == {caller_sid, leg.sid}
    assert participants[leg.sid].end_conference_on_exit is True
    assert participants[caller_sid].end_conference_on_exit is False
    assert all(
        p.status == "connected" and not p.hold and not p.muted for p in participants.values()
    )

    # 3. Hold and mute the caller.
    caller_participant = client.conferences(conference.sid).participants(caller_sid)
    held = caller_participant.update(
        hold=True, hold_url=f"{url}/twilio/hold-music", hold_method="POST"
    )
    assert held.hold is True
    wait_for("the hold music", lambda: fake.hits_for("/twilio/hold-music"))
    assert caller_participant.update(hold=False).hold is False
    assert caller_participant.update(muted=True).muted is True
    fetched = caller_participant.fetch()
    assert (fetched.hold, fetched.muted, fetched.conference_sid) == (False, True, conference.sid)
    assert len(client.conferences(conference.sid).participants.list(muted=True)) == 1

    # 4. The agent hangs up: the conference ends (endConferenceOnExit), the caller goes on.
    hung_up = client.calls(leg.sid).update(status="completed")
    assert hung_up.status == "completed"
    result = caller.join()
    assert board.wait_idle()

    heard = result.heard()
    assert "Agent 1 0 2 4 will help you" in heard
    assert heard.index("Agent 1 0 2 4 will help you") < heard.index("Connecting you now")
    assert "Please hold" in heard
    assert heard[-1] == "Thank you for calling, goodbye"
    assert result.status == "completed" and result.ended == "hung up by the app"
    lines = [format_event(event) for event in result.events]
    assert f'In conference "{room}"' in lines
    assert f'Conference "{room}" started' in lines
    assert "Muted" in lines and "Off hold" in lines
    assert any(line.startswith(f'Left conference "{room}" (conference ended)') for line in lines)

    assert fake.hits_for("/twilio/queue-done")[0].params["QueueResult"] == "redirected"
    after_dial = fake.hits_for("/twilio/after-dial")[0].params
    assert (after_dial["DialCallStatus"], after_dial["CallSid"]) == ("completed", caller_sid)
    agent_hook = fake.hits_for("/twilio/agent")[0].params
    assert agent_hook["Direction"] == "outbound-api"
    assert agent_hook["CallStatus"] == "in-progress"
    assert (agent_hook["CallSid"], agent_hook["To"], agent_hook["From"]) == (
        leg.sid,
        "client:alice",
        CENTER,
    )

    progress = fake.hits_for("/twilio/leg-status")
    assert [hit.params["CallStatus"] for hit in progress] == [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
    ]
    assert [hit.params["SequenceNumber"] for hit in progress] == ["0", "1", "2", "3"]
    assert all(hit.params["CallSid"] == leg.sid for hit in progress)

    assert events_of(fake) == [
        ("participant-join", caller_sid),
        ("participant-join", leg.sid),
        ("conference-start", ""),
        ("participant-hold", caller_sid),
        ("participant-unhold", caller_sid),
        ("participant-mute", caller_sid),
        ("participant-leave", leg.sid),
        ("participant-leave", caller_sid),
        ("conference-end", ""),
    ]
    end = fake.hits_for("/twilio/conference-events")[-1].params
    assert end["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    assert end["CallSidEndingConference"] == leg.sid
    assert fake.all_valid(), [hit for hit in fake.hits if not hit.valid]

    ended = client.conferences(conference.sid).fetch()
    assert ended.status == "completed"
    assert ended.reason_conference_ended == "participant-with-end-conference-on-exit-left"
    assert ended.call_sid_ending_conference == leg.sid
    assert client.conferences(conference.sid).participants.list() == []
    assert client.calls(caller_sid).fetch().status == "completed"
    agent_call = client.calls(leg.sid).fetch()
    assert (agent_call.status, agent_call.direction) == ("completed", "outbound-api")
    assert agent_call.start_time is not None and agent_call.end_time is not None
    assert {call.sid for call in client.calls.list()} == {caller_sid, leg.sid}
    assert [call.sid for call in client.calls.list(to="client:alice")] == [leg.sid]

    posted = [(r.method, r.path) for r in board.requests]
    assert ("POST", f"/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json") in posted
    create = next(
        r for r in board.requests if r.path.endswith("/Calls.json") and r.method == "POST"
    )
    assert create.params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert create.get("To") == "client:alice" and create.status == 201
    assert board.errors == []


# -- errors -----------------------------------------------------------------------------------


def test_unknown_sids_are_404_twilio_errors(world: World) -> None:
    client = world.client
    unknown_call, unknown_conference = "CA" + "0" * 32, "CF" + "0" * 32
    attempts: list[Callable[[], Any]] = [
        lambda: client.calls(unknown_call).fetch(),
        lambda: client.calls(unknown_call).update(status="completed"),
        lambda: client.calls(unknown_call).update(url=f"{world.url}/twilio/x"),
        lambda: client.conferences(unknown_conference).fetch(),
        lambda: client.conferences(unknown_conference).update(status="completed"),
        lambda: client.conferences(unknown_conference).participants(unknown_call).fetch(),
        lambda: client.conferences(unknown_conference).participants(unknown_call).update(hold=True),
        lambda: client.conferences(unknown_conference).participants(unknown_call).delete(),
        lambda: client.conferences(unknown_conference).participants.create(
            from_=CENTER, to="client:alice"
        ),
    ]
    for attempt in attempts:
        with pytest.raises(TwilioRestException) as caught:
            attempt()
        assert (caught.value.status, caught.value.code) == (404, 20404)
    with requests.get(
        f"{world.api}/Conferences/{unknown_conference}/Participants.json",
        auth=(ACCOUNT_SID, AUTH_TOKEN),
        timeout=5,
    ) as response:
        assert (response.status_code, response.json()["code"]) == (404, 20404)
    assert [r.status for r in world.board.requests] == [404] * (len(attempts) + 1)
    assert client.conferences.list() == []
    assert client.calls.list() == []


def test_authentication_and_account_are_checked(world: World) -> None:
    for sid, token in [(ACCOUNT_SID, "wrong-token"), ("AC" + "9" * 32, AUTH_TOKEN)]:
        intruder = Client(sid, token)
        intruder.api.base_url = world.url + "/simulator"
        try:
            with pytest.raises(TwilioRestException) as caught:
                intruder.calls.create(to="client:alice", from_=CENTER, url=f"{world.url}/x")
        finally:
            intruder.http_client.session.close()
        assert (caught.value.status, caught.value.code) == (401, 20003)

    other = f"{world.url}/simulator/2010-04-01/Accounts/AC{'9' * 32}/Calls.json"
    with requests.get(other, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5) as response:
        assert response.status_code == 404
        assert response.json()["code"] == 20404
    with requests.get(world.api + "/Calls.json", timeout=5) as response:
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert world.board.calls() == []
    assert world.fake.hits == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": CENTER, "Url": "{url}/twilio/agent"}, 21201),
        ({"To": "alice", "From": CENTER, "Url": "{url}/twilio/agent"}, 21211),
        ({"To": "client:alice", "Url": "{url}/twilio/agent"}, 21213),
        ({"To": "client:alice", "From": CENTER}, 21205),
        ({"To": "client:alice", "From": CENTER, "Url": "https://evil.example.org/x"}, 21205),
        ({"To": "client:alice", "From": CENTER, "Twiml": "<Response><Say>hi</Response>"}, 12100),
        (
            {
                "To": "client:alice",
                "From": CENTER,
                "Url": "{url}/twilio/agent",
                "StatusCallbackEvent": "picked-up",
            },
            20001,
        ),
    ],
)
def test_bad_call_requests_are_400(world: World, fields: dict[str, str], code: int) -> None:
    data = {key: value.format(url=world.url) for key, value in fields.items()}
    with requests.post(
        world.api + "/Calls.json", data=data, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
    ) as response:
        assert response.status_code == 400
        assert response.json()["code"] == code
    assert world.board.calls() == []


# -- outbound legs ----------------------------------------------------------------------------


def test_answer_policy_busy_no_answer_and_canceling_a_ringing_leg(world: World) -> None:
    client, board, fake = world.client, world.board, world.fake
    board.answer_policy = lambda to: {"client:bob": "busy", "client:carol": "no-answer"}.get(
        to, Answer("answer")
    )
    progress = ["initiated", "ringing", "answered", "completed"]
    sids = {}
    for to in ("client:bob", "client:carol"):
        sids[to] = client.calls.create(
            to=to,
            from_=CENTER,
            url=f"{world.url}/twilio/never",
            status_callback=f"{world.url}/twilio/leg-status",
            status_callback_event=progress,
            timeout=5,
        ).sid
    for to, status in [("client:bob", "busy"), ("client:carol", "no-answer")]:
        result = board.wait(sids[to], timeout=10)
        assert result is not None and (result.status, result.duration) == (status, 0)
        fetched = client.calls(sids[to]).fetch()
        assert (fetched.status, fetched.duration, fetched.start_time) == (status, "0", None)
        statuses = [
            hit.params["CallStatus"]
            for hit in fake.hits_for("/twilio/leg-status")
            if hit.params["CallSid"] == sids[to]
        ]
        assert statuses == ["initiated", "ringing", status]
    assert fake.hits_for("/twilio/never") == []

    board.ring_seconds = 600  # six real seconds of ringing
    ringing = client.calls.create(
        to="+8613800138000",
        from_=CENTER,
        url=f"{world.url}/twilio/never",
        status_callback=f"{world.url}/twilio/leg-status",
        status_callback_event=progress,
    )
    wait_for("ringing", lambda: client.calls(ringing.sid).fetch().status == "ringing")
    assert client.calls(ringing.sid).update(status="canceled").status == "canceled"
    result = board.wait(ringing.sid, timeout=5)
    assert result is not None and result.status == "canceled"
    assert client.calls(ringing.sid).fetch().status == "canceled"
    assert fake.hits_for("/twilio/never") == []
    assert fake.all_valid()


def test_inline_twiml_create_update_and_delete(world: World) -> None:
    client, board = world.client, world.board
    leg = client.calls.create(
        to="client:alice",
        from_=CENTER,
        twiml=(
            '<Response><Say>Hello agent</Say><Pause length="600"/><Say>Not heard</Say></Response>'
        ),
    )
    wait_for(
        "the pause",
        lambda: any(e.kind == "pause" for e in board.get_call(leg.sid).events),  # type: ignore[union-attr]
    )
    with pytest.raises(TwilioRestException) as caught:
        client.calls(leg.sid).delete()
    assert caught.value.status == 400
    client.calls(leg.sid).update(twiml="<Response><Say>Changed</Say></Response>")
    result = board.wait(leg.sid, timeout=5)
    assert result is not None
    assert result.heard() == ["Hello agent", "Changed"]
    assert result.status == "completed"
    assert world.fake.hits == []  # inline TwiML: no webhook at all

    with pytest.raises(TwilioRestException) as caught:
        client.calls(leg.sid).update(url=f"{world.url}/twilio/late")
    assert (caught.value.status, caught.value.code) == (400, 21220)
    assert client.calls(leg.sid).update(status="completed").status == "completed"
    assert client.calls(leg.sid).delete() is True
    with pytest.raises(TwilioRestException) as caught:
        client.calls(leg.sid).fetch()
    assert caught.value.status == 404


# -- the Participants API -----------------------------------------------------------------------


def test_participants_api_adds_a_third_party_and_removes_it(world: World) -> None:
    client, board, fake, url = world.client, world.board, world.fake, world.url
    agent = client.conferences("room-3").participants.create(
        from_=CENTER,
        to="client:alice",
        label="agent",
        start_conference_on_enter=True,
        end_conference_on_exit=False,
        conference_status_callback=f"{url}/twilio/conference-events",
        conference_status_callback_event=["start", "end", "join", "leave"],
        status_callback=f"{url}/twilio/leg-status",
        status_callback_event=["initiated", "answered", "completed"],
    )
    assert agent.conference_sid.startswith("CF") and agent.call_sid.startswith("CA")
    assert agent.status in ("queued", "ringing", "connecting")
    cf = agent.conference_sid
    wait_for(
        "the agent",
        lambda: client.conferences(cf).participants(agent.call_sid).fetch().status == "connected",
    )
    assert client.conferences(cf).fetch().status == "in-progress"

    supervisor = client.conferences(cf).participants.create(
        from_=CENTER, to="+8613800138000", label="supervisor", muted=True
    )
    wait_for(
        "the supervisor",
        lambda: (
            client.conferences(cf).participants(supervisor.call_sid).fetch().status == "connected"
        ),
    )
    listed = {p.call_sid: p for p in client.conferences(cf).participants.list()}
    assert set(listed) == {agent.call_sid, supervisor.call_sid}
    assert listed[supervisor.call_sid].muted is True
    assert listed[supervisor.call_sid].label == "supervisor"

    assert client.conferences(cf).participants(supervisor.call_sid).delete() is True
    kicked = board.wait(supervisor.call_sid, timeout=5)
    assert kicked is not None and kicked.status == "completed"
    assert [p.call_sid for p in client.conferences(cf).participants.list()] == [agent.call_sid]

    ended = client.conferences(cf).update(status="completed")
    assert (ended.status, ended.reason_conference_ended) == (
        "completed",
        "conference-ended-via-api",
    )
    finished = board.wait(agent.call_sid, timeout=5)
    assert finished is not None and finished.status == "completed"
    assert board.wait_idle()

    assert events_of(fake) == [
        ("participant-join", agent.call_sid),
        ("conference-start", ""),
        ("participant-join", supervisor.call_sid),
        ("participant-leave", supervisor.call_sid),
        ("participant-leave", agent.call_sid),
        ("conference-end", ""),
    ]
    progress = [
        hit.params["CallStatus"]
        for hit in fake.hits_for("/twilio/leg-status")
        if hit.params["CallSid"] == agent.call_sid
    ]
    assert progress == ["initiated", "in-progress", "completed"]
    assert fake.all_valid()
    # A new participant for the same name starts a new conference.
    again = client.conferences("room-3").participants.create(from_=CENTER, to="client:alice")
    assert again.conference_sid != cf
    with pytest.raises(TwilioRestException) as caught:
        client.conferences(cf).participants.create(from_=CENTER, to="client:alice")
    assert caught.value.status == 400


# -- conferences without a REST API -------------------------------------------------------------


@pytest.fixture
def offline() -> FakeApp:
    fake = FakeApp()
    fake.ok("/twilio/status", "/twilio/conference-events")
    fake.handlers["/twilio/after-dial"] = lambda params: VoiceResponse()
    return fake


def offline_call(fake: FakeApp, **options: Any) -> CallResult:
    return place_call(
        WsgiTransport(fake.flask),
        public_url=OFFLINE_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=CENTER,
        **options,
    )


def test_a_scripted_caller_alone_in_a_conference_talks_then_hangs_up(offline: FakeApp) -> None:
    offline.twiml(
        "/twilio/voice",
        conference_twiml(
            "lonely",
            action="/twilio/after-dial",
            wait_url="",
            status_callback="/twilio/conference-events",
            status_callback_event="start end join leave",
        ),
    )
    result = offline_call(offline, dial_talk_seconds=30)
    assert result.kinds() == ["conference", "conference-start", "hangup", "status"]
    assert result.duration == 30
    assert result.ended == "hung up in conference lonely after 30s"
    after = offline.hits_for("/twilio/after-dial")[0].params
    assert (after["DialCallStatus"], after["CallStatus"]) == ("completed", "completed")
    events = [
        hit.params["StatusCallbackEvent"] for hit in offline.hits_for("/twilio/conference-events")
    ]
    assert events == ["participant-join", "conference-start", "participant-leave", "conference-end"]
    assert offline.hits_for("/twilio/conference-events")[-1].params["ReasonConferenceEnded"] == (
        "last-participant-left"
    )
    callbacks = [e for e in result.exchanges if e.kind == "callback"]
    assert [e.params.get("StatusCallbackEvent") for e in callbacks][:4] == events
    assert offline.all_valid()


def test_a_caller_waiting_for_a_conference_gives_up(offline: FakeApp) -> None:
    offline.twiml(
        "/twilio/voice",
        conference_twiml(
            "waiting-room", action="/twilio/after-dial", start_conference_on_enter=False
        ),
    )
    result = offline_call(offline, hold_seconds=45)
    assert [format_event(e) for e in result.events] == [
        'In conference "waiting-room"',
        "Hold: default conference wait music",
        'Hangup: caller hung up after 45s in conference "waiting-room"',
        "Call completed after 45s",
    ]
    assert len(offline.hits_for("/twilio/after-dial")) == 1


def test_the_dial_time_limit_takes_the_call_out_of_the_conference(offline: FakeApp) -> None:
    response = VoiceResponse()
    dial = Dial(action="/twilio/after-dial", time_limit=15)
    dial.conference("short", wait_url="")
    response.append(dial)
    response.say("Not reached: the action answers")
    offline.twiml("/twilio/voice", response)
    after = VoiceResponse()
    after.say("Time is up")
    offline.twiml("/twilio/after-dial", after)
    result = offline_call(offline, dial_talk_seconds=600)
    assert [format_event(e) for e in result.events] == [
        'In conference "short"',
        'Conference "short" started',
        'Left conference "short" (time limit) after 15s',
        "Say (en-US): Time is up",
        "Call completed after 16s",  # "Time is up" takes 1 s
    ]
    after_params = offline.hits_for("/twilio/after-dial")[0].params
    assert (after_params["DialCallStatus"], after_params["CallStatus"]) == (
        "completed",
        "in-progress",
    )


def test_removed_from_a_conference_the_call_goes_on_after_its_dial(offline: FakeApp) -> None:
    board = Switchboard(
        WsgiTransport(offline.flask),
        public_url=OFFLINE_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        pace=0,
    )
    offline.twiml(
        "/twilio/voice",
        conference_twiml(
            "team",
            action="/twilio/after-dial",
            status_callback="/twilio/conference-events",
            status_callback_event="join leave end",
        ),
    )
    goodbye = VoiceResponse()
    goodbye.say("You were removed")
    offline.twiml("/twilio/after-dial", goodbye)

    def hook(call: SimulatedCall) -> None:
        if call.conference is not None and call.clock >= 20:
            assert board.participant(call.conference.conference_sid, call.call_sid) is not None
            assert board.kick(call.conference.conference_sid, call.call_sid)

    try:
        result = offline_call(offline, switchboard=board, on_wait=hook, dial_talk_seconds=600)
        assert board.wait_idle()
    finally:
        board.close()
    assert result.heard() == ["You were removed"]
    assert 'Left conference "team" (kicked) after 20s' in [format_event(e) for e in result.events]
    assert offline.hits_for("/twilio/after-dial")[0].params["DialCallStatus"] == "completed"
    (conference,) = board.conferences("team")
    assert (conference.status, conference.reason_ended) == ("completed", "last-participant-kicked")
    events = [
        hit.params["StatusCallbackEvent"] for hit in offline.hits_for("/twilio/conference-events")
    ]
    assert events == ["participant-join", "participant-leave", "conference-end"]
    assert [e.params["StatusCallbackEvent"] for e in board.callbacks] == events
    assert board.get_call(result.call_sid) is not None
    assert offline.all_valid()


def test_switchboard_refuses_duplicate_sids_and_work_after_close(offline: FakeApp) -> None:
    board = Switchboard(
        WsgiTransport(offline.flask),
        public_url=OFFLINE_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
    )
    first = SimulatedCall(
        WsgiTransport(offline.flask),
        public_url=OFFLINE_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=CENTER,
    )
    twin = SimulatedCall(
        WsgiTransport(offline.flask),
        public_url=OFFLINE_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=CENTER,
        call_sid=first.call_sid,
    )
    board.register(first)
    board.register(first)  # the same call again is fine
    with pytest.raises(ValueError, match="already has the SID"):
        board.register(twin)
    assert board.unregister(first.call_sid) and not board.unregister(first.call_sid)
    board.close()
    with pytest.raises(RuntimeError, match="closed"):
        board.place_outbound("client:alice", CENTER, f"{OFFLINE_URL}/twilio/agent")
    with pytest.raises(ValueError, match="answer must be one of"):
        Answer("maybe")
