"""Knowledge base over HTTP: search and read for the console, send to the caller, report.

`GET /api/kb/search?q=...` and `GET /api/kb/articles/<id>` need a login; every search and
article opened from the console (`Sec-Fetch-Site: same-origin`: never a link on another
site) and every article sent is stored (linked to the call given as `call_sid`).
`GET /help/<id>` is the public page the texted link opens: articles are written for
customers, so it needs no login.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.calls.records import CALL_SID, get_call, log_event, may_see_call
from callcenter.config import localized
from callcenter.db import get_session
from callcenter.ivr.schema import ARTICLE_ID
from callcenter.knowledge import articles as kb
from callcenter.knowledge.models import KbArticle, KbLookup
from callcenter.knowledge.usage import MAX_QUERY, record_lookup, resolution_report
from callcenter.models import Call, utcnow
from callcenter.services import get_services
from callcenter.telephony.sms import SmsError, SmsSender
from callcenter.web.auth import json_error, json_object, login_required
from callcenter.web.console import security_headers
from callcenter.web.limits import from_own_page
from callcenter.web.markdown import render_markdown

bp = Blueprint("kb", __name__)
bp.after_request(security_headers)

MAX_LIMIT = 50
RESEND_SECONDS = 60  # the same article sent twice to one call within this is one message
SEND_GRACE = timedelta(minutes=10)  # after the call ends, texting its caller stays allowed


def _call_for_lookup(session: Session, call_sid: Any) -> Call | None:
    """The call a lookup is for (given as `call_sid`), if the agent may see it."""
    if call_sid in (None, ""):
        return None
    if not isinstance(call_sid, str) or not CALL_SID.fullmatch(call_sid):
        abort(json_error(400, "call_sid is malformed"))
    call = get_call(session, call_sid)
    if call is None:
        abort(json_error(404, "no such call"))
    if not may_see_call(session, g.agent, call, ringing=True):
        abort(json_error(403, "not your call"))
    return call


def _article(session: Session, article_id: str) -> KbArticle:
    if not ARTICLE_ID.fullmatch(article_id):
        abort(404)
    article = session.get(KbArticle, article_id)
    if article is None:
        abort(json_error(404, "no such article"))
    return article


@bp.get("/api/kb/search")
@login_required()
def search() -> ResponseReturnValue:
    """`?q=` (and `lang=`, `limit=`, `call_sid=`) → `{"results": [{id, title, snippet, score}]}`."""
    settings = get_services().settings
    query = request.args.get("q", "")
    if len(query) > MAX_QUERY:
        return json_error(400, f"q is longer than {MAX_QUERY} characters")
    language = request.args.get("lang") or None
    if language is not None and language not in settings.voices:
        return json_error(400, f"lang must be one of {', '.join(settings.voices)}")
    try:
        limit = int(request.args.get("limit", "10"))
    except ValueError:
        return json_error(400, "limit is not a number")
    limit = max(1, min(limit, MAX_LIMIT))
    session = get_session()
    call = _call_for_lookup(session, request.args.get("call_sid"))
    hits = kb.search(session, query, language=language, limit=limit)
    if query.strip() and from_own_page():
        record_lookup(
            session,
            action="search",
            source="console",
            call_sid=call.call_sid if call else None,
            agent_id=g.agent.id,
            query=query,
            results=[hit.id for hit in hits],
            language=language,
        )
        session.commit()
    return jsonify(
        {
            "query": query,
            "results": [
                {
                    "id": hit.id,
                    "title": hit.title,
                    "snippet": hit.snippet,
                    "score": hit.score,
                    "language": hit.language,
                    "summary": hit.summary,
                }
                for hit in hits
            ],
        }
    )


def _public_link(article_id: str) -> str:
    return get_services().urls(f"/help/{article_id}")


@bp.get("/api/kb/articles/<article_id>")
@login_required()
def article(article_id: str) -> ResponseReturnValue:
    """One article with its body as safe HTML; `via=suggestion` marks a screen-pop pick."""
    session = get_session()
    found = _article(session, article_id)
    call = _call_for_lookup(session, request.args.get("call_sid"))
    source = "suggestion" if request.args.get("via") == "suggestion" else "console"
    if from_own_page():
        record_lookup(
            session,
            action="open",
            source=source,
            call_sid=call.call_sid if call else None,
            agent_id=g.agent.id,
            article_id=found.id,
        )
    payload = {
        "id": found.id,
        "title": found.title,
        "language": found.language,
        "tags": list(found.tags or []),
        "intents": list(found.intents or []),
        "summary": found.summary,
        "html": str(render_markdown(found.body)),
        "link": _public_link(found.id),
        "updated_at": found.updated_at.isoformat() if found.updated_at else None,
    }
    session.commit()
    return jsonify(payload)


@bp.post("/api/kb/articles/<article_id>/send")
@login_required()
def send(article_id: str) -> ResponseReturnValue:
    """Text the article's link to the caller of `call_sid` (`{"call_sid": ...}`)."""
    body = json_object("a JSON object with call_sid")
    services = get_services()
    settings = services.settings
    session = get_session()
    found = _article(session, article_id)
    call = _call_for_lookup(session, body.get("call_sid"))
    if call is None:
        return json_error(400, "call_sid is required")
    if call.caller_kind != "pstn" or not call.caller_number:
        return json_error(409, "the caller has no phone number to text")
    if call.ended_at is not None and utcnow() - call.ended_at > SEND_GRACE:
        minutes = int(SEND_GRACE.total_seconds() // 60)
        return json_error(
            409,
            f"this call ended more than {minutes} minutes ago: articles are texted "
            "to callers only during the call or just after it",
        )
    # The call row is locked while we look for an earlier send and note this one, so a
    # double click (or two tabs) texts the caller once.
    session.scalar(select(Call.id).where(Call.id == call.id).with_for_update())
    since = utcnow() - timedelta(seconds=RESEND_SECONDS)
    earlier = session.scalar(
        select(KbLookup).where(
            KbLookup.action == "send",
            KbLookup.call_sid == call.call_sid,
            KbLookup.article_id == found.id,
            KbLookup.at >= since,
        )
    )
    if earlier is not None:
        answer = {"ok": True, "message_sid": earlier.detail.get("message_sid"),
                  "to": call.caller_number, "repeated": True}  # fmt: skip
        session.rollback()
        return jsonify(answer)
    template = localized(settings.messages.article_sms, call.language, settings.default_language)
    text = (template or "{title}: {link}").format(title=found.title, link=_public_link(found.id))
    to, call_sid, article_id = call.caller_number, call.call_sid, found.id
    lookup = record_lookup(session, action="send", source="console", call_sid=call_sid,
                           agent_id=g.agent.id, article_id=article_id, to=to)  # fmt: skip
    session.commit()  # no transaction is held while Twilio is asked
    sender: SmsSender = services.extras["sms"]
    try:
        message_sid = sender.send(to, text, services.urls("/twilio/sms/status", call=call_sid))
    except SmsError as exc:
        session.delete(lookup)  # not sent: the agent may try again at once
        session.commit()
        return json_error(502, f"the message could not be sent: {exc}")
    lookup.detail = {**lookup.detail, "message_sid": message_sid}
    log_event(session, call_sid, "kb.sent", article=article_id, message_sid=message_sid,
              agent=g.agent.agent_number)  # fmt: skip
    session.commit()
    return jsonify({"ok": True, "message_sid": message_sid, "to": to})


@bp.get("/api/kb/report")
@login_required("supervisor")
def report() -> ResponseReturnValue:
    """Articles against IVR intents and dispositions (`?days=N`, default 30)."""
    try:
        days = int(request.args.get("days", "30"))
    except ValueError:
        return json_error(400, "days is not a number")
    days = max(1, min(days, 3650))
    rows = resolution_report(get_session(), since=utcnow() - timedelta(days=days))
    return jsonify({"days": days, "rows": [row.public() for row in rows]})


@bp.get("/help/<article_id>")
def public_article(article_id: str) -> ResponseReturnValue:
    """The customer-facing page of an article (the link texted to callers)."""
    session = get_session()
    if not ARTICLE_ID.fullmatch(article_id):
        abort(404)
    found = session.get(KbArticle, article_id)
    if found is None:
        abort(404)
    return render_template("article.html", article=found, body=render_markdown(found.body))
