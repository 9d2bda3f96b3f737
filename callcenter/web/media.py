"""Pre-rendered prompt audio that Twilio fetches for <Play> (static prompts, no personal data)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, send_file

from callcenter.services import get_services

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/prompts/<key>.mp3")
def prompt_audio(key: str) -> Response:
    path = get_services().prompts.path_for(key)
    if path is None:
        abort(404)
    response = send_file(path, mimetype="audio/mpeg", conditional=True, max_age=86400)
    return response


@bp.get("/prompts/<key>.txt")
def prompt_transcript(key: str) -> Response:
    text = get_services().prompts.transcript(key)
    if text is None:
        abort(404)
    return Response(text, content_type="text/plain; charset=utf-8")
