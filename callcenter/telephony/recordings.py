"""Twilio's copies of recordings, through the REST API: deleting one (an erased person's).

>>> remote = TwilioRecordings(rest_client(account_sid, auth_token, api_url, timeout=30))
>>> RemoteDeleter(database.sessions, remote.delete, settings.downloads)
"""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

log = logging.getLogger("callcenter.recordings")


class RecordingDeleteError(Exception):
    """Twilio refused the deletion or could not be reached (the message says which)."""


class TwilioRecordings:
    """The Recordings resource of the account."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def delete(self, recording_sid: str) -> None:
        """Delete a recording; returns once it is gone (already gone: 404 counts)."""
        try:
            self.client.recordings(recording_sid).delete()
        except TwilioRestException as exc:
            if exc.status == 404:
                return
            raise RecordingDeleteError(f"Twilio answered HTTP {exc.status} ({exc.code})") from exc
        except (TwilioException, OSError) as exc:  # requests' errors are OSErrors
            raise RecordingDeleteError(
                f"Twilio could not be reached: {type(exc).__name__}"
            ) from exc
