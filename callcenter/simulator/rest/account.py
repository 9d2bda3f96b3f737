"""The account's configuration: ``IncomingPhoneNumbers`` (list, fetch, update) and
``Applications`` (TwiML Apps: list, create, fetch, update), kept in memory.

The simulated account owns the numbers it is given; each starts with Twilio's demo Voice
URL, as a number fresh from the console does.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from callcenter.simulator.rest.common import _BadRequest, _date, form_method, not_found, page
from callcenter.simulator.transports import API_VERSION

DEMO_VOICE_URL = "https://demo.twilio.com/welcome/voice/"
"""The Voice URL of a number nobody has configured yet."""

_NUMBER_FIELDS = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
    "StatusCallback": "status_callback",
    "SmsUrl": "sms_url",
}
_APPLICATION_FIELDS = {
    "FriendlyName": "friendly_name",
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
    "StatusCallback": "status_callback",
    "SmsUrl": "sms_url",
}
_METHODS = {
    "VoiceMethod": "voice_method",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallbackMethod": "status_callback_method",
    "SmsMethod": "sms_method",
}
_URLS = ("VoiceUrl", "VoiceFallbackUrl", "StatusCallback", "SmsUrl")


def _now() -> datetime:
    return datetime.now(UTC)


def _apply_form(resource: dict[str, Any], fields: dict[str, str]) -> None:
    """Copy the given form fields onto a resource (URLs must be http(s); methods GET|POST)."""
    for name in _URLS:
        value = request.form.get(name)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise _BadRequest(21502, f"{name} is not a valid URL: {value}")
    for name, key in fields.items():
        if name in request.form:
            resource[key] = request.form[name]
    for name, key in _METHODS.items():
        if name in request.form:
            resource[key] = form_method(name, "POST")
    resource["date_updated"] = _now()


def add_account_views(api: Blueprint, account_sid: str, numbers: Sequence[str]) -> None:
    """Add the IncomingPhoneNumbers and Applications views to the switchboard API."""
    base = f"/{API_VERSION}/Accounts/<account>"
    prefix = f"/{API_VERSION}/Accounts/{account_sid}"
    lock = threading.Lock()
    created = _now()
    phone_numbers: dict[str, dict[str, Any]] = {}
    for number in numbers:
        sid = "PN" + secrets.token_hex(16)
        phone_numbers[sid] = {
            "sid": sid,
            "phone_number": number,
            "friendly_name": number,
            "voice_url": DEMO_VOICE_URL,
            "voice_method": "POST",
            "voice_fallback_url": None,
            "voice_fallback_method": "POST",
            "status_callback": "",
            "status_callback_method": "POST",
            "sms_url": "",
            "sms_method": "POST",
            "date_created": created,
            "date_updated": created,
        }
    applications: dict[str, dict[str, Any]] = {}

    def number_resource(item: dict[str, Any]) -> dict[str, Any]:
        return {
            **item,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "voice_application_sid": None,
            "voice_caller_id_lookup": False,
            "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
            "status": "in-use",
            "date_created": _date(item["date_created"]),
            "date_updated": _date(item["date_updated"]),
            "uri": f"{prefix}/IncomingPhoneNumbers/{item['sid']}.json",
        }

    def application_resource(item: dict[str, Any]) -> dict[str, Any]:
        return {
            **item,
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "voice_caller_id_lookup": False,
            "sms_status_callback": None,
            "message_status_callback": None,
            "public_application_connect_enabled": True,
            "date_created": _date(item["date_created"]),
            "date_updated": _date(item["date_updated"]),
            "uri": f"{prefix}/Applications/{item['sid']}.json",
        }

    @api.get(f"{base}/IncomingPhoneNumbers.json")
    def list_numbers(account: str) -> Response:
        wanted = request.args.get("PhoneNumber") or request.args.get("FriendlyName")
        with lock:
            items = [
                number_resource(item)
                for item in phone_numbers.values()
                if not wanted or wanted in (item["phone_number"], item["friendly_name"])
            ]
        return page("incoming_phone_numbers", f"{prefix}/IncomingPhoneNumbers.json", items)

    @api.get(f"{base}/IncomingPhoneNumbers/<sid>.json")
    def fetch_number(account: str, sid: str) -> Response:
        with lock:
            item = phone_numbers.get(sid)
            return not_found() if item is None else jsonify(number_resource(item))

    @api.post(f"{base}/IncomingPhoneNumbers/<sid>.json")
    def update_number(account: str, sid: str) -> Response:
        with lock:
            item = phone_numbers.get(sid)
            if item is None:
                return not_found()
            _apply_form(item, _NUMBER_FIELDS)
            return jsonify(number_resource(item))

    @api.get(f"{base}/Applications.json")
    def list_applications(account: str) -> Response:
        wanted = request.args.get("FriendlyName")
        with lock:
            items = [
                application_resource(item)
                for item in applications.values()
                if not wanted or item["friendly_name"] == wanted
            ]
        return page("applications", f"{prefix}/Applications.json", items)

    @api.post(f"{base}/Applications.json")
    def create_application(account: str) -> tuple[Response, int]:
        sid = "AP" + secrets.token_hex(16)
        item: dict[str, Any] = {
            "sid": sid,
            "friendly_name": sid,
            "voice_url": None,
            "voice_method": "POST",
            "voice_fallback_url": None,
            "voice_fallback_method": "POST",
            "status_callback": None,
            "status_callback_method": "POST",
            "sms_url": None,
            "sms_method": "POST",
            "date_created": _now(),
        }
        _apply_form(item, _APPLICATION_FIELDS)
        with lock:
            applications[sid] = item
            return jsonify(application_resource(item)), 201

    @api.get(f"{base}/Applications/<sid>.json")
    def fetch_application(account: str, sid: str) -> Response:
        with lock:
            item = applications.get(sid)
            return not_found() if item is None else jsonify(application_resource(item))

    @api.post(f"{base}/Applications/<sid>.json")
    def update_application(account: str, sid: str) -> Response:
        with lock:
            item = applications.get(sid)
            if item is None:
                return not_found()
            _apply_form(item, _APPLICATION_FIELDS)
            return jsonify(application_resource(item))
