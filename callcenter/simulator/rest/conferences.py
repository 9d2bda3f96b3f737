"""``Conferences``: list, fetch, end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from callcenter.simulator.rest.common import _BadRequest, _date, not_found, page
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.conferences import Conference
    from callcenter.simulator.switchboard import Switchboard


def add_conference_views(api: Blueprint, board: Switchboard, account_sid: str) -> None:
    """Add the Conferences views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    def conference_resource(conference: Conference) -> dict[str, Any]:
        uri = f"{prefix}/Conferences/{conference.sid}"
        return {
            "sid": conference.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "friendly_name": conference.friendly_name,
            "region": "us1",
            "status": conference.status,
            "date_created": _date(conference.date_created),
            "date_updated": _date(conference.date_updated),
            "reason_conference_ended": conference.reason_ended,
            "call_sid_ending_conference": conference.call_sid_ending,
            "uri": uri + ".json",
            "subresource_uris": {
                "participants": uri + "/Participants.json",
                "recordings": uri + "/Recordings.json",
            },
        }

    @api.get(f"{base}/Conferences.json")
    def list_conferences(account: str) -> Response:
        found = board.conferences(
            friendly_name=request.args.get("FriendlyName") or None,
            status=request.args.get("Status") or None,
        )
        with board.lock:
            items = [conference_resource(c) for c in found]
        return page("conferences", f"{prefix}/Conferences.json", items)

    @api.get(f"{base}/Conferences/<ref>.json")
    def fetch_conference(account: str, ref: str) -> Response:
        with board.lock:
            conference = board.find_conference(ref)
            if conference is None:
                return not_found()
            return jsonify(conference_resource(conference))

    @api.post(f"{base}/Conferences/<ref>.json")
    def update_conference(account: str, ref: str) -> Response:
        if board.find_conference(ref) is None:
            return not_found()
        for unsupported in ("AnnounceUrl",):
            if request.form.get(unsupported):
                raise _BadRequest(20001, f"{unsupported} is not supported by the simulator")
        status = request.form.get("Status")
        if status:
            if status != "completed":
                raise _BadRequest(20001, f"Status must be completed, not {status}")
            board.end_conference(ref)
        with board.lock:
            conference = board.find_conference(ref)
            assert conference is not None
            return jsonify(conference_resource(conference))
