"""Point the Twilio account at the application: each number's Voice URL and status
callback, and the softphone's TwiML App (`callcenter twilio setup`).

Everything is looked up before anything is changed, so a number missing from the account
changes nothing at all. Each field is reported as a :class:`Change`, changed or not.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

SOFTPHONE_APP_NAME = "callcenter softphone"
"""The friendly name of the TwiML App found or created when TWILIO_TWIML_APP_SID is unset."""


class SetupError(Exception):
    """Something the account or the settings do not allow; nothing was changed."""


@dataclass(frozen=True)
class Change:
    """One field of one resource: what it was and what it should be."""

    what: str
    old: str | None
    new: str

    @property
    def changed(self) -> bool:
        return (self.old or "") != self.new

    def line(self) -> str:
        """`what: old -> new`, or `what: new (unchanged)`."""
        if not self.changed:
            return f"{self.what}: {self.new} (unchanged)"
        return f"{self.what}: {self.old or '(none)'} -> {self.new}"


@dataclass
class SetupReport:
    """What setup found and did."""

    changes: list[Change]
    app_sid: str | None = None
    app_created: bool = False


def is_twilio(api_url: str) -> bool:
    """Whether the REST API is Twilio's own (not the simulator)."""
    host = (urlsplit(api_url).hostname or "").lower()
    return host == "twilio.com" or host.endswith(".twilio.com")


def check_reachable(public_url: str) -> None:
    """Refuse a public URL Twilio cannot call: plain http, or a loopback or private host."""
    parts = urlsplit(public_url)
    host = (parts.hostname or "").lower()
    try:
        address = ipaddress.ip_address(host)
        internal = address.is_loopback or address.is_private or address.is_link_local
    except ValueError:
        internal = host == "localhost" or host.endswith(".localhost")
    if parts.scheme != "https" or internal:
        raise SetupError(
            f"CALLCENTER_PUBLIC_URL {public_url} cannot be reached by Twilio: "
            "it must be an https:// URL on a public host"
        )


def _fields(resource: Any, wanted: dict[str, str], label: str) -> list[Change]:
    return [
        Change(f"{label} {key}", getattr(resource, key), value) for key, value in wanted.items()
    ]


def _find_numbers(client: Client, numbers: tuple[str, ...]) -> list[Any]:
    found = []
    for number in numbers:
        # Twilio matches PhoneNumber partially: keep the exact number only.
        matches = [
            item
            for item in client.incoming_phone_numbers.list(phone_number=number)
            if item.phone_number == number
        ]
        if not matches:
            raise SetupError(f"the number {number} is not a phone number of the account")
        found.append(matches[0])
    return found


def _find_app(client: Client, app_sid: str) -> Any | None:
    if app_sid:
        try:
            return client.applications(app_sid).fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                raise SetupError(
                    f"TWILIO_TWIML_APP_SID {app_sid} is not a TwiML App of the account"
                ) from None
            raise
    apps = client.applications.list(friendly_name=SOFTPHONE_APP_NAME)
    return next((app for app in apps if app.friendly_name == SOFTPHONE_APP_NAME), None)


def configure_account(
    client: Client,
    public_url: str,
    numbers: tuple[str, ...],
    app_sid: str = "",
    *,
    dry_run: bool = False,
) -> SetupReport:
    """Set each number's Voice URL and status callback and the softphone TwiML App's Voice
    URL under `public_url`; with `dry_run`, only say what would change."""
    number_fields = {
        "voice_url": f"{public_url}/twilio/voice",
        "voice_method": "POST",
        "status_callback": f"{public_url}/twilio/status",
        "status_callback_method": "POST",
    }
    app_fields = {"voice_url": f"{public_url}/twilio/client/outgoing", "voice_method": "POST"}
    found = _find_numbers(client, numbers)
    app = _find_app(client, app_sid)
    report = SetupReport(changes=[])
    for item in found:
        changes = _fields(item, number_fields, item.phone_number)
        report.changes += changes
        if not dry_run and any(change.changed for change in changes):
            client.incoming_phone_numbers(item.sid).update(**number_fields)
    if app is None:
        report.changes += [
            Change(f"TwiML App {key}", None, value)
            for key, value in {"friendly_name": SOFTPHONE_APP_NAME, **app_fields}.items()
        ]
        report.app_created = True
        if not dry_run:
            app = client.applications.create(friendly_name=SOFTPHONE_APP_NAME, **app_fields)
            report.app_sid = app.sid
        return report
    report.app_sid = app.sid
    changes = _fields(app, app_fields, "TwiML App")
    report.changes += changes
    if not dry_run and any(change.changed for change in changes):
        client.applications(app.sid).update(**app_fields)
    return report
