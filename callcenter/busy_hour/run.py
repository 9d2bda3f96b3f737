"""A busy hour against a running server: simulated callers through its Twilio simulator
and agents on real Socket.IO consoles, everything over HTTP as in production.

- **Callers** are placed through the simulator's phone API (``/phone/calls``: the calls
  run in the server's switchboard, so the app can bridge them to agents). Each arrives at
  a random moment of the run, picks English (``1``) and asks for an agent (``0``), then
  waits in the queue; some hang up after their patience runs out (abandoned), some press
  ``*`` to be called back, the others wait until an agent takes them and hangs up. The
  phone API runs at most 20 calls at once: later callers wait for a free line.
- **Agents** log in (``POST /api/login``), open the console socket (``/agent``), go
  available, accept each offer after a random delay, talk, hang up and wrap up with a
  random disposition; each has their own speed.

Time is compressed by ``minutes / 60``: the hour's arrivals, patience, talk and wrap-up
times are squeezed into ``minutes`` of real time. The server records real times (its
reports show the compressed hour as it ran). What the callers hear runs at the server's
own phone pace (``SIMULATOR_PHONE_PACE``, real seconds per simulated second).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import socketio

log = logging.getLogger("callcenter.busy_hour")

AGENT_NS = "/agent"
POLL_SECONDS = 0.25
LINE_BUSY = 429  # the phone API's answer when its 20 lines are taken


@dataclass(frozen=True)
class Plan:
    """What happens in the hour: how many callers and agents, over how many real minutes,
    and the share of callers who give up or ask for a call-back."""

    callers: int = 60
    agents: int = 5
    minutes: float = 60.0
    abandon_share: float = 0.15
    callback_share: float = 0.1
    seed: int | None = None

    @property
    def scale(self) -> float:
        """Real seconds per second of the simulated hour."""
        return self.minutes / 60.0


@dataclass
class Tally:
    """What the run saw, from the callers' and the agents' side."""

    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def error(self, message: str) -> None:
        log.warning("%s", message)
        with self.lock:
            self.errors.append(message)


class Agent:
    """One agent's console: a Socket.IO client that answers offers at its own speed."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        plan: Plan,
        rng: random.Random,
        dispositions: Sequence[str],
        tally: Tally,
    ) -> None:
        self.url, self.username, self.password = url, username, password
        self.plan, self.tally = plan, tally
        self.rng = random.Random(rng.random())
        self.speed = self.rng.uniform(0.6, 1.6)  # this agent's pace: slower > 1
        self.dispositions = list(dispositions) or ["resolved"]
        self.client = socketio.Client(reconnection=False)
        self._wrapping: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Log in, connect the console and go available."""
        http = requests.Session()
        response = http.post(
            self.url + "/api/login",
            json={"username": self.username, "password": self.password},
            timeout=10,
        )
        response.raise_for_status()
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        client = self.client
        client.on("call:offer", self._offered, namespace=AGENT_NS)
        client.on("call:connected", self._connected, namespace=AGENT_NS)
        client.on("agent:state", self._state, namespace=AGENT_NS)
        client.connect(self.url, namespaces=[AGENT_NS], headers={"Cookie": cookie},
                       transports=["websocket"], wait_timeout=15)  # fmt: skip
        self._emit("agent:status", {"status": "available"})

    def stop(self) -> None:
        if self.client.connected:
            self._emit("agent:status", {"status": "offline"})
            self.client.disconnect()

    def _seconds(self, low: float, high: float) -> float:
        return self.rng.uniform(low, high) * self.speed * self.plan.scale

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        timer.start()

    def _emit(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = self.client.call(event, data, namespace=AGENT_NS, timeout=15)
        except Exception as exc:  # a lost socket or an unanswered call: noted, not fatal
            self.tally.error(f"{self.username}: {event}: {exc!r}")
            return {}
        if isinstance(answer, dict) and answer.get("error"):
            self.tally.error(f"{self.username}: {event}: {answer['error']}")
        return answer if isinstance(answer, dict) else {}

    def _offered(self, data: dict[str, Any]) -> None:
        call_sid = data.get("call_sid")
        # Within the offer's timeout (15 s by default), however compressed the hour.
        delay = min(self._seconds(2, 10), 8.0)
        self._later(delay, lambda: self._accept(call_sid))

    def _accept(self, call_sid: Any) -> None:
        if self._emit("call:accept", {"call_sid": call_sid}).get("ok"):
            self.tally.add("accepted")

    def _connected(self, data: dict[str, Any]) -> None:
        call_sid = data.get("call_sid")
        self.tally.add("talked")
        self._later(self._seconds(60, 360), lambda: self._emit("call:hangup",
                                                               {"call_sid": call_sid}))  # fmt: skip

    def _state(self, data: dict[str, Any]) -> None:
        call_sid = data.get("call_sid")
        if data.get("status") != "wrap-up" or not call_sid:
            return
        with self._lock:
            if call_sid in self._wrapping:
                return
            self._wrapping.add(call_sid)
        disposition = self.rng.choice(self.dispositions)
        self._later(self._seconds(5, 30), lambda: self._wrap_up(call_sid, disposition))

    def _wrap_up(self, call_sid: str, disposition: str) -> None:
        if self._emit("call:wrapup", {"call_sid": call_sid, "disposition": disposition}).get("ok"):
            self.tally.add("wrapped_up")


class Caller:
    """One caller through the simulator's phone API."""

    def __init__(self, url: str, to: str, number: str, kind: str, plan: Plan,
                 rng: random.Random, tally: Tally) -> None:  # fmt: skip
        self.url, self.to, self.number, self.kind = url, to, number, kind
        self.plan, self.tally = plan, tally
        self.rng = random.Random(rng.random())
        self.http = requests.Session()
        self.call_sid: str | None = None
        self.seen = 0
        self.kinds: list[str] = []
        self.ended = False
        self.held: list[Any] = []

    def run(self, deadline: float) -> None:
        try:
            self._run(deadline)
        except Exception as exc:  # one caller's trouble does not stop the hour
            self.tally.error(f"caller {self.number}: {exc!r}")

    def _post(self, path: str, body: dict[str, Any]) -> requests.Response:
        return self.http.post(self.url + path, json=body, timeout=10)

    def _dial(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            response = self._post("/phone/calls", {"from": self.number, "to": self.to})
            if response.status_code == LINE_BUSY:
                time.sleep(0.5)
                continue
            response.raise_for_status()
            self.call_sid = response.json()["call_sid"]
            self.tally.add("called")
            return True
        return False

    def _poll(self) -> None:
        response = self.http.get(
            f"{self.url}/phone/calls/{self.call_sid}/events", params={"after": self.seen},
            timeout=10,
        )  # fmt: skip
        response.raise_for_status()
        body = response.json()
        self.seen = body["next"]
        self.kinds.extend(event["kind"] for event in body["events"])
        self.ended, self.held = body["ended"], body["held"]

    def _wait(self, until: Callable[[], bool], seconds: float) -> bool:
        """Poll (which also keeps the line alive) until `until()` or the call ends."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._poll()
            if until() or self.ended:
                return until()
            time.sleep(POLL_SECONDS)
        return False

    def _press(self, keys: str) -> None:
        if not self.ended:
            self._post(f"/phone/calls/{self.call_sid}/keys", {"keys": keys})

    def _run(self, deadline: float) -> None:
        if not self._dial(deadline):
            self.tally.add("never_dialed")
            return
        for keys in ("1", "0"):  # English, then "an agent"
            self._press(keys)
            self._wait(lambda: not self.held, 60)
        # In the queue: waiting (<Enqueue>), or straight to a free agent's conference.
        if not self._wait(lambda: bool({"enqueue", "conference"} & set(self.kinds)), 60):
            self.tally.add("never_queued")
            return self._hang_up()
        self.tally.add("queued")
        answered = lambda: "conference-start" in self.kinds  # noqa: E731
        if self.kind == "abandon":
            patience = self.rng.uniform(20, 120) * self.plan.scale
            if not self._wait(answered, patience):
                self.tally.add("abandoned")
                return self._hang_up()
        elif self.kind == "callback" and not self._wait(
            answered, self.rng.uniform(5, 30) * self.plan.scale
        ):
            self._press("*")
            self.tally.add("asked_callback")
            self._wait(lambda: False, 20)  # hears the promise; the app hangs up
            return self._hang_up()
        if self._wait(answered, max(1.0, deadline - time.monotonic())):
            self.tally.add("answered")
        self._wait(lambda: False, max(1.0, deadline - time.monotonic()))  # until hung up
        self._hang_up()

    def _hang_up(self) -> None:
        if self.call_sid and not self.ended:
            self._post(f"/phone/calls/{self.call_sid}/hangup", {})


def run_busy_hour(
    url: str,
    to: str,
    credentials: Sequence[tuple[str, str]],
    plan: Plan,
    dispositions: Sequence[str] = (),
    on_progress: Callable[[str], None] | None = None,
) -> Tally:
    """Run the hour against the server at `url` (its simulator answering `to`) with the
    agents `credentials` (username, password); returns what was seen."""
    rng = random.Random(plan.seed)
    tally = Tally()
    say = on_progress or (lambda _text: None)
    agents = [Agent(url, user, password, plan, rng, dispositions, tally)
              for user, password in credentials]  # fmt: skip
    for agent in agents:
        agent.start()
    say(f"{len(agents)} agents available")
    length = plan.minutes * 60
    # The last caller may still wait, talk and wrap up after the hour's last arrival.
    deadline = time.monotonic() + length + max(60.0, 900 * plan.scale)
    kinds = ["abandon"] * round(plan.callers * plan.abandon_share)
    kinds += ["callback"] * round(plan.callers * plan.callback_share)
    kinds += ["patient"] * (plan.callers - len(kinds))
    rng.shuffle(kinds)
    arrivals = sorted(rng.uniform(0, length * 0.8) for _ in kinds)
    began = time.monotonic()
    threads = []
    for n, (kind, at) in enumerate(zip(kinds, arrivals, strict=True)):
        number = f"+86139{rng.randrange(10**8):08d}"
        caller = Caller(url, to, number, kind, plan, rng, tally)
        time.sleep(max(0.0, began + at - time.monotonic()))
        thread = threading.Thread(target=caller.run, args=(deadline,), daemon=True,
                                  name=f"caller-{n}")  # fmt: skip
        thread.start()
        threads.append(thread)
    say(f"{len(threads)} callers placed")
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 30)
    time.sleep(min(5.0, 30 * plan.scale + 1))  # the last wrap-ups
    for agent in agents:
        agent.stop()
    return tally
