"""The simulator's live calls, conferences and text messages, and its slice of Twilio's REST
API (Calls and their Recordings, Conferences, Participants, Messages).

A :class:`Switchboard` is what Twilio's call engine knows at a given moment: the calls in
progress (simulated callers that registered themselves, and the outbound legs it dialled
on request), the conferences and their participants, the recordings started on calls,
the text messages sent, and a log of the REST requests it received.
:func:`create_switchboard_api` puts Twilio's REST API in front of it, so the application
drives the simulator with the real ``twilio.rest.Client``:

>>> board = Switchboard(WsgiTransport(app), public_url=public_url, account_sid=sid,
...                     auth_token=token)
>>> app.register_blueprint(create_switchboard_api(board, sid, token), url_prefix="/simulator")
>>> client = Client(sid, token)
>>> client.api.base_url = public_url + "/simulator"
>>> client.calls(caller_sid).update(url=public_url + "/twilio/connect", method="POST")
>>> client.calls.create(to="client:alice", from_="+864008001234", url=..., ...)
>>> client.calls(caller_sid).recordings.create(recording_channels="dual", ...)
>>> client.messages.create(to="+8613800138000", from_="+864008001234", body="...")

Everything the switchboard itself sends (the webhooks of the legs it dials, conference,
recording and message status callbacks) is signed like Twilio's and goes through the
transport to the public URL.  Nothing is sent from inside a REST request: legs run in
threads of their own, callbacks are posted (and recordings stored, messages delivered)
by a background worker, so a ``WsgiTransport`` onto the same app never re-enters it from
within a request.

Differences from Twilio, on purpose:

* Only calls to ``client:NAME``, ``sip:...`` and ``+number`` addresses; they answer after
  ``ring_seconds`` unless the ``answer_policy`` (``to`` → ``"answer"``, ``"busy"``,
  ``"no-answer"``, ``"failed"`` or an :class:`Answer`) says otherwise.  A number that
  ``handsets`` gives a :class:`Handset` (the browser phone page showing it) rings there
  instead, until its person answers, declines or the call's ``Timeout`` passes.
* A conference's status callback is the first one a participant brings (with that
  participant's ``statusCallbackEvent``, ``start end`` if none); later ones are ignored.
* A conference starts when a participant with ``startConferenceOnEnter`` joins; it ends
  when a participant with ``endConferenceOnExit`` leaves or the last participant leaves.
* No conference recording, announcements or beeps (the attributes are accepted). Coaching
  (``Coaching``, ``CallSidToCoach``) is kept, and who hears whom is modelled
  (:meth:`~callcenter.simulator.conferences.Conferences.hears`), not mixed as audio.
* Only recordings started through ``Calls/{CallSid}/Recordings`` (no ``Record=true`` on a
  new call, ``<Dial record>``, ``<Start><Recording>``).  A recording's time is the call's
  (wall-clock seconds ÷ the call's ``pace``), its audio a tone per channel where it
  recorded and silence where it paused with ``PauseBehavior=silence`` (the default, as on
  Twilio); ``RecordingTrack`` is reported but changes nothing.  Under half a second of it
  is ``absent`` (error 16101).  The ``in-progress`` callback says ``RecordingDuration=-1``.
* Text messages go out only (no incoming messages, no scheduling, no prices); each is
  ``queued``, then ``sent`` and ``delivered`` at once by the worker (``delivery_policy``
  may make it ``undelivered`` or ``failed``), with a status callback at each step.
  ``MediaUrl`` is not fetched.  With a ``MessagingServiceSid`` and no ``From`` the
  message's ``from`` stays null.
"""

from __future__ import annotations

import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable

from callcenter.simulator.board import Answer, Board
from callcenter.simulator.common import _now
from callcenter.simulator.conferences import ConferenceOptions, Participant
from callcenter.simulator.leg.call import SimulatedCall

log = logging.getLogger("callcenter.simulator")


class Switchboard(Board):
    """The simulator's live state (:class:`Board`) that also dials legs: calls created through
    the REST API and participants dialled into conferences, each run in a thread of its own.
    """

    def place_outbound(
        self,
        to: str,
        from_: str,
        url: str | None = None,
        method: str = "POST",
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        *,
        status_callback_method: str = "POST",
        twiml: str | None = None,
        timeout: float = 60,
        answer: str | Answer | None = None,
        call_sid: str | None = None,
        on_event: Callable[..., None] | None = None,
    ) -> str:
        """Dial ``to`` as a REST-created call (``Direction=outbound-api``); returns its SID.

        The leg runs in a thread: it posts the requested call progress ``events``
        (initiated, ringing, answered, completed; completed only if None) to
        ``status_callback``, and once answered requests ``url`` (signed, with
        ``CallStatus=in-progress``) or runs ``twiml``, following the TwiML like any call.
        ``answer`` overrides the ``answer_policy``.
        """
        call = self.prepare_outbound(
            to,
            from_,
            url,
            method,
            status_callback,
            events,
            status_callback_method=status_callback_method,
            twiml=twiml,
            timeout=timeout,
            answer=answer,
            call_sid=call_sid,
            on_event=on_event,
        )
        self.start(call)
        return call.call_sid

    def prepare_outbound(
        self,
        to: str,
        from_: str,
        url: str | None = None,
        method: str = "POST",
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        *,
        status_callback_method: str = "POST",
        twiml: str | None = None,
        timeout: float = 60,
        answer: str | Answer | None = None,
        call_sid: str | None = None,
        on_event: Callable[..., None] | None = None,
    ) -> SimulatedCall:
        """:meth:`place_outbound` without starting the leg: :meth:`start` it (the REST API
        answers with the ``queued`` call before it rings)."""
        call = self._make_leg(
            to,
            from_,
            url,
            method,
            status_callback,
            events,
            status_callback_method=status_callback_method,
            twiml=twiml,
            timeout=timeout,
            answer=answer,
            call_sid=call_sid,
            on_event=on_event,
        )
        self.register(call)
        return call

    def start(self, call: SimulatedCall) -> None:
        """Run a prepared leg in a thread of its own."""
        self._start_leg(call)

    def _decide(self, to: str, answer: str | Answer | None) -> Answer:
        if answer is None and self.answer_policy is not None:
            answer = self.answer_policy(to)
        if answer is None:
            return Answer()
        return answer if isinstance(answer, Answer) else Answer(str(answer))

    def _make_leg(
        self,
        to: str,
        from_: str,
        url: str | None,
        method: str,
        status_callback: str | None,
        events: Iterable[str] | None,
        *,
        status_callback_method: str,
        twiml: str | None,
        timeout: float,
        answer: str | Answer | None,
        call_sid: str | None,
        on_event: Callable[..., None] | None,
    ) -> SimulatedCall:
        if (url is None) == (twiml is None):
            raise ValueError("give either url or twiml")
        with self.lock:
            if self._closed:
                raise RuntimeError("the switchboard is closed")
        handset = self.handsets(to) if self.handsets and answer is None else None
        decided = self._decide(to, answer) if handset is None else Answer()
        call = SimulatedCall(
            self.transport,
            public_url=self.public_url,
            account_sid=self.account_sid,
            auth_token=self.auth_token,
            from_=from_,
            to=to,
            inputs=decided.inputs,
            hold_seconds=self.hold_seconds,
            dial_talk_seconds=(
                decided.talk_seconds if decided.talk_seconds is not None else self.talk_seconds
            ),
            api_url=self.api_url,
            voice_path=url or self.public_url + "/",
            voice_method=method,
            twiml=twiml,
            status_callback_url=status_callback,
            status_callback_method=status_callback_method,
            status_callback_events=("completed",) if events is None else tuple(events),
            direction="outbound-api",
            answer=decided.result,
            ring_seconds=self.ring_seconds,
            timeout=timeout,
            pace=self.pace if handset is None else handset.pace,
            switchboard=self,
            call_sid=call_sid,
            on_event=on_event,
            interactive=handset is not None,
            person_answers=handset is not None,
        )
        if handset is not None:
            handset.ring(call)
        return call

    def _start_leg(self, call: SimulatedCall) -> None:
        self.register(call)
        thread = threading.Thread(
            target=self._run_leg, args=(call,), name=f"sim-leg-{call.call_sid}", daemon=True
        )
        with self.lock:
            self._legs[call.call_sid] = thread
        thread.start()

    def _run_leg(self, call: SimulatedCall) -> None:
        try:
            call.run()
        except Exception as exc:  # a bug: keep the thread quiet, but make it visible
            log.exception("simulated call %s failed", call.call_sid)
            self.errors.append(f"{call.call_sid}: {exc!r}")

    def add_participant(
        self,
        conference_ref: str,
        *,
        from_: str,
        to: str,
        options: ConferenceOptions | None = None,
        status_callback: str | None = None,
        events: Iterable[str] | None = None,
        status_callback_method: str = "POST",
        timeout: float = 30,
        answer: str | Answer | None = None,
    ) -> Participant:
        """Dial ``to`` into a conference (REST participant create).

        ``conference_ref`` is a conference SID or a friendly name (a conference of that
        name is created if none is in progress).  Raises LookupError for an unknown SID,
        ValueError for a completed conference.
        """
        options = options or ConferenceOptions()
        with self.lock:
            conference = self._conferences.get(conference_ref) or self._current(conference_ref)
            if conference is None and _SID_RE.fullmatch(conference_ref):
                raise LookupError(conference_ref)
            if conference is not None and conference.status == "completed":
                raise ValueError(f"conference {conference.sid} is completed")
            name = conference.friendly_name if conference is not None else conference_ref
            call = self._make_leg(
                to,
                from_,
                None,
                "POST",
                status_callback,
                events,
                status_callback_method=status_callback_method,
                twiml=_conference_twiml(name),
                timeout=timeout,
                answer=answer,
                call_sid=None,
                on_event=None,
            )
            if conference is None:
                conference = self._new_conference(name)
            now = _now()
            participant = Participant(
                self,
                call,
                conference,
                options,
                muted=options.muted,
                end_conference_on_exit=options.end_conference_on_exit,
                date_created=now,
                date_updated=now,
                coaching=options.call_sid_to_coach is not None,
                call_sid_to_coach=options.call_sid_to_coach,
            )
            conference.participants[call.call_sid] = participant
            self._reserved[call.call_sid] = participant
        self._start_leg(call)
        return participant


def _conference_twiml(name: str) -> str:
    response = ET.Element("Response")
    dial = ET.SubElement(response, "Dial")
    ET.SubElement(dial, "Conference").text = name
    return ET.tostring(response, encoding="unicode")


_SID_RE = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
