"""Check `X-Twilio-Signature` against the public URL Twilio called."""

from __future__ import annotations

from flask import Request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict


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


def signed_string(url: str, params: MultiDict[str, str]) -> str:
    """The exact text Twilio's signature covers: the URL, then each parameter's name and
    value joined with no separator, sorted, repeats dropped (as twilio's RequestValidator
    builds it). Requests with the same signed string are, for the signature, one request."""
    text = url
    for name in sorted(set(params)):
        for value in sorted(set(params.getlist(name))):
            text += name + value
    return text


def repeated_key(request: Request) -> str | None:
    """A parameter named twice in the query or the form (Twilio never does that), if any."""
    for params in (request.args, request.form):
        for name, values in params.lists():
            if len(values) > 1:
                return name
    return None
