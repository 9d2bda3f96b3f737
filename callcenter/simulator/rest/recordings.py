"""The Recordings API of the simulator's recording store (:mod:`callcenter.simulator.recordings`).

>>> app.register_blueprint(create_simulator_api(store, account_sid, token), url_prefix="/simulator")
>>> store_of(app) is store  # how the switchboard's call recordings find the store
True
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, url_for

from callcenter.simulator.audio import wav_info
from callcenter.simulator.recordings import SID_RE, RecordingStore, corrupt
from callcenter.simulator.rest.common import check_api_auth, twilio_error
from callcenter.simulator.transports import API_VERSION

CALL_SID_RE = re.compile(r"^[A-Za-z0-9]{2,64}$")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
WAV_CONTENT_TYPE = "audio/x-wav"
STORE_EXTENSION = "callcenter.simulator.recordings"
"""``app.extensions`` key of the store an app's recordings API serves."""
_RESOURCE_RE = re.compile(r"^(?P<sid>[^.]*)(?:\.(?P<ext>[A-Za-z0-9]+))?$")


def store_of(app: Flask) -> RecordingStore | None:
    """The store an app's recordings API (:func:`create_simulator_api`) serves, if any."""
    return app.extensions.get(STORE_EXTENSION)


def create_simulator_api(store: RecordingStore, account_sid: str, auth_token: str) -> Blueprint:
    """Twilio's recordings API for the simulator; mount it at ``url_prefix="/simulator"``.

    Registering it makes ``store`` the app's :func:`store_of`, where the switchboard's
    call recordings go.  Every route needs HTTP basic auth with exactly ``account_sid`` /
    ``auth_token``.

    * ``POST   /2010-04-01/Accounts/{AccountSid}/Recordings.json`` – deposit a recording
      (multipart: ``CallSid``, optional ``Duration``, WAV file ``media``) → 201 resource
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}`` or ``{Sid}.wav`` → audio
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json`` → resource
    * ``GET    /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.mp3`` → 415 (WAV only)
    * ``DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}[.json]`` → 204, then 404
      (or the status :meth:`RecordingStore.fail_deletes` injects)
    """
    if not account_sid or not auth_token:
        raise ValueError("the simulator API needs an account SID and an auth token")
    api = Blueprint("simulator_api", __name__)
    base = f"/{API_VERSION}/Accounts/<account>"
    api.record_once(lambda state: state.app.extensions.setdefault(STORE_EXTENSION, store))

    @api.before_request
    def _authenticate() -> Response | None:
        return check_api_auth(account_sid, auth_token)

    def resource(metadata: dict[str, Any]) -> dict[str, Any]:
        sid = metadata["sid"]
        created = format_datetime(datetime.fromisoformat(metadata["date_created"]))
        started = metadata.get("start_time")
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Recordings/{sid}"
        return {
            "sid": sid,
            "account_sid": account_sid,
            "call_sid": metadata["call_sid"],
            "api_version": API_VERSION,
            "conference_sid": None,
            "duration": str(metadata["duration"]),
            "channels": metadata["channels"],
            "status": "completed",
            "source": metadata.get("source", "RecordVerb"),
            "error_code": None,
            "price": None,
            "price_unit": "USD",
            "encryption_details": None,
            "date_created": created,
            "date_updated": created,
            "start_time": format_datetime(datetime.fromisoformat(started)) if started else created,
            "uri": uri + ".json",
            "media_url": url_for(
                "simulator_api.fetch_recording", account=account_sid, name=sid, _external=True
            ),
            "subresource_uris": {},
        }

    def not_found() -> Response:
        return twilio_error(404, 20404, f"The requested resource {request.path} was not found")

    @api.post(f"{base}/Recordings.json")
    def create_recording(account: str) -> Response | tuple[Response, int]:
        if request.content_length is not None and request.content_length > MAX_UPLOAD_BYTES:
            return twilio_error(413, 20001, "Recording too large")
        call_sid = request.form.get("CallSid", "")
        if not CALL_SID_RE.fullmatch(call_sid):
            return twilio_error(400, 20001, "CallSid is required")
        media = request.files.get("media")
        if media is None:
            return twilio_error(400, 20001, "media (a WAV file) is required")
        audio = media.read(MAX_UPLOAD_BYTES + 1)
        if len(audio) > MAX_UPLOAD_BYTES:
            return twilio_error(413, 20001, "Recording too large")
        if wav_info(audio) is None:
            return twilio_error(400, 20001, "media is not a readable WAV file")
        duration: int | None = None
        if request.form.get("Duration"):
            try:
                duration = int(request.form["Duration"])
            except ValueError:
                return twilio_error(400, 20001, "Duration must be whole seconds")
            if duration < 0:
                return twilio_error(400, 20001, "Duration must not be negative")
        metadata = store.create(call_sid, audio, duration)
        return jsonify(resource(metadata)), 201

    def parse(name: str) -> tuple[str, str] | None:
        match = _RESOURCE_RE.fullmatch(name)
        if not match or not SID_RE.fullmatch(match["sid"]):
            return None
        return match["sid"], (match["ext"] or "").lower()

    @api.get(f"{base}/Recordings/<path:name>")
    def fetch_recording(account: str, name: str) -> Response:
        parsed = parse(name)
        if parsed is None:
            return not_found()
        sid, ext = parsed
        if ext == "json":
            metadata = store.metadata(sid)
            return not_found() if metadata is None else jsonify(resource(metadata))
        if ext not in ("", "wav", "mp3"):
            return not_found()
        found = store.get(sid)
        counted = request.method == "GET"  # HEAD neither counts nor uses up faults
        if found is None:
            if counted:
                store.count_get()
            return not_found()
        if ext == "mp3":
            return twilio_error(415, 20001, "The simulator stores recordings as WAV only")
        audio, _metadata = found
        fault = store.next_fault() if counted else None
        if fault and fault.kind == "fail":
            return twilio_error(fault.status, 20500, "Injected failure")
        if fault and fault.kind == "corrupt":
            audio = corrupt(audio)
        body = audio[: len(audio) // 2] if fault and fault.kind == "truncate" else audio

        def stream() -> Iterator[bytes]:
            yield body

        response = Response(stream(), mimetype=WAV_CONTENT_TYPE, direct_passthrough=True)
        response.headers["Content-Length"] = str(len(audio))  # the full length, even if cut
        response.headers["Content-Disposition"] = f'attachment; filename="{sid}.wav"'
        return response

    @api.delete(f"{base}/Recordings/<path:name>")
    def delete_recording(account: str, name: str) -> Response:
        status = store.next_delete_fault()
        if status is not None:
            return twilio_error(status, 20500, "Injected failure")
        parsed = parse(name)
        if parsed is None or parsed[1] not in ("", "json") or not store.delete(parsed[0]):
            return not_found()
        return Response(status=204)

    return api
