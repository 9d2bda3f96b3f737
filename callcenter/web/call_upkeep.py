"""The calls a dispatcher pass keeps up through Twilio's REST API (`CallUpkeep`).

After each pass `Realtime` has it end the calls whose hang-up never reached us (callers
waiting past max_wait, open calls nothing was heard of for a while),
move callers whose agent never answered back to their queue, and start the recordings
asked for; a caller's survey is kept out of the call's recording (or skipped).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask_socketio import SocketIO

from callcenter.calls.bridge_legs import unmet_agent_leg
from callcenter.calls.changes import Changes
from callcenter.calls.records import FINAL_STATUSES, get_call
from callcenter.calls.recovery import (
    end_lost_call,
    lost_call_end,
    note_still_up,
    overdue_waiting_calls,
    quiet_open_calls,
)
from callcenter.calls.routing import agent_missed_bridge, unanswered_bridges
from callcenter.db import LOCK_TIMEOUT
from callcenter.ivr.actions import Action
from callcenter.ivr.survey import in_survey, skip
from callcenter.media.call_recordings import (
    RecordingError,
    claim_due,
    describe,
    mark_start_failed,
    mark_started,
    note_stopped,
    set_paused,
    starts_due,
)
from callcenter.models import utcnow
from callcenter.services import Services
from callcenter.telephony.bridge import BridgeError, CallBridge
from callcenter.web.rooms import AGENT_NS, agent_room

log = logging.getLogger("callcenter.realtime")


class CallUpkeep:
    """Ends lost calls, recovers unanswered bridges and starts recordings, through the
    bridge (nothing to do without one); every change is announced through `publish`."""

    def __init__(
        self, socketio: SocketIO, services: Services, publish: Callable[[Changes], Any]
    ) -> None:
        self.socketio = socketio
        self.services = services
        self.publish = publish
        self.bridge: CallBridge | None = None

    def reconcile_calls(self) -> None:
        """Ask Twilio about the calls whose hang-up may have been lost and end those that
        are over (the dispatcher loop does this every RECONCILE_SECONDS): callers queued
        past max_wait, then a bounded few of the open calls quiet the longest."""
        self.reconcile_waiting_calls()
        self.reconcile_open_calls()

    def reconcile_waiting_calls(self) -> None:
        """Callers still queued past their queue's max_wait: ask Twilio whether their call
        is still going on, and end those whose hang-up never reached us."""
        if self.bridge is None:
            return
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            overdue = overdue_waiting_calls(session, self.services.settings, utcnow())
        for call_sid in overdue:
            self._check(call_sid, "waiting", None)

    def reconcile_open_calls(self) -> None:
        """Open calls not waiting (IVR, ringing, connected, on hold, consult, survey) that
        nothing was heard of for LOST_CALL_QUIET_SECONDS, at most LOST_CALL_CHECKS_PER_PASS
        per pass, quietest first: end those Twilio says are over, note the others."""
        if self.bridge is None:
            return
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            quiet = quiet_open_calls(session, utcnow())
        for call_sid, last_heard in quiet:
            status = self._check(call_sid, "open", last_heard)
            if status is not None and status not in FINAL_STATUSES:
                with self.services.database.session() as session:
                    note_still_up(session, call_sid, status)

    def _check(self, call_sid: str, what: str, last_heard: datetime | None) -> str | None:
        """Twilio's status of the call (None if it could not be asked); a final one ends
        the call as its status callback would have. An open call (`last_heard` given) ends
        when it most likely did (`lost_call_end`); a waiting caller, when found."""
        assert self.bridge is not None
        try:
            status, duration = self.bridge.call_status(call_sid)
        except BridgeError as exc:
            log.warning("could not check %s call %s: %s", what, call_sid, exc)
            return None
        if status not in FINAL_STATUSES:
            return status  # still on the line (a waiting caller's hold loop lets it go)
        log.warning("call %s ended (%s) without its hang-up reaching us", call_sid, status)
        with self.services.database.session() as session:
            now = utcnow()
            call = get_call(session, call_sid)
            if last_heard is not None and call is not None:
                now = lost_call_end(call.started_at, duration, last_heard, now)
            changes = end_lost_call(session, self.services.settings, call_sid, status,
                                    duration, now)  # fmt: skip
            # `call` is the row end_lost_call locked and changed (the session's one copy).
            agent_leg = unmet_agent_leg(call) if call is not None and changes.calls else None
        self.publish(changes)
        if agent_leg is not None:  # as the status callback: nobody is coming to that leg
            try:
                self.bridge.hang_up(agent_leg)
            except BridgeError as exc:
                if not exc.call_gone:
                    log.warning("could not hang up %s of %s: %s", agent_leg, call_sid, exc)
        return status

    def start_recordings(self) -> None:
        """Start the recordings asked for when callers met their agents (REST, with retries)."""
        if self.bridge is None:
            return
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            if not starts_due(session, utcnow()):
                return
        with self.services.database.session() as session:
            claims = claim_due(session, utcnow())
        for claim in claims:
            recording_id, call_sid = claim.id, claim.call_sid
            try:
                recording_sid = self.bridge.start_recording(claim.leg_sid, claim.channels, call_sid)
            except BridgeError as exc:
                log.warning("could not start recording %s: %s", call_sid, exc)
                with self.services.database.session() as session:
                    mark_start_failed(session, recording_id, str(exc), utcnow())
                continue
            with self.services.database.session() as session:
                recording = mark_started(session, recording_id, recording_sid, utcnow())
                agent_id = recording.agent_id if recording else None
                state = describe(recording) if recording else None
                call = get_call(session, call_sid)
                surveyed = call is not None and in_survey(call)
            if surveyed:  # the agent left while it was starting: the survey is not recorded
                if not self.pause_for_survey(call_sid, claim.leg_sid, recording_sid):
                    self.skip_survey(call_sid)
                continue
            if agent_id is not None and state is not None:
                self.socketio.emit("call:recording", {"call_sid": call_sid, **state},
                                   to=agent_room(agent_id), namespace=AGENT_NS)  # fmt: skip

    def skip_survey(self, call_sid: str) -> list[Action]:
        """Give up a caller's survey that would be recorded: none of their answers is stored;
        returns what they hear instead (the thanks, then the end of the call)."""
        with self.services.database.session() as session:
            call = get_call(session, call_sid)
            if call is None:
                return []
            return skip(session, self.services.settings, call,
                        "the recording could be neither paused nor stopped")  # fmt: skip

    def pause_for_survey(self, call_sid: str, leg_sid: str, recording_sid: str) -> bool:
        """Keep a caller's survey out of the call's recording: pause it through Twilio (once
        more if refused) and record the pause (reason ``survey``; it lasts until the call
        ends); if Twilio refuses twice, stop the recording (the agent's part is over).
        False when even the stop failed: the survey must then be skipped (the caller's
        answers would be recorded)."""
        if self.bridge is None:
            return False
        for attempt in (1, 2):
            try:
                self.bridge.pause_recording(leg_sid, recording_sid, True)
            except BridgeError as exc:
                log.warning("could not pause the recording of %s for its survey (attempt %d): "
                            "%s", call_sid, attempt, exc)  # fmt: skip
                continue
            try:
                with self.services.database.session() as session:
                    set_paused(session, call_sid, True, None, utcnow(), reason="survey")
            except RecordingError as exc:  # paused at Twilio all the same
                log.warning("pause of %s for its survey not recorded: %s", call_sid, exc)
            return True
        try:
            self.bridge.stop_recording(leg_sid, recording_sid)
        except BridgeError as exc:
            log.error("the recording of %s could be neither paused nor stopped: its survey "
                      "is skipped (%s)", call_sid, exc)  # fmt: skip
            return False
        with self.services.database.session() as session:
            note_stopped(session, call_sid, "survey")
        log.warning("the recording of %s was stopped for its survey (pause refused)", call_sid)
        return True

    def recover_unanswered_bridges(self) -> None:
        """Callers whose agent never picked up go back to the queue; the agent goes away.
        An agent's own outbound call has nobody waiting for it: its customer is hung up and
        the call ends (`requeue`)."""
        if self.bridge is None:
            return
        with self.services.database.read_session(LOCK_TIMEOUT) as session:
            stuck = [
                (call.call_sid, call.queue or "", call.language, (call.context or {}).get(
                    "caller_leg"), bool((call.context or {}).get("outbound")))
                for call in unanswered_bridges(session)
            ]  # fmt: skip
        for call_sid, queue, language, caller_leg, outbound in stuck:
            if outbound:
                self._end_unanswered_outbound(call_sid, caller_leg)
                continue
            gone = False
            try:
                self.bridge.to_queue(call_sid, queue, language, caller_leg)
            except BridgeError as exc:
                gone = exc.call_gone and caller_leg is None
                if not gone:
                    log.exception("could not move %s back to its queue; will retry", call_sid)
                    continue
            with self.services.database.session() as session:
                now = utcnow()
                changes = agent_missed_bridge(session, call_sid, now)
                if gone:  # the caller hung up meanwhile, unheard: nobody to put back
                    ended = end_lost_call(
                        session, self.services.settings, call_sid, "completed", None, now
                    )
                    changes.merge(ended)
            self.publish(changes)

    def _end_unanswered_outbound(self, call_sid: str, customer_leg: str | None) -> None:
        """The call ends (failed) first, then its customer is hung up: their leg's last
        callback then finds the call over."""
        assert self.bridge is not None
        with self.services.database.session() as session:
            changes = agent_missed_bridge(session, call_sid, utcnow())
        self.publish(changes)
        if customer_leg:
            try:
                self.bridge.hang_up(customer_leg)
            except BridgeError as exc:
                if not exc.call_gone:  # gone already: nothing to do
                    log.warning("could not hang up %s of %s: %s", customer_leg, call_sid, exc)
