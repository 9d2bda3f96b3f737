"""``Calls``: list, dial, fetch, update (redirect, inline TwiML, hang up), delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from callcenter.simulator.common import _now
from callcenter.simulator.leg.common import CALL_PROGRESS_EVENTS
from callcenter.simulator.rest.common import (
    FINAL_STATUSES,
    _BadRequest,
    _date,
    address,
    form_events,
    form_int,
    form_method,
    form_twiml,
    form_url,
    not_found,
    page,
)
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.leg.call import SimulatedCall
    from callcenter.simulator.switchboard import Switchboard


def add_call_views(api: Blueprint, board: Switchboard, account_sid: str) -> None:
    """Add the Calls views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    def call_resource(call: SimulatedCall) -> dict[str, Any]:
        uri = f"{prefix}/Calls/{call.call_sid}"
        result = call.result
        created = call.start_time
        return {
            "sid": call.call_sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "date_created": _date(created),
            "date_updated": _date(call.ended_at or _now()),
            "parent_call_sid": call.parent_call_sid,
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from_,
            "from_formatted": call.from_,
            "phone_number_sid": None,
            "status": call.status,
            "start_time": _date(call.answered_time),
            "end_time": _date(call.ended_at),
            "duration": str(result.duration) if result is not None else None,
            "price": None,
            "price_unit": "USD",
            "direction": call.direction,
            "answered_by": None,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": uri + ".json",
            "subresource_uris": {
                "notifications": uri + "/Notifications.json",
                "recordings": uri + "/Recordings.json",
                "events": uri + "/Events.json",
            },
        }

    @api.get(f"{base}/Calls.json")
    def list_calls(account: str) -> Response:
        args = request.args
        calls = [
            call
            for call in reversed(board.calls())
            if (not args.get("To") or call.to == args["To"])
            and (not args.get("From") or call.from_ == args["From"])
            and (not args.get("Status") or call.status == args["Status"])
            and (not args.get("ParentCallSid") or call.parent_call_sid == args["ParentCallSid"])
        ]
        return page("calls", f"{prefix}/Calls.json", [call_resource(c) for c in calls])

    @api.post(f"{base}/Calls.json")
    def create_call(account: str) -> tuple[Response, int]:
        to = address("To", 21201, 21211)
        from_ = address("From", 21213, 21212)
        if request.form.get("ApplicationSid"):
            raise _BadRequest(20001, "ApplicationSid is not supported by the simulator")
        url = form_url(board, "Url")
        twiml = form_twiml()
        if url is None and twiml is None:
            raise _BadRequest(21205, "A 'Url' or 'Twiml' parameter is required")
        method = form_method("Method", "POST")
        status_callback = form_url(board, "StatusCallback", 21609)
        events = form_events("StatusCallbackEvent", CALL_PROGRESS_EVENTS)
        try:
            call = board.prepare_outbound(
                to,
                from_,
                url if twiml is None else None,
                method,
                status_callback,
                events,
                status_callback_method=form_method("StatusCallbackMethod", "POST"),
                twiml=twiml,
                timeout=form_int("Timeout", 60, 1, 600),
            )
        except RuntimeError as exc:
            raise _BadRequest(20500, str(exc), status=503) from None
        resource = call_resource(call)
        board.start(call)
        return jsonify(resource), 201

    @api.get(f"{base}/Calls/<sid>.json")
    def fetch_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        return not_found() if call is None else jsonify(call_resource(call))

    @api.post(f"{base}/Calls/<sid>.json")
    def update_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        if call is None:
            return not_found()
        over = call.done.is_set() or call.status in FINAL_STATUSES
        status = request.form.get("Status")
        if status:
            if status not in ("completed", "canceled"):
                raise _BadRequest(20001, f"Status must be completed or canceled, not {status}")
            resource = call_resource(call)
            answered = call.answered_time is not None
            if not over and (status == "completed" or not answered):
                call.hangup("hung up via REST" if answered else "canceled via REST")
                resource["status"] = "completed" if answered else "canceled"
            return jsonify(resource)
        url = form_url(board, "Url")
        twiml = form_twiml()
        if url is None and twiml is None:
            return jsonify(call_resource(call))  # e.g. only a StatusCallback: nothing to do
        if over:
            raise _BadRequest(21220, "Call is not in-progress. Cannot redirect.")
        if twiml is not None:
            call.run_twiml(twiml)
        else:
            assert url is not None
            call.redirect(url, form_method("Method", "POST"))
        return jsonify(call_resource(call))

    @api.delete(f"{base}/Calls/<sid>.json")
    def delete_call(account: str, sid: str) -> Response:
        call = board.get_call(sid)
        if call is None:
            return not_found()
        if not call.done.is_set():
            raise _BadRequest(20009, "Cannot delete a call that is in progress")
        board.unregister(sid)
        return Response(status=204)
