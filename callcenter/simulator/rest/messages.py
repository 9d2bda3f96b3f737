"""``Messages``: list, send, fetch, delete."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from callcenter.simulator.messages import MAX_MESSAGE_LENGTH, Message
from callcenter.simulator.rest.common import (
    _E164_RE,
    _SENDER_ID_RE,
    _BadRequest,
    _date,
    date_filter,
    form_url,
    not_found,
    page,
)
from callcenter.simulator.transports import API_VERSION

if TYPE_CHECKING:
    from callcenter.simulator.messages import Message
    from callcenter.simulator.switchboard import Switchboard


def add_message_views(api: Blueprint, board: Switchboard, account_sid: str) -> None:
    """Add the Messages views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"

    def message_resource(message: Message) -> dict[str, Any]:
        uri = f"{prefix}/Messages/{message.sid}"
        return {
            "sid": message.sid,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "messaging_service_sid": message.messaging_service_sid,
            "to": message.to,
            "from": message.from_,
            "body": message.body,
            "num_segments": str(message.num_segments),
            "num_media": str(len(message.media_urls)),
            "direction": message.direction,
            "status": message.status,
            "error_code": message.error_code,
            "error_message": message.error_message,
            "date_created": _date(message.date_created),
            "date_updated": _date(message.date_updated),
            "date_sent": _date(message.date_sent),
            "price": None,
            "price_unit": "USD",
            "uri": uri + ".json",
            "subresource_uris": {
                "media": uri + "/Media.json",
                "feedback": uri + "/Feedback.json",
            },
        }

    @api.get(f"{base}/Messages.json")
    def list_messages(account: str) -> Response:
        on = date_filter("DateSent")
        before, after = date_filter("DateSent<"), date_filter("DateSent>")

        def sent_within(message: Message) -> bool:
            sent = message.date_sent
            if on is None and before is None and after is None:
                return True
            return (
                sent is not None
                and (on is None or sent.date() == on.date())
                and (before is None or sent <= before)
                and (after is None or sent >= after)
            )

        with board.lock:
            found = board.messages(
                to=request.args.get("To") or None, from_=request.args.get("From") or None
            )
            items = [message_resource(m) for m in reversed(found) if sent_within(m)]
        return page("messages", f"{prefix}/Messages.json", items)

    @api.post(f"{base}/Messages.json")
    def create_message(account: str) -> tuple[Response, int]:
        form = request.form
        to = (form.get("To") or "").strip()
        if not to:
            raise _BadRequest(21604, "A 'To' phone number is required.")
        if not _E164_RE.fullmatch(to):
            raise _BadRequest(21211, f"The 'To' number {to} is not a valid phone number.")
        from_ = (form.get("From") or "").strip()
        service = (form.get("MessagingServiceSid") or "").strip()
        if not from_ and not service:
            raise _BadRequest(21603, "A 'From' phone number or a MessagingServiceSid is required.")
        if from_ and not (_E164_RE.fullmatch(from_) or _SENDER_ID_RE.fullmatch(from_)):
            raise _BadRequest(
                21606, f"The 'From' phone number {from_} is not a valid message-capable number."
            )
        if service and not re.fullmatch(r"MG[0-9a-fA-F]{32}", service):
            raise _BadRequest(21701, f"The Messaging Service {service} does not exist.")
        body = form.get("Body") or ""
        media = form.getlist("MediaUrl")
        for url in media:
            if urlsplit(url).scheme not in ("http", "https"):
                raise _BadRequest(21620, f"Invalid media URL: {url}")
        if not body and not media:
            raise _BadRequest(21602, "Message body is required.")
        if len(body) > MAX_MESSAGE_LENGTH:
            raise _BadRequest(
                21617,
                f"The concatenated message body exceeds the {MAX_MESSAGE_LENGTH} character limit.",
            )
        callback = form_url(board, "StatusCallback", 21609)
        with board.lock:
            try:
                message = board.send_message(
                    to,
                    body,
                    from_=from_ or None,
                    messaging_service_sid=service or None,
                    media_urls=media,
                    status_callback=callback,
                )
            except RuntimeError as exc:
                raise _BadRequest(20500, str(exc), status=503) from None
            return jsonify(message_resource(message)), 201

    @api.get(f"{base}/Messages/<sid>.json")
    def fetch_message(account: str, sid: str) -> Response:
        with board.lock:
            message = board.get_message(sid)
            return not_found() if message is None else jsonify(message_resource(message))

    @api.delete(f"{base}/Messages/<sid>.json")
    def delete_message(account: str, sid: str) -> Response:
        try:
            deleted = board.delete_message(sid)
        except ValueError:
            raise _BadRequest(20009, "Cannot delete a message that is being sent") from None
        return Response(status=204) if deleted else not_found()
