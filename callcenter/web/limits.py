"""Bounds on what any request may carry, and the headers every answer gets.

- Ids in URLs (`<id:voicemail_id>`) and in JSON bodies are positive 64-bit integers: a
  larger number is not an id of ours (404 in a URL, 400 in a body) rather than an overflow
  in the database driver.
- JSON bodies are at most `MAX_JSON_BYTES` and `MAX_JSON_DEPTH` levels deep; anything else
  is refused by every JSON reader of the app (`request.get_json`) as malformed, never with a
  RecursionError and its traceback.
- Every response carries `X-Content-Type-Options: nosniff` and a Content-Security-Policy
  (routes that need another policy set their own).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1  # the largest BIGINT of SQLite and PostgreSQL
MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32

CONSOLE_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SOFTPHONE_CSP = (
    "default-src 'self'; connect-src 'self' ws: wss: https://*.twilio.com wss://*.twilio.com; "
    "media-src 'self' blob: https://*.twilio.com; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
"""The agent console with Twilio's Voice SDK: its signalling, media and ringtones come from
Twilio (the SDK's own hosts), everything else from here."""


class IdConverter(IntegerConverter):
    """`<id:name>`: a database id, 1 to 2^63-1; anything else does not match (404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def is_id(value: object) -> bool:
    """Whether a JSON value is a database id (an int, not a bool, 1 to 2^63-1)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


class JsonRefused(ValueError):
    """A JSON body that is too large or too deep to read."""


def json_depth(value: object) -> int:
    """How deeply arrays and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(text: str | bytes) -> Any:
    """`json.loads`, refusing (JsonRefused) bodies over the size or depth limit."""
    if len(text) > MAX_JSON_BYTES:
        raise JsonRefused(f"the JSON body is larger than {MAX_JSON_BYTES} bytes")
    try:
        value = json.loads(text)
    except RecursionError:
        value = None
        deep = True
    else:
        deep = json_depth(value) > MAX_JSON_DEPTH
    if deep:
        raise JsonRefused(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, with request bodies read through :func:`load_json`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return load_json(s)


def from_own_page() -> bool:
    """Whether the browser says this request was made by one of our own pages.

    Reads that leave a trace (knowledge-base lookups, recording playbacks) are recorded
    only then: a link on another site, opened in a logged-in browser, carries the session
    cookie (SameSite=Lax) but `Sec-Fetch-Site: cross-site`, and records nothing.
    """
    return request.headers.get("Sec-Fetch-Site") == "same-origin"


def _cap_json_bodies() -> None:
    """A JSON body over the limit is not even read into memory."""
    if request.is_json:
        request.max_content_length = MAX_JSON_BYTES


def baseline_headers(response: Response) -> Response:
    """What every answer carries (a blueprint's own policy, set earlier, wins)."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _unknown_id_is_not_found() -> None:
    """A URL whose id no row can have is 404 for every method: werkzeug checks methods
    before converters, so without this it answers 405 to the methods of the other rules."""
    refused = request.routing_exception
    if not isinstance(refused, MethodNotAllowed):
        return
    allowed = [m for m in refused.valid_methods or () if m not in ("HEAD", "OPTIONS")]
    if not allowed:
        return
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        adapter.match(method=allowed[0])
    except NotFound:
        request.routing_exception = NotFound()
    except Exception:  # a redirect or another answer: the 405 stands
        return


def init_app(app: Flask) -> None:
    """Install the id converter, the bounded JSON reader and the baseline headers."""
    app.url_map.converters["id"] = IdConverter
    app.json = BoundedJSONProvider(app)
    app.before_request(_unknown_id_is_not_found)
    app.before_request(_cap_json_bodies)
    app.after_request(baseline_headers)
