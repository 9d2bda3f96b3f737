"""``Conferences/{Sid}/Participants``: list, dial in, fetch, hold/mute, remove."""

from __future__ import annotations

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
            "call_sid_to_coach": None,
            "coaching": False,
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

    @api.get(f"{base}/Conferences/<ref>/Participants.json")
    def list_participants(account: str, ref: str) -> Response:
        muted = request.args.get("Muted")
        hold = request.args.get("Hold")
        with board.lock:
            conference = board.find_conference(ref)
            if conference is None:
                return not_found()
            items = [
                participant_resource(p)
                for p in conference.participants.values()
                if (muted is None or str(p.muted).lower() == muted.lower())
                and (hold is None or str(p.hold).lower() == hold.lower())
            ]
            path = f"{prefix}/Conferences/{conference.sid}/Participants.json"
        return page("participants", path, items)

    @api.post(f"{base}/Conferences/<ref>/Participants.json")
    def create_participant(account: str, ref: str) -> tuple[Response, int]:
        from_ = address("From", 21213, 21212)
        to = address("To", 21201, 21211)
        for unsupported in ("Coaching", "CallSidToCoach"):
            if request.form.get(unsupported) not in (None, "", "false"):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
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
        if board.participant(ref, call_sid) is None:
            return not_found()
        for unsupported in ("AnnounceUrl", "CallSidToCoach"):
            if request.form.get(unsupported):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
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
