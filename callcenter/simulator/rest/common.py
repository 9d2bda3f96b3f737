"""What the simulator's REST views share: Twilio's authentication and errors, form fields, pages."""

from __future__ import annotations

import hmac
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response, jsonify, request

from callcenter.simulator.common import _split_events
from callcenter.simulator.transports import is_under

if TYPE_CHECKING:
    from callcenter.simulator.board import Board


FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_ADDRESS_RE = re.compile(r"^(?:\+[1-9][0-9]{3,16}|client:[A-Za-z0-9_.@-]{1,256}|sips?:\S+)$")
_E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
_SENDER_ID_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")


class _BadRequest(Exception):
    def __init__(self, code: int, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _date(value: datetime | None) -> str | None:
    return format_datetime(value) if value is not None else None


def twilio_error(status: int, code: int, message: str) -> Response:
    """A JSON error shaped like Twilio's."""
    response = jsonify(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )
    response.status_code = status
    return response


def check_api_auth(account_sid: str, auth_token: str) -> Response | None:
    """Twilio's REST authentication: HTTP basic with the account SID and auth token, and
    the account in the path must be that account. None when the request may proceed."""
    auth = request.authorization
    ok = (
        auth is not None
        and auth.type == "basic"
        and hmac.compare_digest((auth.username or "").encode(), account_sid.encode())
        and hmac.compare_digest((auth.password or "").encode(), auth_token.encode())
    )
    if not ok:
        response = twilio_error(401, 20003, "Authenticate")
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    if (request.view_args or {}).get("account") != account_sid:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
    return None


def not_found() -> Response:
    return twilio_error(404, 20404, f"The requested resource {request.path} was not found")


def form_bool(name: str) -> bool | None:
    value = request.form.get(name)
    if value is None or value == "":
        return None
    if value.lower() not in ("true", "false"):
        raise _BadRequest(20001, f"{name} must be true or false")
    return value.lower() == "true"


def form_method(name: str, default: str) -> str:
    value = (request.form.get(name) or default).upper()
    if value not in ("GET", "POST"):
        raise _BadRequest(20001, f"{name} must be GET or POST")
    return value


def form_url(board: Board, name: str, code: int = 21205) -> str | None:
    """A URL field, which must be under the simulator's public URL (None if absent)."""
    value = request.form.get(name)
    if not value:
        return None
    if not is_under(board.public_url, value):
        raise _BadRequest(
            code,
            f"{name} {value} is not under the simulator's public URL {board.public_url}",
        )
    return value


def form_int(name: str, default: int, low: int, high: int) -> int:
    value = request.form.get(name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _BadRequest(20001, f"{name} must be a whole number") from None
    return min(max(number, low), high)


def form_events(name: str, allowed: Sequence[str]) -> tuple[str, ...] | None:
    values = request.form.getlist(name)
    if not values:
        return None
    events = _split_events(values)
    unknown = [event for event in events if event not in allowed]
    if unknown:
        raise _BadRequest(20001, f"{name}: unknown events {', '.join(unknown)}")
    return events


def form_twiml() -> str | None:
    twiml = request.form.get("Twiml")
    if twiml is None:
        return None
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        raise _BadRequest(12100, "Document parse failure: Twiml is not XML") from None
    if root.tag != "Response":
        raise _BadRequest(12100, "Document parse failure: the root must be <Response>")
    return twiml


def address(name: str, missing_code: int, invalid_code: int) -> str:
    value = (request.form.get(name) or "").strip()
    if not value:
        raise _BadRequest(missing_code, f"No '{name}' number is specified")
    if not _ADDRESS_RE.fullmatch(value):
        raise _BadRequest(invalid_code, f"The '{name}' number {value} is not valid")
    return value


def page(key: str, path: str, items: list[dict[str, Any]]) -> Response:
    try:
        size = max(1, min(1000, int(request.args.get("PageSize", 50))))
        number = max(0, int(request.args.get("Page", 0)))
    except ValueError:
        raise _BadRequest(20001, "Page and PageSize must be whole numbers") from None
    filters = [(k, v) for k, v in request.args.items(multi=True) if k not in ("Page", "PageSize")]

    def uri(n: int) -> str:
        return f"{path}?{urlencode([*filters, ('PageSize', size), ('Page', n)])}"

    chunk = items[number * size : (number + 1) * size]
    start = number * size
    return jsonify(
        {
            key: chunk,
            "first_page_uri": uri(0),
            "next_page_uri": uri(number + 1) if start + size < len(items) else None,
            "previous_page_uri": uri(number - 1) if number > 0 else None,
            "page": number,
            "page_size": size,
            "start": start,
            "end": start + max(len(chunk) - 1, 0),
            "uri": uri(number),
        }
    )


def date_filter(name: str) -> datetime | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest(20001, f"{name} must be a date (YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
