"""Conferences and their participants (part of :class:`~callcenter.simulator.board.Board`).

A conference starts when a participant with ``startConferenceOnEnter`` joins; it ends when a
participant with ``endConferenceOnExit`` leaves or the last participant leaves.  Its status
callback is the first one a participant brings.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from callcenter.simulator.callbacks import _Callback
from callcenter.simulator.common import _now, _parse_bool, _split_events

if TYPE_CHECKING:
    from callcenter.simulator.board import Board
    from callcenter.simulator.leg.call import SimulatedCall

CONFERENCE_EVENTS = ("start", "end", "join", "leave", "mute", "hold", "modify", "speaker")
DEFAULT_CONFERENCE_EVENTS = ("start", "end")
_LEFT_REASONS = {
    "hangup": "participant_hung_up",
    "time-limit": "participant_hung_up",
    "redirected": "participant_updated_via_api",
    "kicked": "participant_updated_via_api",
    "conference ended": "conference_ended",
}


@dataclass(frozen=True)
class ConferenceOptions:
    """How a participant is in a conference: the attributes of ``<Conference>``."""

    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    beep: str = "true"
    wait_url: str | None = None
    """None: Twilio's default wait music; ``""``: silence; else a TwiML URL."""
    wait_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    label: str | None = None
    call_sid_to_coach: str | None = None
    """The participant whispered to (REST ``CallSidToCoach``): only they hear this one."""

    @classmethod
    def from_twiml(cls, noun: ET.Element, doc_url: str) -> ConferenceOptions:
        wait_url = noun.get("waitUrl")
        callback = noun.get("statusCallback")
        return cls(
            start_conference_on_enter=_parse_bool(noun.get("startConferenceOnEnter"), True),
            end_conference_on_exit=_parse_bool(noun.get("endConferenceOnExit"), False),
            muted=_parse_bool(noun.get("muted"), False),
            beep=noun.get("beep", "true"),
            wait_url=urljoin(doc_url, wait_url) if wait_url else wait_url,
            wait_method=noun.get("waitMethod", "POST").upper(),
            status_callback=urljoin(doc_url, callback) if callback else None,
            status_callback_method=noun.get("statusCallbackMethod", "POST").upper(),
            status_callback_events=_split_events([noun.get("statusCallbackEvent", "")]),
            label=noun.get("participantLabel"),
        )


@dataclass(frozen=True)
class ParticipantState:
    """A participant as its call sees it at one moment."""

    conference_sid: str
    status: str
    """The conference's: ``init``, ``in-progress`` or ``completed``."""
    hold: bool
    hold_url: str | None
    hold_method: str
    muted: bool
    removed: str | None
    """Why the participant is out (``conference ended``, ``kicked``, ...), None if in."""
    version: int


@dataclass(eq=False)
class Participant:
    """A call in a conference (or being dialled into one through the Participants API)."""

    board: Board
    call: SimulatedCall
    conference: Conference
    options: ConferenceOptions
    muted: bool
    end_conference_on_exit: bool
    date_created: datetime
    date_updated: datetime
    hold: bool = False
    hold_url: str | None = None
    hold_method: str = "GET"
    connected: bool = False
    removed: str | None = None
    version: int = 0
    coaching: bool = False
    call_sid_to_coach: str | None = None

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def conference_sid(self) -> str:
        return self.conference.sid

    @property
    def status(self) -> str:
        """Twilio's participant status: queued, ringing, connecting, connected, complete..."""
        if self.removed is not None:
            return "failed" if not self.connected and self.removed == "failed" else "complete"
        if self.connected:
            return "connected"
        return {"queued": "queued", "ringing": "ringing"}.get(self.call.status, "connecting")

    def changed(self) -> None:
        """Bump the version and wake the call up (call with the board's lock held)."""
        self.version += 1
        self.date_updated = _now()
        self.call.poke()


@dataclass(eq=False)
class Conference:
    sid: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ()
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    sequence: int = 0

    def connected(self) -> list[Participant]:
        return [p for p in self.participants.values() if p.connected]

    def heard_by(self, listener: Participant) -> list[str]:
        """Call SIDs of the participants whose voice reaches ``listener``: everyone connected
        but the muted and the held, and a coach only by the participant it coaches. A held
        participant hears its hold music, nobody."""
        if not listener.connected or listener.hold or self.status != "in-progress":
            return []
        return [
            p.call_sid
            for p in self.connected()
            if p is not listener
            and not p.muted
            and not p.hold
            and (not p.coaching or p.call_sid_to_coach == listener.call_sid)
        ]


class Conferences:
    """Conferences by SID and friendly name; joining, leaving, hold, mute, ending."""

    def _new_conference(self, name: str) -> Conference:
        now = _now()
        conference = Conference("CF" + secrets.token_hex(16), name, now, now)
        self._conferences[conference.sid] = conference
        self._active[name] = conference.sid
        return conference

    def _current(self, name: str) -> Conference | None:
        sid = self._active.get(name)
        return self._conferences.get(sid) if sid else None

    def find_conference(self, ref: str) -> Conference | None:
        """A conference by SID, or the current (not completed) one of that friendly name."""
        with self.lock:
            return self._conferences.get(ref) or self._current(ref)

    def conferences(
        self, friendly_name: str | None = None, status: str | None = None
    ) -> list[Conference]:
        """Conferences, newest first."""
        with self.lock:
            found = [
                c
                for c in self._conferences.values()
                if (friendly_name is None or c.friendly_name == friendly_name)
                and (status is None or c.status == status)
            ]
        return found[::-1]

    def join(self, call: SimulatedCall, name: str, options: ConferenceOptions) -> Participant:
        """The call enters conference ``name`` (created if there is none in progress)."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self._reserved.pop(call.call_sid, None)
            if participant is not None and participant.removed is not None:
                return participant  # removed while being dialled: the call sees it at once
            if participant is None:
                conference = self._current(name) or self._new_conference(name)
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
                )
                conference.participants[call.call_sid] = participant
            conference = participant.conference
            options = participant.options
            participant.connected = True
            participant.changed()
            if conference.status_callback is None and options.status_callback:
                conference.status_callback = options.status_callback
                conference.status_callback_method = options.status_callback_method
                conference.status_callback_events = (
                    options.status_callback_events or DEFAULT_CONFERENCE_EVENTS
                )
            callbacks.append(self._event(conference, "join", "participant-join", participant))
            if options.start_conference_on_enter and conference.status == "init":
                conference.status = "in-progress"
                conference.date_updated = _now()
                for member in conference.participants.values():
                    member.changed()
                callbacks.append(self._event(conference, "start", "conference-start"))
            self._dispatch(callbacks)
        return participant

    def leave(self, participant: Participant, reason: str) -> None:
        """The participant's call leaves (``hangup``, ``redirected``, ``time-limit``)."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            if participant.removed is None:
                self._remove(participant, reason, callbacks)
            self._dispatch(callbacks)

    def state(self, participant: Participant) -> ParticipantState:
        with self.lock:
            return ParticipantState(
                conference_sid=participant.conference.sid,
                status=participant.conference.status,
                hold=participant.hold,
                hold_url=participant.hold_url,
                hold_method=participant.hold_method,
                muted=participant.muted,
                removed=participant.removed,
                version=participant.version,
            )

    def participant(self, conference_ref: str, call_sid: str) -> Participant | None:
        """A current participant (connected or being dialled) of a conference."""
        with self.lock:
            conference = self.find_conference(conference_ref)
            if conference is None:
                return None
            return conference.participants.get(call_sid)

    def hears(self, conference_ref: str, call_sid: str) -> list[str] | None:
        """Whom the participant ``call_sid`` hears now (see :meth:`Conference.heard_by`);
        None if it is not in that conference."""
        with self.lock:
            participant = self.participant(conference_ref, call_sid)
            if participant is None:
                return None
            return participant.conference.heard_by(participant)

    def coaching_problem(
        self, conference: Conference, call_sid: str | None, coach: str | None
    ) -> tuple[int, str] | None:
        """Twilio's answer to coaching ``coach`` from ``call_sid``: None if allowed, else
        (error code, message). The coached call must be connected to the same conference."""
        if coach is None:
            return None
        if coach == call_sid:
            return 20001, "CallSidToCoach: a participant cannot coach itself"
        with self.lock:
            target = conference.participants.get(coach)
            if target is None or not target.connected or conference.status != "in-progress":
                return 16028, "Participant to be whispered is not present in the conference"
        return None

    def update_participant(
        self,
        conference_ref: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        hold_url: str | None = None,
        hold_method: str | None = None,
        muted: bool | None = None,
        end_conference_on_exit: bool | None = None,
        coach: str | bool | None = False,
    ) -> Participant | None:
        """Hold, mute, coach ... a participant (like a REST participant update); None:
        unknown. ``coach``: False leaves coaching as it is, None stops it, a call SID makes
        the participant whisper to that call only (checked by :meth:`coaching_problem`)."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self.participant(conference_ref, call_sid)
            if participant is None:
                return None
            conference = participant.conference
            if coach is not False and coach != participant.call_sid_to_coach:
                participant.coaching = coach is not None
                participant.call_sid_to_coach = coach if isinstance(coach, str) else None
                callbacks.append(self._event(conference, "modify", "participant-modify",
                                             participant))  # fmt: skip
            if hold_url is not None:
                participant.hold_url = hold_url or None
            if hold_method is not None:
                participant.hold_method = hold_method.upper()
            if end_conference_on_exit is not None:
                participant.end_conference_on_exit = end_conference_on_exit
            if hold is not None and hold != participant.hold:
                participant.hold = hold
                name = "participant-hold" if hold else "participant-unhold"
                callbacks.append(self._event(conference, "hold", name, participant))
            if muted is not None and muted != participant.muted:
                participant.muted = muted
                name = "participant-mute" if muted else "participant-unmute"
                callbacks.append(self._event(conference, "mute", name, participant))
            participant.changed()
            self._dispatch(callbacks)
        return participant

    def kick(self, conference_ref: str, call_sid: str) -> bool:
        """Remove a participant (REST DELETE): its call goes on after its ``<Dial>``."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            participant = self.participant(conference_ref, call_sid)
            if participant is None:
                return False
            self._remove(participant, "kicked", callbacks)
            self._dispatch(callbacks)
        return True

    def end_conference(self, conference_ref: str) -> bool:
        """End a conference (REST ``Status=completed``); False if unknown."""
        callbacks: list[_Callback | None] = []
        with self.lock:
            conference = self.find_conference(conference_ref)
            if conference is None:
                return False
            if conference.status != "completed":
                self._end(conference, "conference-ended-via-api", None, callbacks)
            self._dispatch(callbacks)
        return True

    def _remove(self, participant: Participant, reason: str, callbacks: list[Any]) -> None:
        """Take a participant out (lock held); end the conference if that ends it."""
        conference = participant.conference
        conference.participants.pop(participant.call_sid, None)
        was_connected = participant.connected
        participant.removed = reason
        participant.changed()
        if not was_connected:
            if reason != "failed":  # dialled but not there yet: the leg is canceled
                participant.call.hangup(f"removed from conference {conference.friendly_name}")
        else:
            callbacks.append(
                self._event(
                    conference,
                    "leave",
                    "participant-leave",
                    participant,
                    ReasonParticipantLeft=_LEFT_REASONS.get(reason, reason),
                    ParticipantCallStatus=(
                        "completed" if reason == "hangup" else participant.call.status
                    ),
                )
            )
        if conference.status == "completed":
            return
        kicked = reason == "kicked"
        if was_connected and participant.end_conference_on_exit:
            how = "kicked" if kicked else "left"
            ending = f"participant-with-end-conference-on-exit-{how}"
            self._end(conference, ending, participant.call_sid, callbacks)
        elif not conference.participants:
            ending = "last-participant-kicked" if kicked else "last-participant-left"
            self._end(conference, ending, participant.call_sid, callbacks)

    def _end(
        self, conference: Conference, reason: str, call_sid: str | None, callbacks: list[Any]
    ) -> None:
        conference.status = "completed"
        conference.reason_ended = reason
        conference.call_sid_ending = call_sid
        conference.date_updated = _now()
        if self._active.get(conference.friendly_name) == conference.sid:
            del self._active[conference.friendly_name]
        for participant in list(conference.participants.values()):
            self._remove(participant, "conference ended", callbacks)
        extra = {"ReasonConferenceEnded": reason, "Reason": reason}
        if call_sid:
            extra["CallSidEndingConference"] = call_sid
        callbacks.append(self._event(conference, "end", "conference-end", None, **extra))

    def _event(
        self,
        conference: Conference,
        subscription: str,
        name: str,
        participant: Participant | None = None,
        **extra: str,
    ) -> _Callback | None:
        """A conference status callback, if the conference subscribed to it (lock held)."""
        if not conference.status_callback or subscription not in conference.status_callback_events:
            return None
        conference.sequence += 1
        params = {
            "AccountSid": self.account_sid,
            "ConferenceSid": conference.sid,
            "FriendlyName": conference.friendly_name,
            "StatusCallbackEvent": name,
            "Timestamp": format_datetime(_now()),
            "SequenceNumber": str(conference.sequence),
        }
        if participant is not None:
            params.update(
                {
                    "CallSid": participant.call_sid,
                    "Muted": str(participant.muted).lower(),
                    "Hold": str(participant.hold).lower(),
                    "Coaching": str(participant.coaching).lower(),
                    "EndConferenceOnExit": str(participant.end_conference_on_exit).lower(),
                    "StartConferenceOnEnter": str(
                        participant.options.start_conference_on_enter
                    ).lower(),
                }
            )
            if participant.call_sid_to_coach:
                params["CallSidToCoach"] = participant.call_sid_to_coach
            if participant.options.label:
                params["ParticipantLabel"] = participant.options.label
        params.update(extra)
        return _Callback(conference.status_callback, conference.status_callback_method, params)
