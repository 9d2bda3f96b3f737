"""Bridge an accepted call to its agent through Twilio's REST API (or the simulator's).

The caller is taken out of the queue by redirecting their call to TwiML that announces the
agent's number and joins a conference named after the call; the agent is dialed into the
same conference (a `client:` identity for the browser softphone, or their phone; which one
`web/bridging.agent_leg` reads from the agent's `takes_calls_on`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from callcenter.telephony.twiml import UrlBuilder

log = logging.getLogger("callcenter.bridge")
AGENT_RING_SECONDS = 20  # an agent who accepted but whose phone rings on: give up after this
# Twilio's library waits for ever by default: a REST request that hangs would hold an agent's
# accept, or the dispatcher's recording starts, for good. Twilio answers in well under 1 s.
REST_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AgentLeg:
    username: str
    number: str
    phone: str | None = None

    @property
    def address(self) -> str:
        return self.phone or f"client:{self.username}"


# Twilio's answers meaning "this call is over": 21220 "Call is not in-progress" (HTTP 400,
# e.g. redirecting a call that has ended) and 20404 (HTTP 404, no such call).
CALL_GONE_CODES = frozenset({21220, 20404})


class BridgeError(Exception):
    """Twilio refused or could not be reached. The message is a reason an agent can read;
    `code` and `status` are Twilio's error code and HTTP status when it answered."""

    def __init__(self, message: str, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    @property
    def call_gone(self) -> bool:
        """Twilio says the call addressed is over or unknown (not worth retrying)."""
        return self.code in CALL_GONE_CODES


def _failed(what: str, exc: Exception) -> BridgeError:
    """Log the REST error in full; the agent gets why in words (no URL, no SID)."""
    log.warning("%s failed: %s", what, exc)
    if isinstance(exc, TwilioRestException):
        if exc.status == 404:
            reason = "that leg of the call is not connected (not yet, or not any more)"
        else:
            reason = "the telephone service refused the request"
        return BridgeError(reason, exc.code, exc.status)
    return BridgeError("the telephone service could not be reached")


def rest_client(
    account_sid: str, auth_token: str, api_url: str, timeout: float = REST_TIMEOUT_SECONDS
) -> Client:
    """A twilio.rest.Client talking to `api_url` (Twilio, or the local simulator) that gives
    up on a request after `timeout` seconds (connecting, or waiting for the answer)."""
    client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
    client.api.base_url = api_url
    return client


def supervisor_fields(mode: str, agent_leg: str | None, *, created: bool) -> dict[str, Any]:
    """The Participants API fields of a supervisor's mode: `monitor` listens muted, `coach`
    is heard by the agent's leg only (`coaching`, `call_sid_to_coach`), `barge` talks to
    everyone. An update says `coaching=false` to end a whisper; a new participant needs not."""
    if mode == "monitor":
        return {"muted": True} if created else {"muted": True, "coaching": False}
    if mode == "coach":
        if not agent_leg:
            raise BridgeError("the agent is not connected to the call")
        return {"muted": False, "coaching": True, "call_sid_to_coach": agent_leg}
    if mode == "barge":
        return {"muted": False} if created else {"muted": False, "coaching": False}
    raise ValueError(f"unknown supervision mode {mode!r}")


class CallBridge:
    """Moves callers to agents with two REST requests."""

    def __init__(self, client: Client, urls: UrlBuilder, caller_id: str) -> None:
        self.client = client
        self.urls = urls
        self.caller_id = caller_id

    def connect(
        self, call_sid: str, agent: AgentLeg, language: str, caller_leg: str | None = None
    ) -> str:
        """Announce the agent to the caller and dial the agent in; returns the agent leg SID.

        `caller_leg` is the caller's leg when it is not the call itself (a customer we
        called back, waiting again after a transfer): that leg is moved, into the call's
        conference."""
        leg = caller_leg or call_sid
        conference = {"conf": call_sid} if leg != call_sid else {}
        # `take` makes each redirect a webhook step of its own: the same caller taken again
        # by the same agent is not answered with the replay of the first (twilio_hooks).
        take = secrets.token_hex(4)
        try:
            self.client.calls(leg).update(
                url=self.urls(
                    "/twilio/bridge/caller",
                    agent=agent.number,
                    lang=language,
                    take=take,
                    **conference,
                ),
                method="POST",
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"bridging {call_sid} to {agent.username}", exc) from exc
        return self._dial_agent(call_sid, agent)

    def _dial_agent(self, call_sid: str, agent: AgentLeg) -> str:
        try:
            leg = self.client.calls.create(
                to=agent.address,
                from_=self.caller_id,
                url=self.urls("/twilio/bridge/agent", call=call_sid),
                method="POST",
                timeout=AGENT_RING_SECONDS,
                status_callback=self.urls("/twilio/bridge/agent-status", call=call_sid),
                status_callback_method="POST",
                status_callback_event=["answered", "completed"],
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"dialing agent {agent.username} for {call_sid}", exc) from exc
        return str(leg.sid)

    def call_back(
        self, call_sid: str, number: str, agent: AgentLeg, language: str
    ) -> tuple[str, str]:
        """Virtual hold: dial the agent, then the customer who asked to be called back.

        The agent is dialed first, so a failure there leaves the customer undialed (and the
        call-back can be offered again without ever calling them twice). Returns
        (customer leg SID, agent leg SID).
        """
        agent_leg = self._dial_agent(call_sid, agent)
        try:
            customer = self.dial_customer(call_sid, number, agent, language)
        except BridgeError:
            with contextlib.suppress(TwilioException, OSError):
                self.client.calls(agent_leg).update(status="completed")
            raise
        return customer, agent_leg

    def dial_customer(self, call_sid: str, number: str, agent: AgentLeg, language: str) -> str:
        """Dial the customer of a call-back (or an outbound call) into the call's conference,
        where they hear the agent announcement; returns their leg's SID."""
        try:
            customer = self.client.calls.create(
                to=number,
                from_=self.caller_id,
                url=self.urls(
                    "/twilio/bridge/caller", agent=agent.number, lang=language, conf=call_sid
                ),
                method="POST",
                status_callback=self.urls("/twilio/bridge/callback-status", call=call_sid),
                status_callback_method="POST",
                status_callback_event=["completed"],
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"calling back {number} for {call_sid}", exc) from exc
        return str(customer.sid)

    def call_status(self, call_sid: str) -> tuple[str, int | None]:
        """(status, duration in seconds) of a call as Twilio sees it; an unknown call
        (20404) is reported as `completed`: it is over as far as anyone can tell."""
        try:
            call = self.client.calls(call_sid).fetch()
        except (TwilioException, OSError) as exc:
            error = _failed(f"fetching {call_sid}", exc)
            if error.call_gone:
                return "completed", None
            raise error from exc
        duration = int(call.duration) if call.duration not in (None, "") else None
        return str(call.status), duration

    def hang_up(self, call_sid: str) -> None:
        """End one leg (the caller's, or an agent's)."""
        try:
            self.client.calls(call_sid).update(status="completed")
        except (TwilioException, OSError) as exc:
            raise _failed(f"hanging up {call_sid}", exc) from exc

    def _conference_sid(self, name: str) -> str:
        conferences = self.client.conferences.list(
            friendly_name=name, status="in-progress", limit=1
        )
        if not conferences:
            log.warning("no conference in progress for %s", name)
            raise BridgeError("the call is not connected (not yet, or not any more)")
        return str(conferences[0].sid)

    def hold(self, call_sid: str, held: bool, caller_leg: str | None = None) -> None:
        """Put the caller on hold in their conference (hold music), or take them off."""
        try:
            conference = self._conference_sid(call_sid)
            participant = caller_leg or call_sid
            self.client.conferences(conference).participants(participant).update(hold=held)
        except (TwilioException, OSError) as exc:
            raise _failed(f"hold={held} on {call_sid}", exc) from exc

    def to_queue(
        self, call_sid: str, queue: str, language: str, caller_leg: str | None = None
    ) -> None:
        """Cold transfer: move the caller out of the conference into a queue (a call-back's
        customer leg waits there as the call's caller: `call` names the call)."""
        leg = caller_leg or call_sid
        call = {"call": call_sid} if leg != call_sid else {}
        try:
            self.client.calls(leg).update(
                url=self.urls("/twilio/transfer", queue=queue, lang=language, **call),
                method="POST",
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"moving {call_sid} to {queue}", exc) from exc

    def rejoin_queue(
        self, call_sid: str, queue: str, language: str, caller_leg: str | None = None
    ) -> None:
        """A waiting caller was moved to another queue: their leg leaves the old <Enqueue>
        and waits on in the queue the call is in now (`/twilio/queue/moved`), hearing its
        hold treatment at once."""
        leg = caller_leg or call_sid
        call = {"call": call_sid} if leg != call_sid else {}
        try:
            self.client.calls(leg).update(
                url=self.urls("/twilio/queue/moved", queue=queue, lang=language, **call),
                method="POST",
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"moving {call_sid} to its new queue", exc) from exc

    def consult(self, call_sid: str, agent: AgentLeg, caller_leg: str | None = None) -> str:
        """Warm transfer, step one: the caller holds, the other agent joins to talk first."""
        try:
            conference = self._conference_sid(call_sid)
            participants = self.client.conferences(conference).participants
            participants(caller_leg or call_sid).update(hold=True)
            participant = participants.create(
                from_=self.caller_id, to=agent.address, end_conference_on_exit=False, beep="false"
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"consulting {agent.username} on {call_sid}", exc) from exc
        return str(participant.call_sid)

    def hand_over(
        self, call_sid: str, leaving_leg: str, staying_leg: str, caller_leg: str | None = None
    ) -> None:
        """Warm transfer, step two: the new agent keeps the call, the first one leaves."""
        try:
            conference = self._conference_sid(call_sid)
            participants = self.client.conferences(conference).participants
            participants(staying_leg).update(end_conference_on_exit=True)
            participants(leaving_leg).update(end_conference_on_exit=False)
            participants(caller_leg or call_sid).update(hold=False)
            self.client.calls(leaving_leg).update(status="completed")
        except (TwilioException, OSError) as exc:
            raise _failed(f"handing {call_sid} over", exc) from exc

    def add_party(self, call_sid: str, number: str) -> str:
        """Dial a third party into the caller's conference; returns their call SID."""
        try:
            conference = self._conference_sid(call_sid)
            participant = self.client.conferences(conference).participants.create(
                from_=self.caller_id, to=number, end_conference_on_exit=False, beep="false"
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"adding {number} to {call_sid}", exc) from exc
        return str(participant.call_sid)

    def supervise(
        self, call_sid: str, supervisor: AgentLeg, mode: str, agent_leg: str | None
    ) -> str:
        """Dial a supervisor into the call's conference in `mode` (see `supervisor_fields`):
        never ending the conference, no beep, its end reported to `/twilio/supervise/status`.
        Returns the supervisor's leg SID."""
        try:
            conference = self._conference_sid(call_sid)
            participant = self.client.conferences(conference).participants.create(
                from_=self.caller_id,
                to=supervisor.address,
                label=f"supervisor-{supervisor.number}",
                end_conference_on_exit=False,
                beep="false",
                timeout=AGENT_RING_SECONDS,
                status_callback=self.urls("/twilio/supervise/status", call=call_sid),
                status_callback_method="POST",
                status_callback_event=["completed"],
                **supervisor_fields(mode, agent_leg, created=True),
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"{mode} by {supervisor.username} on {call_sid}", exc) from exc
        return str(participant.call_sid)

    def change_supervision(self, call_sid: str, leg: str, mode: str, agent_leg: str | None) -> None:
        """Move a supervisor's leg already in the call to another mode (same participant)."""
        try:
            conference = self._conference_sid(call_sid)
            self.client.conferences(conference).participants(leg).update(
                **supervisor_fields(mode, agent_leg, created=False)
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"{mode} on {call_sid}", exc) from exc

    def start_recording(self, leg_sid: str, channels: int, call_sid: str) -> str:
        """Record a caller's leg (dual: the caller on one channel, the rest on the other)."""
        try:
            recording = self.client.calls(leg_sid).recordings.create(
                recording_channels="dual" if channels == 2 else "mono",
                recording_status_callback=self.urls("/twilio/recording/call", call=call_sid),
                recording_status_callback_method="POST",
                recording_status_callback_event=["in-progress", "completed", "absent"],
            )
        except (TwilioException, OSError) as exc:
            raise _failed(f"recording {call_sid}", exc) from exc
        return str(recording.sid)

    def pause_recording(self, leg_sid: str, recording_sid: str, paused: bool) -> None:
        """Pause (the paused stretch is left out of the audio) or resume a recording."""
        try:
            recording = self.client.calls(leg_sid).recordings(recording_sid)
            if paused:
                recording.update(status="paused", pause_behavior="skip")
            else:
                recording.update(status="in-progress")
        except (TwilioException, OSError) as exc:
            raise _failed(f"pause={paused} of {recording_sid}", exc) from exc

    def stop_recording(self, leg_sid: str, recording_sid: str) -> None:
        """Stop a recording for good (Twilio completes it with what was recorded)."""
        try:
            self.client.calls(leg_sid).recordings(recording_sid).update(status="stopped")
        except (TwilioException, OSError) as exc:
            raise _failed(f"stopping {recording_sid}", exc) from exc
