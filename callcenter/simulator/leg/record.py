"""``<Record>``: a voicemail deposited in the simulator's recording store.

Part of :class:`SimulatedCall`.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from urllib.parse import urljoin

from callcenter.simulator.audio import wav_bytes
from callcenter.simulator.leg.common import Fetch, _CallOver, _HangupRequest, _int_attr, _Redirect
from callcenter.simulator.leg.events import Press, Speech, _secs
from callcenter.simulator.transports import API_VERSION, Exchange, TransportError

DEFAULT_FINISH_ON_KEYS_RECORD = "1234567890*#"


class RecordVerb:
    """Recording, storing it through the Recordings API, and the callbacks."""

    def _record(self, verb: ET.Element, doc_url: str) -> Fetch | None:
        max_length = _int_attr(verb, "maxLength", 3600)
        finish_on_key = verb.get("finishOnKey", DEFAULT_FINISH_ON_KEYS_RECORD)
        action = urljoin(doc_url, verb.get("action") or doc_url)
        method = verb.get("method", "POST").upper()
        beep = verb.get("playBeep", "true").lower() != "false"
        started = self._timestamp()
        self._event("recording", "", beep=beep, finish_on_key=finish_on_key, max_length=max_length)
        if self.interactive:
            live = self._record_live(finish_on_key, max_length)
            if isinstance(live, Fetch):
                return live
            seconds, finished = live
        else:
            seconds = (
                min(self.record_seconds, max_length) if max_length > 0 else self.record_seconds
            )
            self._advance(seconds)
            finished = "#" if "#" in finish_on_key else None
        duration = max(0, math.ceil(seconds))
        pressed_hash = finished is not None  # the call goes on (a key, or maxLength)
        digits = "hangup" if finished is None else finished
        sid = self._store_recording(duration)
        recording_url = f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"
        self.recordings.append(sid)
        if finished is None:
            ending = "caller hung up"
        else:
            ending = f"finished with {finished}" if finished else "maximum length reached"
        self._event(
            "record",
            f"{_secs(duration)} voicemail {sid} ({ending})",
            sid=sid,
            url=recording_url,
            duration=duration,
            digits=digits,
            beep=beep,
        )
        params = {
            "RecordingUrl": recording_url,
            "RecordingSid": sid,
            "RecordingDuration": str(duration),
            "Digits": digits,
        }
        callback = verb.get("recordingStatusCallback")

        def recording_status() -> None:
            if not callback:
                return
            self._notify(
                urljoin(doc_url, callback),
                verb.get("recordingStatusCallbackMethod", "POST"),
                {
                    "AccountSid": self.account_sid,
                    "CallSid": self.call_sid,
                    "RecordingSid": sid,
                    "RecordingUrl": recording_url,
                    "RecordingStatus": "completed",
                    "RecordingDuration": str(duration),
                    "RecordingChannels": "1",
                    "RecordingSource": "RecordVerb",
                    "RecordingStartTime": started,
                },
            )

        if not pressed_hash:
            # The caller hung up: Twilio still requests the action, but the call is over.
            self.caller_hung_up = True
            self.status = "completed"
            self._notify(action, method, {**self.call_params(), **params})
            recording_status()
            raise _CallOver(f"recorded voicemail {sid} (caller hung up)")
        return Fetch(action, method, params, after=recording_status)

    def _record_live(self, finish_on_key: str, max_length: int) -> tuple[float, str | None] | Fetch:
        """An interactive recording: (seconds, the key that ended it, ``""`` at maxLength,
        None if the call hung up), or the Fetch of a REST redirect that cut it short."""
        self._drop_input("typed before the beep")
        self._listening = frozenset({"dtmf", "speech"})
        start = self.clock
        limit = start + max_length if max_length > 0 else None
        try:
            while True:
                pending = self._take(in_queue=False, peek=True)
                if isinstance(pending, _Redirect):
                    self._take(in_queue=False)
                    return self._rest_redirect(pending)
                if isinstance(pending, _HangupRequest):
                    self._take(in_queue=False)
                    if pending.by != "caller":
                        self._event("hangup", pending.reason, by=pending.by)
                    return self.clock - start, None
                typed = self._next_input()
                item = typed.item if typed is not None else None
                if isinstance(item, Press):
                    self._event("input", item.keys, type="dtmf", recording=True)
                    for key in item.keys:
                        if finish_on_key and key in finish_on_key:
                            return self.clock - start, key
                elif isinstance(item, Speech):
                    self._event("input", item.text, type="speech", recording=True)
                elif limit is not None and self.clock >= limit:
                    return self.clock - start, ""
                else:
                    self._advance(limit - self.clock if limit is not None else 60, limit)
        finally:
            self._listening = None

    def _store_recording(self, duration: int) -> str:
        url = f"{self.api_url}/{API_VERSION}/Accounts/{self.account_sid}/Recordings.json"
        fields = {"CallSid": self.call_sid, "Duration": str(duration)}
        exchange = Exchange("POST", url, dict(fields), None, "api")
        self.exchanges.append(exchange)
        try:
            response = self.transport.request(
                "POST",
                url,
                fields,
                {"Accept": "application/json"},
                files={"media": ("recording.wav", wav_bytes(duration), "audio/x-wav")},
                auth=(self.account_sid, self.auth_token),
            )
        except TransportError as exc:
            raise self._app_error(f"could not store the recording: {exc}", url) from None
        exchange.status = response.status_code
        exchange.body = response.text
        sid = None
        if response.status_code == 201:
            try:
                sid = response.json().get("sid")
            except (ValueError, AttributeError):
                sid = None
        if not sid:
            raise self._app_error(
                f"could not store the recording (HTTP {response.status_code})", url
            )
        return str(sid)
