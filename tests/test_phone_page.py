"""The browser phone of the simulator: interactive simulated calls, the /phone API against
the product app on a live server, and the page itself in headless Chromium."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import LiveServer, shot, start_caller
from flask import Flask, request
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import select
from test_agent_socket import Console, team  # noqa: F401
from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.models import Call
from callcenter.simulator import phone_page
from callcenter.simulator import phones as phone_lines
from callcenter.simulator.leg.call import SimulatedCall
from callcenter.simulator.leg.events import CallEvent, format_event
from callcenter.simulator.recordings import RecordingStore
from callcenter.simulator.rest.recordings import create_simulator_api
from callcenter.simulator.transports import WsgiTransport
from callcenter.telephony.bridge import rest_client

SID_RE = re.compile(r"^CA[0-9a-f]{32}$")
UNKNOWN_ENGLISH = "+15005550006"
LANGUAGE_PROMPT = "For English, press 1."
MENU_START = "For repairs and warranty, press 1 or say repair."
PACE = 0.5  # the page's calls run at twice real time in these tests


# -- interactive calls against a small TwiML app ---------------------------------------------

PUBLIC_URL = "https://cc.example.com"
ACCOUNT_SID = "AC" + "2" * 32
AUTH_TOKEN = "interactive-test-token"


class TwimlApp:
    """Answers each path with the TwiML a handler returns; writes down what it was sent."""

    def __init__(self, tmp_path: Path) -> None:
        self.flask = Flask("interactive_app")
        self.handlers: dict[str, Callable[[dict[str, str]], VoiceResponse | str]] = {}
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.flask.register_blueprint(
            create_simulator_api(RecordingStore(tmp_path / "recordings"), ACCOUNT_SID, AUTH_TOKEN),
            url_prefix="/simulator",
        )

        @self.flask.route("/<path:path>", methods=["GET", "POST"])
        def dispatch(path: str) -> Any:
            params = request.values.to_dict()
            self.posts.append(("/" + path, params))
            handler = self.handlers.get("/" + path)
            if handler is None:
                return "", 204
            return str(handler(params)), 200, {"Content-Type": "text/xml"}

    def twiml(self, path: str, response: VoiceResponse) -> None:
        self.handlers[path] = lambda params: response

    def sent(self, path: str) -> list[dict[str, str]]:
        return [params for hit, params in self.posts if hit == path]


class Person:
    """An interactive call in a thread, and a way to wait for what it says."""

    def __init__(self, app: TwimlApp, **options: Any) -> None:
        self.events: queue.Queue[CallEvent] = queue.Queue()
        self.seen: list[CallEvent] = []
        options.setdefault("pace", 0.05)
        self.call = SimulatedCall(
            WsgiTransport(app.flask),
            public_url=PUBLIC_URL,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_="+14155550100",
            to="+18005550100",
            interactive=True,
            on_event=self.events.put,
            **options,
        )
        self.thread = threading.Thread(target=self.call.run, daemon=True)
        self.thread.start()

    def wait_for(self, kind: str, text: str | None = None, timeout: float = 10) -> CallEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(event)
            if event.kind == kind and (text is None or event.text == text):
                return event
        raise AssertionError(f"no {kind} {text or ''} in {[format_event(e) for e in self.seen]}")

    def finish(self, timeout: float = 10) -> list[str]:
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.call.hangup("test over")
            self.thread.join(timeout)
            raise AssertionError("the interactive call did not end")
        assert self.call.result is not None
        return [format_event(event) for event in self.call.result.events]


@pytest.fixture
def twiml_app(tmp_path: Path) -> TwimlApp:
    return TwimlApp(tmp_path)


def menu(action: str = "/digits", **attrs: Any) -> VoiceResponse:
    response = VoiceResponse()
    gather = Gather(action=action, **attrs)
    gather.say("Enter your order number, then press the hash key.")
    response.append(gather)
    response.say("We did not get anything.")
    return response


def echo(params: dict[str, str]) -> VoiceResponse:
    response = VoiceResponse()
    got = params.get("SpeechResult") or params.get("Digits", "")
    response.say(f"Got {got} finished on {params.get('FinishedOnKey') or 'nothing'}")
    response.hangup()
    return response


def test_interactive_gather_collects_keys_across_presses(twiml_app: TwimlApp) -> None:
    twiml_app.twiml("/twilio/voice", menu(timeout=5))
    twiml_app.handlers["/digits"] = echo
    person = Person(twiml_app)
    assert person.call.pace == 0.05
    person.wait_for("say", "Enter your order number, then press the hash key.")
    person.call.press("123")
    person.call.press("45#6")  # what follows the finish key waits for the next Gather
    person.wait_for("say", "Got 12345 finished on #")
    transcript = person.finish()
    assert transcript[1:3] == ["Pressed: 123", "Pressed: 45#"]
    assert "Kept for the next Gather: pressed 6" in transcript
    assert twiml_app.sent("/digits")[0]["Digits"] == "12345"
    assert not [line for line in transcript if "No input" in line]
    assert person.call.result.ended == "hung up by the app"


def test_interactive_gather_submits_partial_keys_or_times_out(twiml_app: TwimlApp) -> None:
    twiml_app.twiml("/twilio/voice", menu(timeout=3, num_digits=4))
    twiml_app.handlers["/digits"] = echo
    person = Person(twiml_app)
    person.wait_for("say", "Enter your order number, then press the hash key.")
    person.call.press("12")
    person.wait_for("say", "Got 12 finished on nothing")  # 3 s (0.15 s here) after the last key
    person.finish()

    twiml_app.twiml("/twilio/voice", menu(timeout=2))
    quiet = Person(twiml_app)
    quiet.wait_for("timeout")
    quiet.wait_for("say", "We did not get anything.")
    transcript = quiet.finish()
    assert "No input: no input for 2s" in transcript
    assert "Call completed after" in transcript[-1]

    twiml_app.twiml("/twilio/voice", menu(timeout=3, num_digits=2))
    quick = Person(twiml_app)
    quick.wait_for("say", "Enter your order number, then press the hash key.")
    quick.call.press("987")  # numDigits=2 completes at once
    quick.wait_for("say", "Got 98 finished on nothing")
    quick.finish()


def test_interactive_speech_and_input_nobody_listens_to(twiml_app: TwimlApp) -> None:
    response = VoiceResponse()
    response.say("Welcome to the hotline, this is a rather long welcome message.")
    gather = Gather(action="/digits", input="speech", timeout=30)
    gather.say("What can we do for you?")
    response.append(gather)
    twiml_app.twiml("/twilio/voice", response)
    twiml_app.handlers["/digits"] = echo
    person = Person(twiml_app, pace=0.2)
    person.wait_for("say", "Welcome to the hotline, this is a rather long welcome message.")
    person.call.press("5")  # no Gather listens yet
    person.wait_for("ignored", "pressed 5")
    person.wait_for("say", "What can we do for you?")
    person.call.press("1")  # this Gather listens for speech only
    person.wait_for("ignored", "pressed 1")
    person.call.say("  sales   please ")
    person.wait_for("say", "Got sales please finished on nothing")
    transcript = person.finish()
    assert 'Said: "sales please"' in transcript
    assert "Not listening, dropped: pressed 5" in transcript
    assert twiml_app.sent("/digits")[0]["SpeechResult"] == "sales please"


def test_interactive_keys_typed_during_a_prompt_wait_for_the_next_gather(
    twiml_app: TwimlApp,
) -> None:
    """Like a phone's keypad buffer: keys and words given while no Gather listens (a plain
    Say, the request for the next document) reach the next Gather, in order."""
    response = VoiceResponse()
    response.say("Welcome to the hotline, this is a rather long welcome message.")
    response.redirect("/menu")
    twiml_app.twiml("/twilio/voice", response)
    twiml_app.twiml("/menu", menu(timeout=30, num_digits=2))
    second = VoiceResponse()
    gather = Gather(action="/said", input="speech", timeout=30)
    gather.say("What can we do for you?")
    second.append(gather)
    twiml_app.handlers["/digits"] = lambda params: second
    twiml_app.handlers["/said"] = echo
    person = Person(twiml_app, pace=0.2)
    person.wait_for("say", "Welcome to the hotline, this is a rather long welcome message.")
    person.call.press("4")
    person.call.press("2")
    person.call.say("repair")
    person.wait_for("held", 'said "repair"')
    assert person.call.held_input() == ["4", "2", '"repair"']
    person.wait_for("say", "Got repair finished on nothing", timeout=20)
    transcript = person.finish()
    assert transcript[1:4] == [
        "Kept for the next Gather: pressed 4",
        "Kept for the next Gather: pressed 2",
        'Kept for the next Gather: said "repair"',
    ]
    assert "Pressed: 4 (typed ahead)" in transcript
    assert 'Said: "repair" (typed ahead)' in transcript
    # The menu and the question were barged in on at once: nothing was waited for.
    assert "Say (en-US): Enter your order number, then press the hash key." not in transcript
    assert "Say (en-US): What can we do for you?" not in transcript
    assert not [line for line in transcript if "dropped" in line or "No input" in line]
    assert twiml_app.sent("/digits")[0]["Digits"] == "42"
    assert twiml_app.sent("/said")[0]["SpeechResult"] == "repair"
    assert person.call.held_input() == []


def test_interactive_recording_shows_its_start_and_drops_keys_typed_before_the_beep(
    twiml_app: TwimlApp,
) -> None:
    response = VoiceResponse()
    response.say("Please leave a message after the beep. Press the hash key when done.")
    response.record(action="/recorded", max_length=60, finish_on_key="#", play_beep=True)
    twiml_app.twiml("/twilio/voice", response)
    twiml_app.handlers["/recorded"] = lambda params: VoiceResponse()
    person = Person(twiml_app, pace=0.1)
    person.wait_for("say")
    person.call.press("#")  # too early: Twilio records from the beep on
    started = person.wait_for("recording")
    assert started.details == {"beep": True, "finish_on_key": "#", "max_length": 60}
    assert format_event(started) == "Recording (beep, press # or hang up to finish, 60s at most)"
    time.sleep(0.3)
    person.call.press("#")
    transcript = person.finish()
    assert "Not listening, dropped: pressed # (typed before the beep)" in transcript
    assert next(line for line in transcript if line.startswith("Recorded:")).endswith(
        "(finished with #)"
    )
    assert int(twiml_app.sent("/recorded")[0]["RecordingDuration"]) >= 1


def test_an_outbound_call_rings_until_its_person_answers_or_declines(
    twiml_app: TwimlApp,
) -> None:
    greeting = VoiceResponse()
    greeting.say("This is the hotline calling you back.")
    twiml_app.twiml("/callback", greeting)

    def ring(**options: Any) -> Person:
        return Person(
            twiml_app, direction="outbound-api", voice_path="/callback", person_answers=True,
            status_callback_url="/status", status_callback_events=["ringing", "answered",
            "completed"], **options,
        )  # fmt: skip

    answered = ring(timeout=60)
    answered.wait_for("ringing")
    time.sleep(0.2)
    assert answered.call.status == "ringing"  # nobody answers for the person
    answered.call.pick_up()
    answered.wait_for("say", "This is the hotline calling you back.")
    answered.finish()
    assert answered.call.result.status == "completed"

    declined = ring(timeout=60)
    declined.wait_for("ringing")
    declined.call.decline()
    declined.finish()
    assert declined.call.result.status == "busy"

    missed = ring(timeout=4)  # 0.2 s here
    missed.wait_for("ringing")
    missed.finish()
    assert missed.call.result.status == "no-answer"
    statuses = [params["CallStatus"] for params in twiml_app.sent("/status")]
    assert statuses == ["ringing", "in-progress", "completed", "ringing", "busy", "ringing",
                        "no-answer"]  # fmt: skip
    with pytest.raises(RuntimeError):
        Person(twiml_app).call.pick_up()  # nobody rings an inbound call's caller


def test_interactive_caller_hangs_up_in_a_queue(twiml_app: TwimlApp) -> None:
    response = VoiceResponse()
    response.enqueue("support", action="/queue-done", wait_url="/wait")
    twiml_app.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.say("Please hold.")
    wait.pause(length=20)
    twiml_app.twiml("/wait", wait)
    person = Person(twiml_app, pace=1.0, hold_seconds=3600)
    person.wait_for("say", "Please hold.")
    started = time.monotonic()
    person.call.hangup("the caller hung up", by="caller")
    transcript = person.finish()
    assert time.monotonic() - started < 2  # the 20 s pause was cut short
    assert re.fullmatch(r'Hangup: caller hung up after [01]s in queue "support"', transcript[-2])
    assert person.call.caller_hung_up
    assert twiml_app.sent("/queue-done")[0]["QueueResult"] == "hangup"


def test_interactive_recording_ends_on_its_finish_key(twiml_app: TwimlApp) -> None:
    response = VoiceResponse()
    response.record(action="/recorded", max_length=60, finish_on_key="#")
    twiml_app.twiml("/twilio/voice", response)
    twiml_app.handlers["/recorded"] = lambda params: VoiceResponse()
    person = Person(twiml_app, pace=0.1)
    time.sleep(0.35)  # about 3 simulated seconds of talking
    person.call.say("my washing machine leaks")
    person.wait_for("input", "my washing machine leaks")
    person.call.press("#")
    transcript = person.finish()
    recorded = [line for line in transcript if line.startswith("Recorded:")]
    assert len(recorded) == 1 and "(finished with #)" in recorded[0], transcript
    params = twiml_app.sent("/recorded")[0]
    assert params["Digits"] == "#"
    assert 2 <= int(params["RecordingDuration"]) <= 6


def test_interactive_calls_need_a_pace_and_scripted_calls_take_no_live_input(
    twiml_app: TwimlApp,
) -> None:
    options: dict[str, Any] = dict(
        public_url=PUBLIC_URL, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
        from_="+14155550100", to="+18005550100",
    )  # fmt: skip
    with pytest.raises(ValueError, match="pace"):
        SimulatedCall(WsgiTransport(twiml_app.flask), interactive=True, pace=0, **options)
    scripted = SimulatedCall(WsgiTransport(twiml_app.flask), **options)
    assert scripted.pace == 0
    with pytest.raises(RuntimeError):
        scripted.press("1")
    live = SimulatedCall(WsgiTransport(twiml_app.flask), interactive=True, **options)
    assert live.pace == 1.0  # real time
    with pytest.raises(ValueError):
        live.press("12a")
    with pytest.raises(ValueError):
        live.say("   ")
    with pytest.raises(ValueError):
        live.hangup(by="agent")


def test_interactive_prompts_take_as_long_as_they_are_spoken(twiml_app: TwimlApp) -> None:
    options: dict[str, Any] = dict(
        public_url=PUBLIC_URL, account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
        from_="+14155550100", to="+18005550100",
    )  # fmt: skip
    scripted = SimulatedCall(WsgiTransport(twiml_app.flask), **options)
    live = SimulatedCall(WsgiTransport(twiml_app.flask), interactive=True, **options)
    chinese = "中文服务请按2。"  # 8 characters, 7 of them wide
    assert scripted._speaking_seconds(chinese) == 1
    assert live._speaking_seconds(chinese) == 3
    assert live._speaking_seconds("For English, press 1.") == 2


# -- the /phone API against the product app --------------------------------------------------


@pytest.fixture
def phone_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server with the phone page (registered before its first request)."""
    app = live_server.app
    if "phone" not in app.blueprints:
        app.register_blueprint(phone_page.bp)
    app.config[phone_page.PACE_CONFIG] = PACE
    yield live_server
    phone_lines.phones_of(app).close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


class PhoneClient:
    """The /phone API as the page uses it."""

    def __init__(self, server: LiveServer, http: requests.Session) -> None:
        self.url = server.url
        self.http = http
        self.events: list[dict[str, Any]] = []
        self.ended = False
        self.sid = ""

    def dial(self, from_: str) -> str:
        response = self.http.post(f"{self.url}/phone/calls", json={"from": from_})
        assert response.status_code == 201, response.text
        self.sid = response.json()["call_sid"]
        assert SID_RE.fullmatch(self.sid)
        return self.sid

    def post(self, action: str, body: dict[str, Any]) -> requests.Response:
        return self.http.post(f"{self.url}/phone/calls/{self.sid}/{action}", json=body)

    def poll(self) -> dict[str, Any]:
        response = self.http.get(
            f"{self.url}/phone/calls/{self.sid}/events", params={"after": len(self.events)}
        )
        assert response.status_code == 200, response.text
        data = response.json()
        assert [event["index"] for event in data["events"]] == list(
            range(len(self.events), data["next"])
        )
        self.events.extend(data["events"])
        self.ended = data["ended"]
        return data

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        checked = 0
        while time.monotonic() < deadline:
            self.poll()
            for event in self.events[checked:]:
                if match(event):
                    return event
            checked = len(self.events)
            if self.ended:
                break
            time.sleep(0.05)
        raise AssertionError(f"not in {[event['line'] for event in self.events]}")

    def wait_say(self, text: str, timeout: float = 20) -> dict[str, Any]:
        return self.wait_for(lambda e: e["kind"] == "say" and e["text"] == text, timeout)

    def lines(self) -> list[str]:
        return [event["line"] for event in self.events]


def call_row(server: LiveServer, sid: str) -> Call | None:
    services = server.app.extensions["callcenter"]
    with services.database.session() as session:
        call = session.scalar(select(Call).where(Call.call_sid == sid))
        if call is not None:
            session.expunge(call)
        return call


def test_phone_call_through_the_menu_into_the_queue_then_hang_up(
    phone_server: LiveServer, http: requests.Session
) -> None:
    phone = PhoneClient(phone_server, http)
    sid = phone.dial(UNKNOWN_ENGLISH)
    english = phone.wait_say(LANGUAGE_PROMPT)
    assert (english["language"], english["lang"], english["url"]) == ("en-US", "en-US", None)
    chinese = phone.wait_say("中文服务请按2。")
    assert (chinese["language"], chinese["lang"]) == ("cmn-CN", "zh-CN")
    assert phone.post("keys", {"keys": "1"}).status_code == 202
    phone.wait_for(lambda e: e["kind"] == "input" and e["text"] == "1")
    welcome = phone.wait_for(lambda e: e["kind"] == "say" and e["text"].startswith("Welcome"))
    assert phone.post("keys", {"keys": "0"}).status_code == 202  # no Gather listens yet
    held = phone.wait_for(lambda e: e["kind"] == "held")
    assert held["line"] == "Kept for the next Gather: pressed 0"
    assert phone.poll()["held"] == ["0"]  # the page shows its keypad buffer
    typed = phone.wait_for(lambda e: e["kind"] == "input" and e["text"] == "0")
    assert typed["line"] == "Pressed: 0 (typed ahead)"
    queued = phone.wait_for(lambda e: e["kind"] == "enqueue")
    assert phone.poll()["held"] == []
    assert queued["line"] == 'In queue "support", position 1'
    row = call_row(phone_server, sid)
    assert row is not None and (row.queue, row.outcome, row.language) == ("support", "queued", "en")
    board = phone_server.app.extensions["callcenter"].extras["simulator_switchboard"]
    assert board.get_call(sid) is not None  # the REST API can reach it

    assert phone.post("hangup", {}).status_code == 202
    phone.wait_for(lambda e: e["kind"] == "status")
    # The status event comes first; the call is marked ended once its thread wraps up.
    deadline = time.monotonic() + 10
    data = phone.poll()
    while not data["ended"] and time.monotonic() < deadline:
        time.sleep(0.05)
        data = phone.poll()
    assert phone.ended
    assert (data["ended"], data["status"]) == (True, "completed")
    assert data["ended_reason"].startswith("hung up in queue support")
    hangup = [event for event in phone.events if event["kind"] == "hangup"]
    assert hangup[0]["line"].startswith("Hangup: caller hung up after")
    assert welcome["index"] < queued["index"]
    assert not [event for event in phone.events if event["kind"] in ("error", "warning")]
    row = call_row(phone_server, sid)
    assert row is not None and row.outcome == "abandoned" and row.ended_at is not None
    assert phone.post("keys", {"keys": "1"}).status_code == 409
    assert phone.post("hangup", {}).status_code == 409


def test_phone_api_refuses_bad_requests(phone_server: LiveServer, http: requests.Session) -> None:
    url = phone_server.url
    page = http.get(f"{url}/phone")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert 'value="+8613800138000"' in page.text and 'value="+15005550006"' in page.text
    assert "<script>" not in page.text  # scripts come from files only (CSP)
    assert http.get(f"{url}/phone/phone.css").headers["Content-Type"].startswith("text/css")

    calls = f"{url}/phone/calls"
    assert http.post(calls, data={"from": UNKNOWN_ENGLISH}).status_code == 415
    assert http.post(calls, data="{}", headers={"Content-Type": "text/plain"}).status_code == 415
    for body in ([UNKNOWN_ENGLISH], {}, {"from": "12345"}, {"from": 15005550006},
                 {"from": "+1500<script>"}, {"from": UNKNOWN_ENGLISH, "to": "sales"}):  # fmt: skip
        response = http.post(calls, json=body)
        assert response.status_code == 400, body
        assert "error" in response.json()

    sid = PhoneClient(phone_server, http).dial(UNKNOWN_ENGLISH)
    base = f"{url}/phone/calls/{sid}"
    for body in ({"keys": "12a"}, {"keys": ""}, {"keys": 1}, {"keys": "1" * 65}, {}):
        assert http.post(f"{base}/keys", json=body).status_code == 400, body
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 201}, {"text": ["a"]}):
        assert http.post(f"{base}/say", json=body).status_code == 400, body
    assert http.post(f"{base}/keys", data={"keys": "1"}).status_code == 415
    assert http.post(f"{base}/say", data="repair").status_code == 415
    assert http.post(f"{base}/hangup").status_code == 415
    assert http.get(f"{base}/events", params={"after": "-1"}).status_code == 400
    assert http.get(f"{base}/events", params={"after": "x"}).status_code == 400

    unknown = "CA" + "0" * 32
    for action, body in (("keys", {"keys": "1"}), ("say", {"text": "hi"}), ("hangup", {})):
        assert http.post(f"{url}/phone/calls/{unknown}/{action}", json=body).status_code == 404
        assert http.post(f"{url}/phone/calls/nonsense/{action}", json=body).status_code == 404
    assert http.get(f"{url}/phone/calls/{unknown}/events").status_code == 404
    assert http.get(f"{url}/phone/calls/{sid.upper()}/events").status_code == 404

    assert http.post(f"{base}/say", json={"text": "x" * 200}).status_code == 202
    assert http.post(f"{base}/hangup", json={}).status_code == 202
    phone_lines.phones_of(phone_server.app).get(sid).call.done.wait(10)


def test_phone_bounds_its_calls_and_hangs_up_abandoned_ones(
    phone_server: LiveServer, http: requests.Session
) -> None:
    phones = phone_lines.phones_of(phone_server.app)
    phones.max_calls = 2
    first, second = PhoneClient(phone_server, http), PhoneClient(phone_server, http)
    first.dial(UNKNOWN_ENGLISH)
    second.dial("anonymous")
    refused = http.post(f"{phone_server.url}/phone/calls", json={"from": UNKNOWN_ENGLISH})
    assert refused.status_code == 429
    assert phones.live() == 2

    second.wait_say(LANGUAGE_PROMPT)
    line = phones.get(second.sid)
    line.last_seen -= phone_lines.IDLE_SECONDS + 1  # its page stopped asking 61 s ago
    assert line.call.done.wait(10), "the abandoned call is still going"
    assert phones.live() == 1
    second.poll()
    assert any("page went away" in event["text"] for event in second.events)
    again = http.post(f"{phone_server.url}/phone/calls", json={"from": "anonymous"})
    assert again.status_code == 201

    line.last_seen -= phone_lines.IDLE_SECONDS + 1  # nobody looked at its end either
    phones.sweep()
    assert phones.get(second.sid) is None
    assert http.get(f"{phone_server.url}/phone/calls/{second.sid}/events").status_code == 404


def test_phone_caller_reaches_an_agent_and_hangs_up(
    phone_server: LiveServer,
    http: requests.Session,
    team: dict[str, int],  # noqa: F811
) -> None:
    amy = Console(phone_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        phone = PhoneClient(phone_server, http)
        sid = phone.dial(UNKNOWN_ENGLISH)
        phone.wait_say(LANGUAGE_PROMPT)
        assert phone.post("keys", {"keys": "1"}).status_code == 202
        phone.wait_for(lambda e: e["kind"] == "say" and e["text"].startswith(MENU_START))
        assert phone.post("say", {"text": "I need an agent"}).status_code == 202
        phone.wait_for(lambda e: e["kind"] == "enqueue")
        offer = amy.wait_for("call:offer", timeout=15, call_sid=sid)
        assert offer["caller_number"] == UNKNOWN_ENGLISH
        assert amy.call("call:accept", {"call_sid": sid}) == {"ok": True, "call_sid": sid}
        phone.wait_say("Agent 1 0 2 4 will help you now.")
        phone.wait_for(lambda e: e["kind"] == "conference-start")
        amy.wait_for("call:connected", timeout=15, call_sid=sid)
        time.sleep(0.5)
        assert not phone.ended  # talking: nobody hangs up on their own
        assert phone.post("hangup", {}).status_code == 202
        phone.wait_for(lambda e: e["kind"] == "status")
        amy.wait_for("agent:state", timeout=15, status="wrap-up")
        assert any(line.startswith("Hangup: caller hung up after") for line in phone.lines())
        assert 'Said: "I need an agent"' in phone.lines()
        row = call_row(phone_server, sid)
        assert row is not None and row.outcome == "answered" and row.agent_id == team["amy"]
    finally:
        amy.close()


def test_events_name_languages_and_audio_as_the_browser_needs(twiml_app: TwimlApp) -> None:
    call = SimulatedCall(
        WsgiTransport(twiml_app.flask), public_url=PUBLIC_URL + "/cc", account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN, from_="+14155550100", to="+18005550100", interactive=True,
    )  # fmt: skip
    line = phone_lines.PhoneLine(call, 0.0, script_root="/cc")
    media = f"{PUBLIC_URL}/cc/media/prompts/{'a' * 64}.mp3"
    line.add(CallEvent("say", "你好", {"language": "cmn-CN", "voice": "Polly.Zhiyu", "loop": 2}))
    line.add(CallEvent("play", "Hello", {"url": media, "transcript": "Hello", "seconds": 2}))
    line.add(CallEvent("play", "https://example.com/a.mp3", {"url": "https://example.com/a.mp3"}))
    line.add(CallEvent("play", "DTMF 12", {"digits": "12"}))
    say, local, outside, digits = line.events(0)
    assert (say["lang"], say["language"], say["voice"], say["loop"]) == (
        "zh-CN", "cmn-CN", "Polly.Zhiyu", 2,
    )  # fmt: skip
    assert say["line"] == "Say (cmn-CN, Polly.Zhiyu): 你好 (x2)"
    assert local["url"] == f"/cc/media/prompts/{'a' * 64}.mp3"
    assert (local["lang"], local["seconds"]) == (None, 2)
    assert outside["url"] is None and digits["url"] is None
    assert [event["index"] for event in line.events(2)] == [2, 3]


# -- the page in headless Chromium -----------------------------------------------------------

# Headless Chromium has no audio: write down what the page asks to speak and play.
SPEECH_STUB = """
window.__spoken = [];
window.__played = [];
if (window.speechSynthesis) {
  window.speechSynthesis.speak = (utterance) => {
    window.__spoken.push({ text: utterance.text, lang: utterance.lang });
    setTimeout(() => { if (utterance.onend) utterance.onend(new Event("end")); }, 20);
  };
}
HTMLMediaElement.prototype.play = function () {
  window.__played.push(this.src);
  setTimeout(() => this.dispatchEvent(new Event("ended")), 20);
  return Promise.resolve();
};
"""


def console_error(message: ConsoleMessage, errors: list[str]) -> None:
    """Console errors count, except the browser's own request for a favicon."""
    if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
        errors.append(f"{message.text} ({message.location.get('url')})")


def test_phone_page_in_the_browser(browser: Browser, phone_server: LiveServer) -> None:
    # The English language prompt is cached audio (<Play>), the Chinese one is spoken.
    prompts = phone_server.app.extensions["callcenter"].prompts
    key = prompts.key(LANGUAGE_PROMPT, "en")
    prompts.cache_dir.mkdir(parents=True, exist_ok=True)
    (prompts.cache_dir / f"{key}.mp3").write_bytes(b"ID3" + bytes(64))
    (prompts.cache_dir / f"{key}.txt").write_text(LANGUAGE_PROMPT, encoding="utf-8")
    prompts.refresh()
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: console_error(m, errors))
    page.add_init_script(SPEECH_STUB)
    page.goto(f"{phone_server.url}/phone")
    assert page.evaluate("typeof window.speechSynthesis") == "object"
    expect(page.locator("#from")).to_have_value("+8613800138000")
    expect(page.locator("#state")).to_have_text("idle")
    expect(page.locator("#dialpad button[data-key='1']")).to_be_disabled()
    page.fill("#from", UNKNOWN_ENGLISH)
    page.click("#call")
    expect(page.locator("#state")).to_have_text("in call")
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text(LANGUAGE_PROMPT, timeout=10000)
    sid = page.locator("#call-sid").inner_text()
    assert SID_RE.fullmatch(sid)

    expect(transcript).to_contain_text("中文服务请按2。")
    page.click("#dialpad button[data-key='1']")
    expect(transcript).to_contain_text("Pressed: 1")
    expect(transcript).to_contain_text(MENU_START, timeout=20000)
    page.keyboard.press("0")  # the keyboard works as a dial pad too
    expect(transcript).to_contain_text('In queue "support"', timeout=15000)
    expect(transcript).to_contain_text(f'Play: "{LANGUAGE_PROMPT}"')
    spoken = page.evaluate("window.__spoken")
    assert {"text": "中文服务请按2。", "lang": "zh-CN"} in spoken
    assert any(item["text"].startswith(MENU_START) and item["lang"] == "en-US" for item in spoken)
    assert LANGUAGE_PROMPT not in [item["text"] for item in spoken]
    assert page.evaluate("window.__played") == [f"{phone_server.url}/media/prompts/{key}.mp3"]

    page.click("#hangup")
    expect(page.locator("#state")).to_have_text("ended", timeout=10000)
    expect(transcript).to_contain_text("caller hung up")
    expect(page.locator("#call")).to_be_enabled()
    assert errors == []
    row = call_row(phone_server, sid)
    assert row is not None and row.outcome == "abandoned"
    page.close()


# -- keypad buffer, recording and incoming calls on the page ---------------------------------

OSCILLATOR_SPY = """
window.__oscillators = 0;
const __start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__oscillators++;
  return __start.apply(this, args);
};
"""
CALLED_BACK = "+8613900139000"


def open_phone(browser: Browser, server: LiveServer, errors: list[str]) -> Page:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: console_error(m, errors))
    page.add_init_script(SPEECH_STUB + OSCILLATOR_SPY)
    page.goto(f"{server.url}/phone")
    return page


def test_phone_page_keeps_keys_typed_during_a_prompt(
    browser: Browser, phone_server: LiveServer
) -> None:
    errors: list[str] = []
    page = open_phone(browser, phone_server, errors)
    page.fill("#from", UNKNOWN_ENGLISH)
    page.click("#call")
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text("中文服务请按2。", timeout=10000)
    page.click("#dialpad button[data-key='1']")
    expect(transcript).to_contain_text("Welcome to Lumina", timeout=15000)
    page.click("#dialpad button[data-key='0']")  # while the welcome plays: no Gather yet
    expect(page.locator("#held")).to_be_visible()
    expect(page.locator("#held-keys")).to_have_text("0")
    page.screenshot(path=shot("phone-held"))
    expect(transcript).to_contain_text("Pressed: 0 (typed ahead)", timeout=20000)
    expect(transcript).to_contain_text('In queue "support"', timeout=15000)
    expect(page.locator("#held")).to_be_hidden()
    assert "Not listening" not in transcript.inner_text()
    assert MENU_START not in transcript.inner_text()  # typed ahead of the menu
    page.click("#hangup")
    expect(page.locator("#state")).to_have_text("ended", timeout=10000)
    assert errors == []
    page.close()


def test_phone_page_shows_and_beeps_when_a_recording_starts(
    browser: Browser, phone_server: LiveServer
) -> None:
    errors: list[str] = []
    page = open_phone(browser, phone_server, errors)
    page.fill("#from", UNKNOWN_ENGLISH)
    page.click("#call")
    transcript = page.locator("#transcript")
    expect(transcript).to_contain_text(LANGUAGE_PROMPT, timeout=10000)
    page.fill("#keys", "14")  # English, then "leave a message" typed ahead
    page.click("#send-keys")
    expect(transcript).to_contain_text("Please leave your name", timeout=20000)
    recording = page.locator("#recording")
    expect(recording).to_be_hidden()
    assert page.evaluate("window.phoneTones.beeps") == 0
    expect(recording).to_be_visible(timeout=20000)
    expect(recording).to_contain_text("Recording — speak now")
    expect(page.locator("#recording-hint")).to_have_text("press # or hang up to finish")
    assert page.evaluate("window.phoneTones.beeps") == 1
    assert page.evaluate("window.__oscillators") >= 1  # the beep is a WebAudio tone
    expect(page.locator("#recording-time")).to_have_text("0:01", timeout=5000)
    expect(transcript).to_contain_text("Recording (beep, press # or hang up to finish")
    page.screenshot(path=shot("phone-recording"))
    page.keyboard.press("#")
    expect(recording).to_be_hidden(timeout=10000)
    expect(transcript).to_contain_text("Recorded:")
    expect(transcript).to_contain_text("(finished with #)")
    expect(page.locator("#state")).to_have_text("ended", timeout=20000)
    assert errors == []
    page.close()


def test_a_call_back_rings_on_the_page_and_is_answered(
    browser: Browser,
    phone_server: LiveServer,
    team: dict[str, int],  # noqa: F811
) -> None:
    # The customer asked to be called back (nobody was available) and hung up.
    caller = start_caller(phone_server.app, phone_server.url, CALLED_BACK, ["1", "0", "*"])
    assert caller.result().heard()[-1].startswith("Thank you. We will call you back")
    errors: list[str] = []
    page = open_phone(browser, phone_server, errors)
    page.fill("#from", CALLED_BACK)  # this page is now the customer's phone
    page.click("#phone h2")  # a first touch of the page lets it make sounds
    phones = phone_lines.phones_of(phone_server.app)
    deadline = time.monotonic() + 10
    while phones.handset(CALLED_BACK) is None and time.monotonic() < deadline:
        time.sleep(0.1)  # until the page asked for the calls to its new number
    amy = Console(phone_server, "amy")
    try:
        amy.wait_for("agent:state")
        assert amy.call("agent:status", {"status": "available"})["ok"]
        amy.wait_for("call:offer", timeout=15, call_sid=caller.call_sid)
        assert amy.call("call:accept", {"call_sid": caller.call_sid})["ok"]
        incoming = page.locator("#incoming")
        expect(incoming).to_be_visible(timeout=15000)
        expect(page.locator("#incoming-from")).to_have_text("+864008001234")
        expect(page.locator("#state")).to_have_text("ringing")
        page.wait_for_function("window.phoneTones.rings >= 1")
        page.screenshot(path=shot("phone-ringing"))
        page.click("#answer")
        expect(incoming).to_be_hidden()
        expect(page.locator("#state")).to_have_text("in call")
        transcript = page.locator("#transcript")
        expect(transcript).to_contain_text("Agent 1 0 2 4 will help you now.", timeout=15000)
        expect(transcript).to_contain_text("Conference", timeout=15000)
        amy.wait_for("call:connected", timeout=20, call_sid=caller.call_sid)
        page.screenshot(path=shot("phone-answered"))
        page.click("#hangup")
        expect(page.locator("#state")).to_have_text("ended", timeout=10000)
        amy.wait_for("agent:state", timeout=20, status="wrap-up")
    finally:
        amy.close()
    row = call_row(phone_server, caller.call_sid)
    assert row is not None and row.outcome == "answered" and row.agent_id == team["amy"]
    assert errors == []
    page.close()


def test_calls_to_a_page_number_ring_until_answered_declined_or_timed_out(
    phone_server: LiveServer, http: requests.Session
) -> None:
    settings = phone_server.app.extensions["callcenter"].settings
    client = rest_client(
        settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_api_url
    )
    board = phone_server.app.extensions["callcenter"].extras["simulator_switchboard"]
    twiml = "<Response><Say>This is the hotline calling you back.</Say></Response>"

    def dial(to: str, timeout: int = 60) -> str:
        return str(client.calls.create(to=to, from_="+864008001234", twiml=twiml,
                                       timeout=timeout).sid)  # fmt: skip

    def ringing(number: str) -> list[dict[str, Any]]:
        response = http.get(f"{phone_server.url}/phone/incoming", params={"number": number})
        assert response.status_code == 200, response.text
        return response.json()["calls"]

    # No page shows the number: the simulator answers, as before.
    assert board.wait(dial(CALLED_BACK), 20).status == "completed"
    assert http.get(f"{phone_server.url}/phone/incoming?number=12345").status_code == 400

    assert ringing(CALLED_BACK) == []  # the page shows the number from now on
    declined = dial(CALLED_BACK)
    deadline = time.monotonic() + 10
    while not (calls := ringing(CALLED_BACK)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert calls == [{"call_sid": declined, "from": "+864008001234", "to": CALLED_BACK}]
    phone = PhoneClient(phone_server, http)
    phone.sid = declined
    assert phone.post("reject", {}).status_code == 202
    assert board.wait(declined, 20).status == "busy"
    assert phone.post("answer", {}).status_code == 409

    missed = dial(CALLED_BACK, timeout=2)  # 1 s at this pace
    assert board.wait(missed, 20).status == "no-answer"
    assert client.calls(missed).fetch().status == "no-answer"

    answered = dial(CALLED_BACK)
    phone.sid = answered
    deadline = time.monotonic() + 10
    while phone.post("answer", {}).status_code == 409 and time.monotonic() < deadline:
        time.sleep(0.1)  # until it rings
    phone.wait_say("This is the hotline calling you back.")
    assert board.wait(answered, 20).status == "completed"
    assert phone.lines()[:2] == ["Ringing: " + CALLED_BACK, "Answered: " + CALLED_BACK]
