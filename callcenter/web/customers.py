"""Customer records, for logged-in consoles (see docs/customers.md).

- `GET /api/customers?q=…` (name, any phone number, account code), `POST /api/customers`,
  `GET /api/customers/<id>` (the customer file), `PATCH /api/customers/<id>`.
  Field errors: `{"errors": {field: message}}` with 400. Only supervisors (and admins)
  set `tier` and `account_manager_id`.
- `POST /api/customers/<id>/merge` (`{"other_id": N}`): N is merged into <id>.
- `POST /api/customers/<id>/erase` (admins): erasure on request.
- `GET /customers`, `GET /customers/<id>`: the customers page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from callcenter.crm.erasure import erase_customer
from callcenter.crm.merge import merge_customers
from callcenter.crm.profile import customer_file
from callcenter.crm.records import (
    CustomerError,
    CustomerInvalid,
    create_customer,
    describe,
    get_customer,
    search,
    update_customer,
)
from callcenter.db import get_session
from callcenter.media.remote_erasure import still_pending
from callcenter.models import Agent, Customer, utcnow
from callcenter.services import get_services
from callcenter.web.auth import current_agent, json_error, json_object, login_required
from callcenter.web.console import security_headers
from callcenter.web.i18n import field_errors
from callcenter.web.limits import is_id

bp = Blueprint("customers", __name__)
bp.after_request(security_headers)


def _invalid(errors: dict[str, str]) -> ResponseReturnValue:
    response = jsonify({"errors": field_errors(errors)})
    response.status_code = 400
    return response


def _audio_url(item: dict[str, Any]) -> str | None:
    if not item.get("playable") or not item.get("recording_sid"):
        return None
    return url_for("records.recording_audio", recording_sid=item["recording_sid"])


@bp.get("/api/customers")
@login_required()
def customers() -> ResponseReturnValue:
    """`?q=` a name (or part), a phone number in any format, an account code; without `q`,
    the customers changed last."""
    session = get_session()
    q = request.args.get("q", "")
    if q.strip():
        found = search(session, q)
    else:
        found = list(
            session.scalars(select(Customer).order_by(Customer.updated_at.desc()).limit(20))
        )
    payload = {"customers": [describe(customer) for customer in found]}
    session.rollback()
    return jsonify(payload)


@bp.post("/api/customers")
@login_required()
def new_customer() -> ResponseReturnValue:
    """Create one: 201 with it; the same create again at once (double click): 200, the same."""
    body = json_object()
    services = get_services()
    session = get_session()
    try:
        customer, created = create_customer(
            session, g.agent, body, services.settings.languages, utcnow()
        )
    except CustomerInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    except CustomerError as exc:
        session.rollback()
        return json_error(exc.status, str(exc))
    session.commit()
    payload = {"customer": describe(customer), "created": created}
    session.rollback()
    return jsonify(payload), 201 if created else 200


@bp.get("/api/customers/<id:customer_id>")
@login_required()
def customer(customer_id: int) -> ResponseReturnValue:
    """The customer file: record, history, calls, tickets, voicemails, articles sent."""
    services = get_services()
    session = get_session()
    try:
        found = get_customer(session, customer_id)
    except CustomerError as exc:
        return json_error(exc.status, str(exc))
    payload = customer_file(session, services.settings, g.agent, found, utcnow())
    for call in payload["calls"]:
        for item in call["recordings"]:
            item["url"] = _audio_url(item)
    for item in payload["voicemails"]:
        item["url"] = _audio_url(item)
    session.rollback()
    return jsonify(payload)


@bp.patch("/api/customers/<id:customer_id>")
@login_required()
def change_customer(customer_id: int) -> ResponseReturnValue:
    """Change any field; each change goes into the customer's history."""
    body = json_object()
    services = get_services()
    session = get_session()
    try:
        changed, fields = update_customer(
            session, g.agent, customer_id, body, services.settings.languages, utcnow()
        )
    except CustomerInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    except CustomerError as exc:
        session.rollback()
        return json_error(exc.status, str(exc))
    session.commit()
    payload = {"customer": describe(changed), "changed": fields}
    session.rollback()
    return jsonify(payload)


@bp.post("/api/customers/<id:customer_id>/merge")
@login_required()
def merge(customer_id: int) -> ResponseReturnValue:
    """`{"other_id": N}`: customer N's numbers, calls, tickets and voicemails move here."""
    other = json_object().get("other_id")
    if not is_id(other):
        return _invalid({"other_id": "must be a customer id (a positive integer)"})
    session = get_session()
    try:
        kept = merge_customers(session, g.agent, customer_id, int(other), utcnow())
    except CustomerError as exc:
        session.rollback()
        return json_error(exc.status, str(exc))
    session.commit()
    payload = {"customer": describe(kept), "merged": other}
    session.rollback()
    return jsonify(payload)


@bp.post("/api/customers/<id:customer_id>/erase")
@login_required("admin")
def erase(customer_id: int) -> ResponseReturnValue:
    """Erase the person's data on request (admins; `callcenter customers erase ID` too)."""
    json_object()
    settings = get_services().settings
    session = get_session()
    try:
        report = erase_customer(
            session,
            customer_id,
            settings.path(settings.recordings_dir),
            utcnow(),
            actor=g.agent,
            prompt_cache_dir=settings.path(settings.tts.cache_dir),
        )
    except CustomerError as exc:
        session.rollback()
        return json_error(exc.status, str(exc))
    session.commit()
    queued = report.remote_recordings
    if queued:  # Twilio's copies, at once; what fails is retried by the download worker
        get_services().extras["remote_deleter"].run_due(limit=len(queued), only=queued)
    pending = still_pending(session, queued)
    session.rollback()
    return jsonify({"ok": True, "customer_id": customer_id, **report.counts(),
                    "remote_pending": pending})  # fmt: skip


# -- pages ------------------------------------------------------------------------------------


def _page(customer_id: int | None) -> ResponseReturnValue:
    agent = current_agent()
    if agent is None:
        return redirect(url_for("console.login_page", next=request.path))
    managers: list[dict[str, Any]] = []
    if agent.is_supervisor:
        session = get_session()
        active = session.scalars(
            select(Agent).where(Agent.active.is_(True)).order_by(Agent.display_name)
        ).all()
        managers = [{"id": a.id, "name": a.display_name, "number": a.agent_number} for a in active]
        session.rollback()
    settings = get_services().settings
    return render_template(
        "customers.html",
        agent=agent,
        customer_id=customer_id,
        managers=managers,
        languages=list(settings.languages),
        prefill={"phone": request.args.get("phone", "")[:40]},
    )


@bp.get("/customers")
def customers_page() -> ResponseReturnValue:
    """The customers page: search, open, create, edit, merge (it reads `/api/customers`)."""
    return _page(None)


@bp.get("/customers/<id:customer_id>")
def customer_page(customer_id: int) -> ResponseReturnValue:
    """The customers page opened on one customer."""
    if customer_id <= 0:
        abort(404)
    return _page(customer_id)
