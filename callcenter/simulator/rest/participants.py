"""``Conferences/{Sid}/Participants``: list, dial in, fetch, hold/mute, remove."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from callcenter.simulator.conferences import CONFERENCE_EVENTS, ConferenceOptions
from callcenter.simulator.leg.common import CALL_PROGRESS_EVENTS
from callcenter.simulator.rest.common import (
    _BadRequest,
    _date,
    address,
    form_bool,
    form_events,
    form_int,
    form_method,
    form_url,
    not_found,
    page,
)
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.conferences import Participant
    from callcenter.simulator.switchboard import Switchboard


_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


def add_participant_views(api: Blueprint, board: Switchboard, account_sid: str) -> None:
    """Add the Participants views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    def participant_resource(participant: Participant) -> dict[str, Any]:
        conference = participant.conference
        return {
            "account_sid": account_sid,
            "call_sid": participant.call_sid,
            "conference_sid": conference.sid,
            "label": participant.options.label,
            "call_sid_to_coach": participant.call_sid_to_coach,
            "coaching": participant.coaching,
            "date_created": _date(participant.date_created),
            "date_updated": _date(participant.date_updated),
            "end_conference_on_exit": participant.end_conference_on_exit,
            "start_conference_on_enter": participant.options.start_conference_on_enter,
            "muted": participant.muted,
            "hold": participant.hold,
            "status": participant.status,
            "queue_time": None,
            "uri": f"{prefix}/Conferences/{conference.sid}/Participants/"
            f"{participant.call_sid}.json",
        }

    def coaching(current: str | None) -> str | bool | None:
        """The coaching asked for by ``Coaching`` and ``CallSidToCoach`` (Twilio: coaching
        defaults to false unless CallSidToCoach is given; true needs CallSidToCoach, given
        now or before). False: not asked to change; None: stop coaching; else the SID."""
        flag = form_bool("Coaching")
        target = request.form.get("CallSidToCoach") or None
        if target is not None and not _CALL_SID.fullmatch(target):
            raise _BadRequest(20001, "CallSidToCoach must be a Call SID (CA...)")
        if flag is False:
            if target is not None:
                raise _BadRequest(20001, "CallSidToCoach is given but Coaching is false")
            return None
        if flag is True and target is None and current is None:
            raise _BadRequest(20001, "CallSidToCoach is required when Coaching is true")
        return target or (current if flag else False)

    def check_coaching(ref: str, call_sid: str | None, coach: str | bool | None) -> None:
        if not isinstance(coach, str):
            return
        conference = board.find_conference(ref)
        problem = (
            board.coaching_problem(conference, call_sid, coach)
            if conference is not None
            else (16028, "Participant to be whispered is not present in the conference")
        )
        if problem is not None:
            raise _BadRequest(*problem)

    @api.get(f"{base}/Conferences/<ref>/Participants.json")
    def list_participants(account: str, ref: str) -> Response:
        muted = request.args.get("Muted")
        hold = request.args.get("Hold")
        coaching_filter = request.args.get("Coaching")
        with board.lock:
            conference = board.find_conference(ref)
            if conference is None:
                return not_found()
            items = [
                participant_resource(p)
                for p in conference.participants.values()
                if (muted is None or str(p.muted).lower() == muted.lower())
                and (hold is None or str(p.hold).lower() == hold.lower())
                and (coaching_filter is None or str(p.coaching).lower() == coaching_filter.lower())
            ]
            path = f"{prefix}/Conferences/{conference.sid}/Participants.json"
        return page("participants", path, items)

    @api.post(f"{base}/Conferences/<ref>/Participants.json")
    def create_participant(account: str, ref: str) -> tuple[Response, int]:
        from_ = address("From", 21213, 21212)
        to = address("To", 21201, 21211)
        coach = coaching(None)
        check_coaching(ref, None, coach)
        conference_callback = form_url(board, "ConferenceStatusCallback", 21609)
        wait_url = request.form.get("WaitUrl")
        if wait_url:
            form_url(board, "WaitUrl")
        start = form_bool("StartConferenceOnEnter")
        end = form_bool("EndConferenceOnExit")
        muted = form_bool("Muted")
        options = ConferenceOptions(
            start_conference_on_enter=True if start is None else start,
            end_conference_on_exit=bool(end),
            muted=bool(muted),
            beep=request.form.get("Beep") or "true",
            wait_url=wait_url,
            wait_method=form_method("WaitMethod", "POST"),
            status_callback=conference_callback,
            status_callback_method=form_method("ConferenceStatusCallbackMethod", "POST"),
            status_callback_events=form_events("ConferenceStatusCallbackEvent", CONFERENCE_EVENTS)
            or (),
            label=request.form.get("Label") or None,
            call_sid_to_coach=coach if isinstance(coach, str) else None,
        )
        try:
            participant = board.add_participant(
                ref,
                from_=from_,
                to=to,
                options=options,
                status_callback=form_url(board, "StatusCallback", 21609),
                events=form_events("StatusCallbackEvent", CALL_PROGRESS_EVENTS),
                status_callback_method=form_method("StatusCallbackMethod", "POST"),
                timeout=form_int("Timeout", 30, 5, 600),
            )
        except LookupError:
            return not_found(), 404
        except ValueError as exc:
            raise _BadRequest(20001, str(exc)) from None
        except RuntimeError as exc:
            raise _BadRequest(20500, str(exc), status=503) from None
        with board.lock:
            return jsonify(participant_resource(participant)), 201

    @api.get(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def fetch_participant(account: str, ref: str, call_sid: str) -> Response:
        with board.lock:
            participant = board.participant(ref, call_sid)
            if participant is None:
                return not_found()
            return jsonify(participant_resource(participant))

    @api.post(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def update_participant(account: str, ref: str, call_sid: str) -> Response:
        current = board.participant(ref, call_sid)
        if current is None:
            return not_found()
        if request.form.get("AnnounceUrl"):
            raise _BadRequest(20001, "AnnounceUrl is not supported by the simulator")
        coach = coaching(current.call_sid_to_coach)
        check_coaching(ref, call_sid, coach)
        hold_url = form_url(board, "HoldUrl")
        participant = board.update_participant(
            ref,
            call_sid,
            hold=form_bool("Hold"),
            hold_url=hold_url,
            hold_method=form_method("HoldMethod", "GET")
            if request.form.get("HoldMethod")
            else None,
            muted=form_bool("Muted"),
            end_conference_on_exit=form_bool("EndConferenceOnExit"),
            coach=coach,
        )
        if participant is None:
            return not_found()
        with board.lock:
            return jsonify(participant_resource(participant))

    @api.delete(f"{base}/Conferences/<ref>/Participants/<call_sid>.json")
    def delete_participant(account: str, ref: str, call_sid: str) -> Response:
        if not board.kick(ref, call_sid):
            return not_found()
        return Response(status=204)
