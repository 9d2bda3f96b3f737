"""Access Tokens for the browser softphone (Twilio's Voice JavaScript SDK).

A token lets one agent's browser register as `client:<username>` (incoming calls: the
bridge's ring) and place calls through the TwiML App (outgoing). It is signed with an API
key (`TWILIO_API_KEY`, `TWILIO_API_SECRET`) and names the TwiML App
(`TWILIO_TWIML_APP_SID`). In simulator mode the simulator's own credentials sign it, and
the simulator checks it when the console's softphone registers there.

>>> issued = voice_token(settings, "amy")
>>> issued.token, issued.mode
('eyJ...', 'twilio')
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

from callcenter.config import Settings

TOKEN_TTL_SECONDS = 3600
"""How long a token lasts; the console asks for a fresh one before it expires."""
SIMULATOR_KEY_SID = "SK" + "0" * 32
SIMULATOR_APP_SID = "AP" + "0" * 32
"""What the simulator's tokens name as their key and TwiML App (it has neither)."""


class VoiceTokenUnavailable(Exception):
    """The softphone cannot get a token: its settings are missing (the message says which)."""


@dataclass(frozen=True)
class VoiceToken:
    token: str
    identity: str
    mode: str
    """"twilio" (the browser uses the Voice SDK) or "simulator" (the simulator's softphone)."""
    ttl: int
    expires_at: int
    """Seconds since the epoch."""


def voice_token(settings: Settings, identity: str, ttl: int = TOKEN_TTL_SECONDS) -> VoiceToken:
    """A signed Access Token for `identity`; raises VoiceTokenUnavailable when Twilio is
    configured but the softphone's API key or TwiML App is not."""
    if settings.simulator:
        mode = "simulator"
        key = settings.twilio_api_key or SIMULATOR_KEY_SID
        secret = settings.twilio_auth_token
        app_sid = settings.twilio_twiml_app_sid or SIMULATOR_APP_SID
    else:
        missing = [
            name
            for name, value in (
                ("TWILIO_API_KEY", settings.twilio_api_key),
                ("TWILIO_API_SECRET", settings.twilio_api_secret),
                ("TWILIO_TWIML_APP_SID", settings.twilio_twiml_app_sid),
            )
            if not value
        ]
        if missing:
            raise VoiceTokenUnavailable(
                "the browser softphone is not configured: set "
                + ", ".join(missing)
                + " (see docs/deployment.md), or take calls on a phone"
            )
        mode = "twilio"
        key, secret, app_sid = (
            settings.twilio_api_key,
            settings.twilio_api_secret,
            settings.twilio_twiml_app_sid,
        )
    expires_at = int(time.time()) + ttl
    token = AccessToken(
        settings.twilio_account_sid,
        key,
        secret,
        identity=identity,
        ttl=ttl,
        valid_until=expires_at,
        grants=[VoiceGrant(incoming_allow=True, outgoing_application_sid=app_sid)],
    )
    return VoiceToken(
        token=token.to_jwt(), identity=identity, mode=mode, ttl=ttl, expires_at=expires_at
    )
