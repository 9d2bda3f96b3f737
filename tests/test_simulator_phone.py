"""The simulated caller against a small Twilio-style test app (not the product app)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from flask import Flask, jsonify, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, Enqueue, Gather, VoiceResponse
from werkzeug.serving import make_server

from callcenter.simulator.leg import common as phone
from callcenter.simulator.leg.call import SimulatedCall, place_call
from callcenter.simulator.leg.common import APPLICATION_ERROR_MESSAGE
from callcenter.simulator.leg.events import (
    CallEvent,
    CallResult,
    Press,
    Speech,
    format_event,
    parse_input,
)
from callcenter.simulator.transports import HttpTransport, OutsideSimulatorError, WsgiTransport

try:
    from callcenter.simulator.recordings import RecordingStore
    from callcenter.simulator.rest.recordings import create_simulator_api
except ImportError:  # the recordings API is written in parallel
    RecordingStore = None
    create_simulator_api = None

PUBLIC_URL = "https://cc.example.com"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
CALLER = "+14155550100"  # US
CALLED = "+442071838750"  # GB
CALL_SID_RE = re.compile(r"^CA[0-9a-f]{32}$")
RECORDING_SID_RE = re.compile(r"^RE[0-9a-f]{32}$")

Handler = Callable[[dict[str, str]], Any]


@dataclass
class Hit:
    method: str
    path: str
    query: str
    params: dict[str, str]
    valid: bool

    @property
    def query_params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))


class FakeTwilioApp:
    """A Flask app answering with TwiML from per-test handlers, checking every signature."""

    def __init__(self, tmp_path: Path) -> None:
        self.flask = Flask("fake_callcenter")
        self.handlers: dict[str, Handler] = {"/twilio/status": lambda params: ("", 204)}
        self.hits: list[Hit] = []
        self.uploads: list[dict[str, Any]] = []
        self.store = None
        validator = RequestValidator(AUTH_TOKEN)

        if create_simulator_api is not None and RecordingStore is not None:
            self.store = RecordingStore(tmp_path / "recordings")
            self.flask.register_blueprint(
                create_simulator_api(self.store, ACCOUNT_SID, AUTH_TOKEN),
                url_prefix="/simulator",
            )
        else:
            recordings = f"/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings.json"

            @self.flask.post(recordings)
            def stand_in_recordings() -> Any:
                auth = request.authorization
                if auth is None or (auth.username, auth.password) != (ACCOUNT_SID, AUTH_TOKEN):
                    return "", 401
                media = request.files["media"].read()
                self.uploads.append({**request.form.to_dict(), "size": len(media)})
                return jsonify({"sid": "RE" + "ab" * 16}), 201

        @self.flask.before_request
        def check_signature() -> Any:
            if request.path.startswith("/simulator/"):
                return None  # the REST API uses basic auth, not signatures
            query = request.query_string.decode()
            url = PUBLIC_URL + request.path + (f"?{query}" if query else "")
            valid = validator.validate(
                url, request.form, request.headers.get("X-Twilio-Signature", "")
            )
            self.hits.append(
                Hit(request.method, request.path, query, request.values.to_dict(), valid)
            )
            if not valid:
                return "invalid signature", 403
            return None

        @self.flask.route("/<path:path>", methods=["GET", "POST"])
        def dispatch(path: str) -> Any:
            handler = self.handlers.get("/" + path)
            if handler is None:
                return "not found", 404
            answer = handler(request.values.to_dict())
            if isinstance(answer, VoiceResponse):
                return str(answer), 200, {"Content-Type": "text/xml"}
            return answer

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers[path] = handler
            return handler

        return register

    def twiml(self, path: str, response: VoiceResponse | str) -> None:
        self.handlers[path] = lambda params: (str(response), 200, {"Content-Type": "text/xml"})

    def hits_for(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]


@pytest.fixture
def fake(tmp_path: Path) -> FakeTwilioApp:
    return FakeTwilioApp(tmp_path)


def call(fake: FakeTwilioApp, **options: Any) -> CallResult:
    options.setdefault("from_", CALLER)
    options.setdefault("to", CALLED)
    transport = options.pop("transport", None) or WsgiTransport(fake.flask)
    result = place_call(
        transport,
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        **options,
    )
    assert fake.hits, "the app was never called"
    assert all(hit.valid for hit in fake.hits), [h for h in fake.hits if not h.valid]
    return result


def lines(result: CallResult) -> list[str]:
    return [format_event(event) for event in result.events]


def events(result: CallResult, kind: str) -> list[CallEvent]:
    return [event for event in result.events if event.kind == kind]


# -- Say, Play, Pause, Hangup and the call parameters ----------------------------------------


def test_say_play_pause_hangup_and_status_callback(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Welcome to Example Corp.", voice="Polly.Amy", language="en-GB", loop=2)
    response.play("/media/welcome.mp3")
    response.play("https://demo.twilio.com/docs/classic.mp3")
    response.pause(length=3)
    response.hangup()
    response.say("Never heard")
    fake.twiml("/twilio/voice", response)
    fake.handlers["/media/welcome.txt"] = lambda params: "Thanks for calling us.\n"
    seen: list[CallEvent] = []

    result = call(fake, on_event=seen.append)

    assert CALL_SID_RE.fullmatch(result.call_sid)
    assert result.heard() == [
        "Welcome to Example Corp.",
        "Thanks for calling us.",
        "https://demo.twilio.com/docs/classic.mp3",
    ]
    # 24 chars -> 2 s, twice; transcript 22 chars -> 2 s; unknown audio 10 s; pause 3 s
    assert result.duration == 4 + 2 + 10 + 3
    assert result.ended == "hung up by the app"
    assert result.status == "completed"
    assert seen == result.events
    assert lines(result) == [
        "Say (en-GB, Polly.Amy): Welcome to Example Corp. (x2)",
        'Play: "Thanks for calling us." [https://cc.example.com/media/welcome.mp3]',
        "Play: https://demo.twilio.com/docs/classic.mp3",
        "Pause: 3s",
        "Hangup: the app hung up",
        "Call completed after 19s",
    ]
    assert fake.paths() == ["/twilio/voice", "/media/welcome.txt", "/twilio/status"]
    assert [(x.method, x.kind, x.status) for x in result.exchanges] == [
        ("POST", "webhook", 200),
        ("GET", "media", 200),
        ("POST", "callback", 204),
    ]

    first = fake.hits_for("/twilio/voice")[0]
    assert first.method == "POST"
    assert first.params == {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": result.call_sid,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "From": CALLER,
        "To": CALLED,
        "Caller": CALLER,
        "Called": CALLED,
        "FromCountry": "US",
        "ToCountry": "GB",
        "CallerCountry": "US",
        "CalledCountry": "GB",
    }
    status = fake.hits_for("/twilio/status")[0].params
    assert status["CallStatus"] == "completed"
    assert status["CallSid"] == result.call_sid
    assert status["CallDuration"] == "19"
    assert status["Duration"] == "1"
    assert status["SequenceNumber"] == "0"
    assert parsedate_to_datetime(status["Timestamp"]).tzinfo is not None


def test_unparseable_numbers_have_no_country_and_status_callback_can_be_disabled(
    fake: FakeTwilioApp,
) -> None:
    fake.twiml("/twilio/voice", VoiceResponse())
    result = call(fake, from_="client:alice", to="anonymous", status_callback_url=None)
    assert fake.paths() == ["/twilio/voice"]
    params = fake.hits[0].params
    assert (params["FromCountry"], params["ToCountry"]) == ("", "")
    assert result.ended == "call completed by the app"
    assert result.duration == 0


def test_custom_voice_path_and_status_callback_url(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Hi")
    fake.twiml("/ivr/entry", response)
    fake.handlers["/hooks/status"] = lambda params: ("", 200)
    result = call(fake, voice_path="/ivr/entry", status_callback_url=f"{PUBLIC_URL}/hooks/status")
    assert fake.paths() == ["/ivr/entry", "/hooks/status"]
    assert result.heard() == ["Hi"]


# -- Gather -------------------------------------------------------------------------------------


def test_gather_dtmf_num_digits_finish_on_key_and_get_action(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    gather = Gather(num_digits=1, action="menu")  # relative to /twilio/voice
    gather.say("Press 1 for sales, 2 for accounts.")
    response.append(gather)
    response.say("We did not get that.")
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/menu")
    def menu(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        if params.get("Digits") == "2":
            inner = Gather(finish_on_key="#", action="/twilio/account?step=1", method="GET")
            inner.say("Enter your account number then hash")
            answer.append(inner)
        return answer

    @fake.route("/twilio/account")
    def account(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"Account {params['Digits']}")
        answer.hangup()
        return answer

    result = call(fake, inputs=["29", "12345#"])

    assert result.heard() == [
        "Press 1 for sales, 2 for accounts.",
        "Enter your account number then hash",
        "Account 12345",
    ]
    menu_hit = fake.hits_for("/twilio/menu")[0]
    assert menu_hit.method == "POST"
    assert menu_hit.params["Digits"] == "2"  # numDigits=1 keeps the first digit only
    assert menu_hit.params["CallStatus"] == "in-progress"
    account_hit = fake.hits_for("/twilio/account")[0]
    assert account_hit.method == "GET"
    assert account_hit.query.startswith("step=1&")
    query = account_hit.query_params
    assert query["Digits"] == "12345"  # without the finishOnKey
    assert query["FinishedOnKey"] == "#"
    assert query["CallSid"] == result.call_sid
    assert [e.details["digits"] for e in events(result, "input")] == ["2", "12345"]
    assert "Pressed: 29" in lines(result)
    assert result.ended == "hung up by the app"


def test_gather_speech_and_inputs_that_do_not_fit(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    dtmf_only = Gather(num_digits=1, action="/twilio/pressed", timeout=3)
    dtmf_only.say("Press a key")
    response.append(dtmf_only)
    speech = Gather(input="speech", action="/twilio/speech", hints="sales,support")
    speech.say("Say sales or support")
    response.append(speech)
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/speech")
    def heard_speech(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        both = Gather(input="dtmf speech", num_digits=1, action="/twilio/pressed")
        both.say(f"You said {params['SpeechResult']}. Press 1 to confirm.")
        answer.append(both)
        return answer

    @fake.route("/twilio/pressed")
    def pressed(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"You pressed {params['Digits']}")
        return answer

    result = call(fake, inputs=[Speech("sales please"), "1"])

    speech_hit = fake.hits_for("/twilio/speech")[0]
    assert speech_hit.params["SpeechResult"] == "sales please"
    assert speech_hit.params["Confidence"] == "0.92"
    assert "Digits" not in speech_hit.params
    assert [hit.params["Digits"] for hit in fake.hits_for("/twilio/pressed")] == ["1"]
    assert result.kinds()[:4] == ["say", "timeout", "say", "input"]
    assert lines(result)[1] == "No input: no input for 3s"
    assert 'Said: "sales please"' in lines(result)
    assert result.heard()[-1] == "You pressed 1"
    assert result.ended == "call completed by the app"


def test_gather_timeouts_with_and_without_action_on_empty_result(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    first = Gather(action="/twilio/never", timeout=4)
    first.say("Press something")
    response.append(first)
    response.say("Still there?")
    response.append(Gather(action="/twilio/empty", timeout=2, action_on_empty_result=True))
    response.say("Not reached")
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/empty")
    def empty(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"Digits present: {'Digits' in params}")
        answer.hangup()
        return answer

    result = call(fake)

    assert fake.hits_for("/twilio/never") == []
    assert len(fake.hits_for("/twilio/empty")) == 1
    assert result.heard() == ["Press something", "Still there?", "Digits present: False"]
    assert [e.details["seconds"] for e in events(result, "timeout")] == [4, 2]
    assert result.duration == 2 + 4 + 1 + 2 + 2


def test_gather_partial_digits_and_finish_key_alone(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.append(Gather(num_digits=3, timeout=4, action="/twilio/got"))
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/got")
    def got(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.append(Gather(action="/twilio/never"))
        answer.say(f"Got {params['Digits']}")
        return answer

    result = call(fake, inputs=["7", "#"])

    got_hit = fake.hits_for("/twilio/got")[0]
    assert (got_hit.params["Digits"], got_hit.params["FinishedOnKey"]) == ("7", "")
    assert fake.hits_for("/twilio/never") == []  # "#" alone is an empty result
    assert result.heard() == ["Got 7"]
    assert result.duration == (1 + 4) + 1 + 1  # one key then the timeout; "#"; the Say


# -- Redirect, errors, loops ----------------------------------------------------------------


def test_redirect_relative_get_then_post(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.redirect("step2?x=1", method="GET")
    fake.twiml("/twilio/voice", response)
    step2 = VoiceResponse()
    step2.say("Step two")
    step2.redirect("/twilio/step3")
    fake.twiml("/twilio/step2", step2)
    step3 = VoiceResponse()
    step3.say("Step three")
    fake.twiml("/twilio/step3", step3)

    result = call(fake)

    assert fake.paths() == ["/twilio/voice", "/twilio/step2", "/twilio/step3", "/twilio/status"]
    get_hit = fake.hits_for("/twilio/step2")[0]
    assert get_hit.method == "GET"
    assert get_hit.query.startswith("x=1&")
    assert get_hit.query_params["From"] == CALLER
    assert fake.hits_for("/twilio/step3")[0].method == "POST"
    assert [e.text for e in events(result, "redirect")] == [
        "https://cc.example.com/twilio/step2?x=1",
        "https://cc.example.com/twilio/step3",
    ]
    assert result.heard() == ["Step two", "Step three"]


@pytest.mark.parametrize(
    ("answer", "ended"),
    [
        (("boom", 500), "application error: HTTP 500"),
        (("hello, not xml", 200), "application error: response is not XML"),
        (
            ("<Foo><Say>x</Say></Foo>", 200),
            "application error: root element is <Foo>, not <Response>",
        ),
    ],
)
def test_application_errors(fake: FakeTwilioApp, answer: tuple[str, int], ended: str) -> None:
    fake.handlers["/twilio/voice"] = lambda params: answer
    result = call(fake)
    assert result.ended == ended
    assert result.heard() == [APPLICATION_ERROR_MESSAGE]
    assert fake.paths() == ["/twilio/voice", "/twilio/status"]
    assert fake.hits_for("/twilio/status")[0].params["CallStatus"] == "completed"


def test_missing_redirect_target_is_an_application_error(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("One moment")
    response.redirect("/twilio/missing")
    fake.twiml("/twilio/voice", response)
    result = call(fake)
    assert result.ended == "application error: HTTP 404"
    assert result.heard() == ["One moment", APPLICATION_ERROR_MESSAGE]
    assert format_event(result.events[-2]).startswith("Application error (HTTP 404): We are")


def test_unknown_verb_ends_the_call(fake: FakeTwilioApp) -> None:
    fake.twiml(
        "/twilio/voice", '<Response><Say>Hi</Say><Dance step="tango"/><Say>no</Say></Response>'
    )
    result = call(fake)
    assert result.heard() == ["Hi"]
    assert result.ended == "unsupported verb <Dance>"
    assert "Unsupported verb: <Dance>" in lines(result)


def test_redirect_loop_stops_at_max_steps(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Looping")
    response.redirect("/twilio/voice")
    fake.twiml("/twilio/voice", response)
    result = call(fake, max_steps=10)
    assert result.ended == "stopped after 10 requests (loop)"
    assert len(fake.hits_for("/twilio/voice")) == 10
    assert len(fake.hits_for("/twilio/status")) == 1
    assert result.kinds()[-2:] == ["loop", "status"]
    assert result.heard() == ["Looping"] * 10


def test_outside_urls_are_refused(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.redirect("https://evil.example.org/steal")
    fake.twiml("/twilio/voice", response)
    result = call(fake)
    assert result.ended.startswith("application error: refusing to request https://evil")
    assert "never talks to the internet" in result.ended
    assert fake.paths() == ["/twilio/voice", "/twilio/status"]

    transport = WsgiTransport(fake.flask, PUBLIC_URL)
    for url in (
        "https://evil.example.org/twilio/voice",
        "https://cc.example.com.evil.org/twilio/voice",
        "https://cc.example.com:8443/twilio/voice",
        "http://cc.example.com/twilio/voice",
    ):
        with pytest.raises(OutsideSimulatorError, match="not under the public URL"):
            transport.request("POST", url, {}, {})
    assert transport.request("GET", "https://CC.example.com:443/x", None, {}).status_code == 403
    with pytest.raises(ValueError, match="transport serves"):
        transport.bind("https://other.example.com")


def test_http_transport_maps_public_urls_below_a_path_prefix() -> None:
    class Answer:
        status_code = 200
        content = b"<Response/>"
        headers: dict[str, str] = {}  # noqa: RUF012

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc_info: object) -> None:
            pass

    class Session:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, dict[str, str]]] = []

        def request(self, method: str, url: str, **kwargs: Any) -> Answer:
            self.calls.append((method, url, kwargs["headers"]))
            return Answer()

    session = Session()
    transport = HttpTransport(
        "http://127.0.0.1:5000/", "https://tunnel.example.net/app", session=session
    )
    answer = transport.request("GET", "https://tunnel.example.net/app/a/b?x=1", None, {"H": "1"})
    assert answer.text == "<Response/>"
    method, url, headers = session.calls[0]
    assert (method, url) == ("GET", "http://127.0.0.1:5000/a/b?x=1")
    assert headers["X-Forwarded-Host"] == "tunnel.example.net"
    assert headers["H"] == "1"
    with pytest.raises(OutsideSimulatorError):
        transport.request("GET", "https://tunnel.example.net/application", None, {})
    transport.close()


# -- Enqueue ------------------------------------------------------------------------------------


def test_enqueue_loops_the_wait_url_then_the_caller_hangs_up(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Please wait for an agent.")  # 25 chars -> 3 s
    response.enqueue("support", wait_url="/twilio/wait", action="/twilio/queue-done")
    response.say("Not reached")
    fake.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.say("Please hold.")  # 1 s
    wait.pause(length=10)
    fake.twiml("/twilio/wait", wait)
    done = VoiceResponse()
    done.say("Ignored, the caller is gone")
    fake.twiml("/twilio/queue-done", done)

    result = call(fake)  # hold_seconds=30

    waits = fake.hits_for("/twilio/wait")
    assert [hit.params["QueueTime"] for hit in waits] == ["0", "11", "22"]
    assert {hit.params["QueuePosition"] for hit in waits} == {"1"}
    assert {hit.params["CurrentQueueSize"] for hit in waits} == {"1"}
    queue_sid = waits[0].params["QueueSid"]
    assert re.fullmatch(r"QU[0-9a-f]{32}", queue_sid)
    assert {hit.params["QueueSid"] for hit in waits} == {queue_sid}
    done_hit = fake.hits_for("/twilio/queue-done")[0]
    assert done_hit.params["QueueResult"] == "hangup"
    assert done_hit.params["QueueTime"] == "30"
    assert done_hit.params["QueueSid"] == queue_sid
    assert done_hit.params["CallStatus"] == "completed"
    assert result.ended == "hung up in queue support after 30s"
    assert result.duration == 33
    assert result.heard() == ["Please wait for an agent."] + ["Please hold."] * 3
    assert 'In queue "support", position 1' in lines(result)
    assert lines(result)[-2] == 'Hangup: caller hung up after 30s in queue "support"'
    assert fake.hits_for("/twilio/status")[0].params["CallDuration"] == "33"


def test_enqueue_leave_with_get_wait_url(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue(
        "sales", wait_url="/twilio/wait?lang=en", wait_url_method="GET", action="/twilio/left"
    )
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/wait")
    def wait(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        if len(fake.hits_for("/twilio/wait")) == 1:
            answer.say("Please hold.")
            answer.pause(length=5)
        else:
            answer.say("Sorry, the queue is closed.")  # 27 chars -> 3 s
            answer.leave()
            answer.say("Not reached")
        return answer

    @fake.route("/twilio/left")
    def left(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"You left the queue ({params['QueueResult']}).")
        return answer

    result = call(fake)

    waits = fake.hits_for("/twilio/wait")
    assert [hit.method for hit in waits] == ["GET", "GET"]
    assert all(hit.query.startswith("lang=en&") for hit in waits)
    assert [hit.query_params["QueueTime"] for hit in waits] == ["0", "6"]
    left_hit = fake.hits_for("/twilio/left")[0]
    assert left_hit.method == "POST"
    assert (left_hit.params["QueueResult"], left_hit.params["QueueTime"]) == ("leave", "9")
    assert result.heard() == [
        "Please hold.",
        "Sorry, the queue is closed.",
        "You left the queue (leave).",
    ]
    assert 'Left queue "sales" after 9s' in lines(result)
    assert result.ended == "call completed by the app"


def test_enqueue_without_action_continues_after_leave(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue("billing", wait_url="/twilio/wait")
    response.say("After the queue")
    fake.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.leave()
    fake.twiml("/twilio/wait", wait)
    result = call(fake)
    assert result.kinds() == ["enqueue", "leave", "say", "status"]
    assert result.heard() == ["After the queue"]


def test_enqueue_with_default_hold_music_and_no_action(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue("sales")
    fake.twiml("/twilio/voice", response)
    result = call(fake, hold_seconds=25)
    assert result.kinds() == ["enqueue", "hold", "hangup", "status"]
    assert result.ended == "hung up in queue sales after 25s"
    assert result.duration == 25
    assert fake.paths() == ["/twilio/voice", "/twilio/status"]


def test_enqueue_wait_url_hangup_and_endless_play(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.append(Enqueue("support", wait_url="/twilio/wait", action="/twilio/done"))
    fake.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.play("/media/music.mp3", loop=0)
    fake.twiml("/twilio/wait", wait)
    fake.twiml("/twilio/done", VoiceResponse())
    result = call(fake, hold_seconds=40)
    assert len(fake.hits_for("/twilio/wait")) == 1  # loop=0 plays until the caller gives up
    assert fake.hits_for("/media/music.txt")[0].method == "GET"  # 404: no transcript
    assert result.heard() == [f"{PUBLIC_URL}/media/music.mp3"]
    assert result.ended == "hung up in queue support after 40s"
    assert fake.hits_for("/twilio/done")[0].params["QueueResult"] == "hangup"


def test_empty_wait_document_is_a_loop(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue("support", wait_url="/twilio/wait")
    fake.twiml("/twilio/voice", response)
    fake.twiml("/twilio/wait", VoiceResponse())
    result = call(fake, max_steps=5)
    assert result.ended == "stopped after 5 requests (loop)"
    assert len(fake.hits_for("/twilio/wait")) == 4


def test_rest_side_can_bridge_or_redirect_a_queued_call(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue("support", wait_url="/twilio/wait", action="/twilio/after-queue")
    fake.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.pause(length=5)
    fake.twiml("/twilio/wait", wait)

    @fake.route("/twilio/after-queue")
    def after_queue(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"Queue result {params['QueueResult']} after {params['QueueTime']}")
        return answer

    elsewhere = VoiceResponse()
    elsewhere.say("Redirected by the agent")
    fake.twiml("/twilio/elsewhere", elsewhere)

    def agent_picks_up(call: SimulatedCall) -> None:
        if call.queue is not None and call.clock - call.queue.entered_at >= 10:
            call.bridge("alice", talk_seconds=45)

    result = call(fake, on_wait=agent_picks_up)
    assert len(fake.hits_for("/twilio/wait")) == 2
    assert result.heard() == ["Queue result bridged after 10"]
    assert "Connected: alice for 45s" in lines(result)
    assert result.duration == 10 + 45 + 3

    fake.hits.clear()

    def dequeue(call: SimulatedCall) -> None:
        if call.queue is not None and call.clock >= 5:
            call.redirect("/twilio/elsewhere")

    result = call(fake, on_wait=dequeue)
    assert fake.hits_for("/twilio/after-queue")[0].params["QueueResult"] == "redirected"
    assert result.heard() == ["Redirected by the agent"]
    assert fake.paths()[-2:] == ["/twilio/elsewhere", "/twilio/status"]


def test_paced_call_can_be_bridged_from_another_thread(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.enqueue("support", wait_url="/twilio/wait", action="/twilio/after-queue")
    fake.twiml("/twilio/voice", response)
    wait = VoiceResponse()
    wait.play("/media/music.mp3", loop=0)  # endless: only the bridge ends the wait
    fake.twiml("/twilio/wait", wait)
    fake.handlers["/twilio/after-queue"] = lambda params: VoiceResponse()
    threads: list[threading.Thread] = []

    def on_event(event: CallEvent) -> None:
        if event.kind == "enqueue":
            agent = threading.Timer(0.05, lambda: simulated.bridge("carol", talk_seconds=30))
            threads.append(agent)
            agent.start()

    simulated = SimulatedCall(
        WsgiTransport(fake.flask),
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=CALLED,
        hold_seconds=600,
        pace=0.01,  # 600 simulated seconds would take 6 real ones
        on_event=on_event,
    )
    result = simulated.run()
    for thread in threads:
        thread.join()

    after = fake.hits_for("/twilio/after-queue")[0].params
    assert after["QueueResult"] == "bridged"
    assert int(after["QueueTime"]) < 300
    assert result.kinds() == ["enqueue", "play", "bridged", "status"]
    assert result.duration == int(after["QueueTime"]) + 30


def test_rest_hangup_and_early_bridge_requests(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Hello")
    response.say("World")
    fake.twiml("/twilio/voice", response)
    simulated = SimulatedCall(
        WsgiTransport(fake.flask),
        public_url=PUBLIC_URL,
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        from_=CALLER,
        to=CALLED,
        on_event=lambda event: simulated.hangup() if event.text == "Hello" else None,
    )
    simulated.bridge("bob")  # not in a queue: stays pending, harmless
    result = simulated.run()
    assert result.heard() == ["Hello"]
    assert result.ended == "hung up via REST"


# -- Record -------------------------------------------------------------------------------------


def test_record_voicemail_with_status_callback(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.say("Leave a message after the beep.")  # 31 chars -> 3 s
    response.record(
        max_length=3,
        action="/twilio/voicemail",
        recording_status_callback="/twilio/recording-status",
        play_beep=True,
    )
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/voicemail")
    def voicemail(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say("You said:")
        answer.play(params["RecordingUrl"])
        answer.say("Thanks, goodbye.")
        answer.hangup()
        return answer

    fake.handlers["/twilio/recording-status"] = lambda params: ("", 204)

    result = call(fake, record_seconds=5)

    [sid] = result.recordings
    assert RECORDING_SID_RE.fullmatch(sid)
    recording_url = f"{PUBLIC_URL}/simulator/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}"
    action = fake.hits_for("/twilio/voicemail")[0].params
    assert action["RecordingUrl"] == recording_url
    assert action["RecordingSid"] == sid
    assert action["RecordingDuration"] == "3"  # capped at maxLength
    assert action["Digits"] == "#"
    assert fake.paths() == [
        "/twilio/voice",
        "/twilio/voicemail",
        "/twilio/recording-status",
        "/twilio/status",
    ]
    status = fake.hits_for("/twilio/recording-status")[0].params
    assert {key: status[key] for key in status if key != "RecordingStartTime"} == {
        "AccountSid": ACCOUNT_SID,
        "CallSid": result.call_sid,
        "RecordingSid": sid,
        "RecordingUrl": recording_url,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
        "RecordingChannels": "1",
        "RecordingSource": "RecordVerb",
    }
    assert parsedate_to_datetime(status["RecordingStartTime"]).tzinfo is not None
    assert result.ended == f"recorded voicemail {sid}"
    assert f"Recorded: 3s voicemail {sid} (finished with #)" in lines(result)
    upload = next(x for x in result.exchanges if x.kind == "api" and x.method == "POST")
    assert (upload.status, upload.params["Duration"]) == (201, "3")
    if fake.store is not None:
        metadata = fake.store.metadata(sid)
        assert (metadata["call_sid"], metadata["duration"]) == (result.call_sid, 3)
        # playing the recording back reads its length from the .json, no audio download
        assert result.heard() == [
            "Leave a message after the beep.",
            "You said:",
            f"recording {sid}",
            "Thanks, goodbye.",
        ]
        assert fake.store.audio_gets == 0
        # say 3 + record 3 + "You said:" 1 + the recording 3 + "Thanks, goodbye." 2
        assert result.duration == 12
    else:
        assert fake.uploads[0]["Duration"] == "3"


def test_record_without_hash_means_the_caller_hangs_up(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.record(finish_on_key="", action="/twilio/voicemail", method="GET")
    fake.twiml("/twilio/voice", response)
    ignored = VoiceResponse()
    ignored.say("Ignored")
    fake.twiml("/twilio/voicemail", ignored)
    result = call(fake, record_seconds=7)
    [sid] = result.recordings
    action = fake.hits_for("/twilio/voicemail")[0]
    assert action.method == "GET"
    assert action.query_params["Digits"] == "hangup"
    assert action.query_params["RecordingDuration"] == "7"
    assert action.query_params["CallStatus"] == "completed"
    assert result.heard() == []
    assert result.ended == f"recorded voicemail {sid} (caller hung up)"
    assert result.duration == 7


def test_record_defaults_its_action_to_the_current_document(fake: FakeTwilioApp) -> None:
    @fake.route("/twilio/voice")
    def voice(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        if "RecordingSid" in params:
            answer.say("Got it")
        else:
            answer.record(max_length=2)
        return answer

    result = call(fake)
    assert [("RecordingSid" in hit.params) for hit in fake.hits_for("/twilio/voice")] == [
        False,
        True,
    ]
    assert result.heard() == ["Got it"]


# -- Dial and Reject ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dial_result", "talked", "elapsed"),
    [("completed", "20", 20), ("busy", "0", 1), ("no-answer", "0", 15), ("failed", "0", 1)],
)
def test_dial_results(fake: FakeTwilioApp, dial_result: str, talked: str, elapsed: int) -> None:
    response = VoiceResponse()
    dial = Dial(action="/twilio/dial-done", caller_id="+14155550199", timeout=15)
    dial.number("+14155550123")
    dial.client("alice")
    dial.sip("sip:bob@example.com")
    dial.queue("support")
    response.append(dial)
    fake.twiml("/twilio/voice", response)

    @fake.route("/twilio/dial-done")
    def dial_done(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"Dial status {params['DialCallStatus']}")
        return answer

    result = call(fake, dial_result=dial_result)

    params = fake.hits_for("/twilio/dial-done")[0].params
    assert params["DialCallStatus"] == dial_result
    assert params["DialCallDuration"] == talked
    assert CALL_SID_RE.fullmatch(params["DialCallSid"])
    assert params["DialCallSid"] != result.call_sid
    [event] = events(result, "dial")
    assert [target["type"] for target in event.details["targets"]] == [
        "number",
        "client",
        "sip",
        "queue",
    ]
    assert format_event(event) == (
        f"Dial +14155550123, client:alice, sip:sip:bob@example.com, queue:support: "
        f"{dial_result} ({talked}s)"
    )
    assert result.heard() == [f"Dial status {dial_result}"]
    assert result.duration == elapsed + 2


def test_dial_without_action_continues(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.dial("+14155550123")
    response.say("After the dial")
    fake.twiml("/twilio/voice", response)
    result = call(fake, dial_result="busy")
    assert result.kinds() == ["dial", "say", "status"]
    assert result.events[0].text == "+14155550123"
    assert result.heard() == ["After the dial"]


@pytest.mark.parametrize(("reason", "status"), [("busy", "busy"), (None, "no-answer")])
def test_reject(fake: FakeTwilioApp, reason: str | None, status: str) -> None:
    response = VoiceResponse()
    response.reject(reason=reason)
    fake.twiml("/twilio/voice", response)
    result = call(fake)
    assert result.status == status
    assert result.ended == f"rejected ({reason or 'rejected'})"
    callback = fake.hits_for("/twilio/status")[0].params
    assert (callback["CallStatus"], callback["CallDuration"]) == (status, "0")


def test_bad_dial_result_is_refused(fake: FakeTwilioApp) -> None:
    with pytest.raises(ValueError, match="dial_result"):
        place_call(
            WsgiTransport(fake.flask),
            public_url=PUBLIC_URL,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_=CALLER,
            to=CALLED,
            dial_result="answered",
        )


# -- inputs and HTTP ----------------------------------------------------------------------------


def test_parse_input() -> None:
    assert parse_input("12#") == Press("12#")
    assert parse_input(" 5 ") == Press("5")
    assert parse_input("sales please") == Speech("sales please")
    assert parse_input(Speech("1")) == Speech("1")
    with pytest.raises(ValueError, match="not DTMF"):
        Press("12a")


@pytest.fixture
def served(fake: FakeTwilioApp) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, fake.flask, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_http_transport_against_a_real_server(fake: FakeTwilioApp, served: str) -> None:
    response = VoiceResponse()
    response.play("/media/welcome.mp3")
    gather = Gather(num_digits=2, action="/twilio/menu?from=main", method="GET")
    gather.say("Enter two digits")
    response.append(gather)
    fake.twiml("/twilio/voice", response)
    fake.handlers["/media/welcome.txt"] = lambda params: "Hello from the real server"

    @fake.route("/twilio/menu")
    def menu(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"You entered {params['Digits']}")
        answer.record(max_length=2, action="/twilio/recorded")
        return answer

    @fake.route("/twilio/recorded")
    def recorded(params: dict[str, str]) -> VoiceResponse:
        answer = VoiceResponse()
        answer.say(f"Recorded {params['RecordingDuration']} seconds")
        answer.hangup()
        return answer

    with HttpTransport(served) as transport:
        result = call(fake, transport=transport, inputs=["421"])

    assert result.heard() == [
        "Hello from the real server",
        "Enter two digits",
        "You entered 42",
        "Recorded 2 seconds",
    ]
    assert fake.hits_for("/twilio/menu")[0].method == "GET"
    assert fake.hits_for("/twilio/menu")[0].query_params["Digits"] == "42"
    assert result.ended == f"recorded voicemail {result.recordings[0]}"
    assert [x.status for x in result.exchanges if x.kind == "webhook"] == [200, 200, 200]


def test_unreachable_server_is_an_application_error() -> None:
    server = make_server("127.0.0.1", 0, Flask("closed"))
    port = server.server_port
    server.server_close()  # nothing listens there any more
    with HttpTransport(f"http://127.0.0.1:{port}", timeout=2) as transport:
        result = place_call(
            transport,
            public_url=PUBLIC_URL,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_=CALLER,
            to=CALLED,
        )
    assert result.ended.startswith("application error: POST https://cc.example.com/twilio/voice")
    assert result.heard() == [APPLICATION_ERROR_MESSAGE]
    assert result.kinds() == ["error", "status", "warning"]


def test_module_exports() -> None:
    assert phone.DIAL_RESULTS == ("completed", "busy", "no-answer", "failed")


def test_endless_play_outside_a_queue_makes_the_caller_give_up(fake: FakeTwilioApp) -> None:
    response = VoiceResponse()
    response.play("https://demo.twilio.com/docs/classic.mp3", loop=0)
    response.say("Not reached")
    fake.twiml("/twilio/voice", response)
    result = call(fake, hold_seconds=45)
    assert result.ended == "caller hung up during endless <Play>"
    assert result.duration == 45
    assert result.kinds() == ["play", "hangup", "status"]
