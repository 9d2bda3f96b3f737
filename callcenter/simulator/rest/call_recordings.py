"""``Calls/{CallSid}/Recordings``: list, start, fetch, pause/resume/stop, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request

from callcenter.simulator.call_recordings import (
    CURRENT_RECORDING,
    RECORDING_EVENTS,
    RECORDING_SOURCE,
    RECORDING_TRACKS,
)
from callcenter.simulator.rest.common import (
    _BadRequest,
    _date,
    form_events,
    form_method,
    form_url,
    not_found,
    page,
)
from callcenter.simulator.rest.recordings import store_of
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.call_recordings import CallRecording
    from callcenter.simulator.switchboard import Switchboard


def add_call_recording_views(api: Blueprint, board: Switchboard, account_sid: str) -> None:
    """Add the call Recordings views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    def recording_resource(recording: CallRecording) -> dict[str, Any]:
        return {
            "sid": recording.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "call_sid": recording.call_sid,
            "conference_sid": None,
            "date_created": _date(recording.date_created),
            "date_updated": _date(recording.date_updated),
            "start_time": _date(recording.date_created),
            "duration": None if recording.duration is None else str(recording.duration),
            "channels": recording.channels,
            "source": RECORDING_SOURCE,
            "status": recording.status,
            "error_code": recording.error_code,
            "track": recording.track,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "uri": f"{prefix}/Calls/{recording.call_sid}/Recordings/{recording.sid}.json",
        }

    @api.get(f"{base}/Calls/<sid>/Recordings.json")
    def list_call_recordings(account: str, sid: str) -> Response:
        if board.get_call(sid) is None:
            return not_found()
        with board.lock:
            items = [recording_resource(r) for r in reversed(board.call_recordings(sid))]
        return page("recordings", f"{prefix}/Calls/{sid}/Recordings.json", items)

    @api.post(f"{base}/Calls/<sid>/Recordings.json")
    def create_call_recording(account: str, sid: str) -> tuple[Response, int]:
        channels = request.form.get("RecordingChannels") or "mono"
        if channels not in ("mono", "dual"):
            raise _BadRequest(20001, f"RecordingChannels must be mono or dual, not {channels}")
        track = request.form.get("RecordingTrack") or "both"
        if track not in RECORDING_TRACKS:
            raise _BadRequest(20001, "RecordingTrack must be inbound, outbound or both")
        trim = request.form.get("Trim") or "do-not-trim"
        if trim not in ("trim-silence", "do-not-trim"):
            raise _BadRequest(20001, "Trim must be trim-silence or do-not-trim")
        callback = form_url(board, "RecordingStatusCallback", 21609)
        events = form_events("RecordingStatusCallbackEvent", RECORDING_EVENTS)
        store = board.recordings or store_of(current_app)
        if store is None:
            raise _BadRequest(20500, "the simulator has no recording store", status=503)
        with board.lock:
            try:
                recording = board.start_recording(
                    sid,
                    store=store,
                    channels=2 if channels == "dual" else 1,
                    track=track,
                    trim=trim == "trim-silence",
                    status_callback=callback,
                    status_callback_method=form_method("RecordingStatusCallbackMethod", "POST"),
                    events=events,
                )
            except LookupError:
                return not_found(), 404
            except RuntimeError as exc:
                raise _BadRequest(20500, str(exc), status=503) from None
            return jsonify(recording_resource(recording)), 201

    @api.get(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def fetch_call_recording(account: str, sid: str, ref: str) -> Response:
        with board.lock:
            recording = board.find_recording(sid, ref) if ref != CURRENT_RECORDING else None
            return not_found() if recording is None else jsonify(recording_resource(recording))

    @api.post(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def update_call_recording(account: str, sid: str, ref: str) -> Response:
        status = request.form.get("Status")
        if not status:
            raise _BadRequest(20001, "Status is required: paused, in-progress or stopped")
        if board.take_refusal(status):
            raise _BadRequest(20500, f"Injected failure: cannot set {status} now", status=503)
        with board.lock:
            try:
                recording = board.update_recording(
                    sid, ref, status, request.form.get("PauseBehavior") or None
                )
            except ValueError as exc:
                raise _BadRequest(20001, str(exc)) from None
            return not_found() if recording is None else jsonify(recording_resource(recording))

    @api.delete(f"{base}/Calls/<sid>/Recordings/<ref>.json")
    def delete_call_recording(account: str, sid: str, ref: str) -> Response:
        try:
            deleted = board.delete_recording(sid, ref)
        except ValueError as exc:
            raise _BadRequest(20001, f"Cannot delete a recording in progress: {exc}") from None
        return Response(status=204) if deleted else not_found()
