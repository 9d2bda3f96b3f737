"""The switchboard's REST API: Twilio's Calls (and their Recordings), Conferences,
Participants and Messages, mounted at ``url_prefix="/simulator"``.

>>> app.register_blueprint(create_switchboard_api(board, sid, token), url_prefix="/simulator")
>>> client = Client(sid, token)
>>> client.api.base_url = public_url + "/simulator"
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request

from callcenter.simulator.board import ApiRequest
from callcenter.simulator.rest.account import add_account_views
from callcenter.simulator.rest.call_recordings import add_call_recording_views
from callcenter.simulator.rest.calls import add_call_views
from callcenter.simulator.rest.common import _BadRequest, check_api_auth, twilio_error
from callcenter.simulator.rest.conferences import add_conference_views
from callcenter.simulator.rest.messages import add_message_views
from callcenter.simulator.rest.participants import add_participant_views

if TYPE_CHECKING:
    from callcenter.simulator.switchboard import Switchboard


def create_switchboard_api(
    board: Switchboard, account_sid: str, auth_token: str, numbers: Sequence[str] = ()
) -> Blueprint:
    """Twilio's Calls (and their Recordings), Conferences, Participants and Messages API,
    and the account's ``numbers`` and TwiML Apps; mount at ``url_prefix="/simulator"``.

    Every route needs HTTP basic auth with exactly ``account_sid`` / ``auth_token``.
    Below ``/2010-04-01/Accounts/{AccountSid}``:

    * ``GET|POST /Calls.json`` – list (To, From, Status, PageSize, Page) / dial a leg
      (To, From, Url|Twiml, Method, StatusCallback, StatusCallbackEvent,
      StatusCallbackMethod, Timeout) → 201
    * ``GET|POST|DELETE /Calls/{CallSid}.json`` – fetch / update (Url+Method: redirect,
      Twiml: run it, Status=completed|canceled: hang up) / delete a finished call
    * ``GET /Conferences.json`` (FriendlyName, Status), ``GET|POST /Conferences/{Sid}.json``
      (Status=completed ends it)
    * ``GET|POST /Conferences/{Sid}/Participants.json`` – list (Muted, Hold, Coaching) /
      dial a participant (From, To, StartConferenceOnEnter, EndConferenceOnExit, Muted,
      Coaching, CallSidToCoach, Label, WaitUrl, StatusCallback*, ConferenceStatusCallback*,
      Timeout) → 201
    * ``GET|POST|DELETE /Conferences/{Sid}/Participants/{CallSid}.json`` – fetch / update
      (Hold, HoldUrl, HoldMethod, Muted, EndConferenceOnExit, Coaching, CallSidToCoach) /
      remove → 204. Coaching needs CallSidToCoach (given now or before; given alone it
      means coaching), naming a call connected to the conference (else 16028).
    * ``GET|POST /Calls/{CallSid}/Recordings.json`` – list / start recording a call in
      progress (RecordingChannels mono|dual, RecordingStatusCallback,
      RecordingStatusCallbackMethod, RecordingStatusCallbackEvent, RecordingTrack, Trim)
      → 201; the audio goes to the board's ``recordings`` or the app's recording store
    * ``GET|POST|DELETE /Calls/{CallSid}/Recordings/{Sid}.json`` – fetch / update
      (Status=paused|in-progress|stopped, PauseBehavior=skip|silence; ``Twilio.CURRENT``
      for the call's current recording) / delete a finished one → 204
    * ``GET|POST /Messages.json`` – list (To, From, DateSent, DateSent<, DateSent>) / send
      (To, From|MessagingServiceSid, Body, MediaUrl, StatusCallback) → 201
    * ``GET|DELETE /Messages/{Sid}.json`` – fetch / delete → 204
    * ``GET /IncomingPhoneNumbers.json`` (PhoneNumber, FriendlyName: exact), ``GET|POST
      /IncomingPhoneNumbers/{Sid}.json`` – fetch / update (VoiceUrl, VoiceMethod,
      StatusCallback, StatusCallbackMethod, VoiceFallback*, Sms*, FriendlyName)
    * ``GET|POST /Applications.json`` – list (FriendlyName) / create a TwiML App (the same
      fields) → 201; ``GET|POST /Applications/{Sid}.json`` – fetch / update

    Faults, for tests: :meth:`~callcenter.simulator.board.Board.inject_fault` makes the
    requests chosen slow, failing, or carried out but answered late.
    """
    if not account_sid or not auth_token:
        raise ValueError("the simulator API needs an account SID and an auth token")
    api = Blueprint("simulator_calls", __name__)

    @api.before_request
    def _authenticate() -> Response | None:
        return check_api_auth(account_sid, auth_token)

    @api.before_request
    def _inject_fault() -> Response | None:
        fault = board.take_fault(request.method, request.path)
        if fault is None:
            return None
        time.sleep(fault.delay)
        if fault.status is None:
            return None  # carried out, late
        return twilio_error(fault.status, 20500, "Injected failure")

    @api.after_request
    def _log(response: Response) -> Response:
        params = {key: request.values.getlist(key) for key in request.values}
        board.log_request(ApiRequest(request.method, request.path, params, response.status_code))
        return response

    @api.errorhandler(_BadRequest)
    def _bad_request(exc: _BadRequest) -> Response:
        return twilio_error(exc.status, exc.code, exc.message)

    add_call_views(api, board, account_sid)
    add_call_recording_views(api, board, account_sid)
    add_conference_views(api, board, account_sid)
    add_participant_views(api, board, account_sid)
    add_message_views(api, board, account_sid)
    add_account_views(api, account_sid, numbers)
    return api
