"""Pre-rendered prompt audio that Twilio fetches for <Play> (static prompts, no personal data)."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from callcenter.services import get_services
from callcenter.web.audio import audio_response

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/prompts/<key>.mp3")
def prompt_audio(key: str) -> Response:
    path = get_services().prompts.path_for(key)
    if path is None:
        abort(404)
    response = audio_response(path, "audio/mpeg")
    response.headers["Cache-Control"] = "public, max-age=86400"  # static, shared prompts
    return response


@bp.get("/prompts/<key>.txt")
def prompt_transcript(key: str) -> Response:
    text = get_services().prompts.transcript(key)
    if text is None:
        abort(404)
    return Response(text, content_type="text/plain; charset=utf-8")
