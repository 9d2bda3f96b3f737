"""Check `X-Twilio-Signature` against the public URL Twilio called."""

from __future__ import annotations

from flask import Request
from twilio.request_validator import RequestValidator


def public_request_url(public_url: str, request: Request) -> str:
    """The URL Twilio signed: the public base URL, the path, and the query string as sent."""
    query = request.query_string.decode("latin-1")
    return f"{public_url}{request.path}" + (f"?{query}" if query else "")


def has_valid_signature(validator: RequestValidator, public_url: str, request: Request) -> bool:
    """True when the request carries a signature Twilio made with our auth token."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    params = request.form if request.method == "POST" else {}
    return bool(validator.validate(public_request_url(public_url, request), params, signature))
