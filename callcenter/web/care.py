"""Tickets and follow-ups, for logged-in consoles (see docs/care.md).

- `GET /api/tickets?scope=mine|team|overdue|all&status=…&customer_id=N`, `POST /api/tickets`,
  `GET /api/tickets/<id>` (with history and linked calls), `PATCH /api/tickets/<id>`.
  Field errors: `{"errors": {field: message}}` with 400.
- `GET /api/followups?status=open|done|all` and
  `POST /api/followups/<id>/{assign,release,done}` (calling the customer back is
  `call:dial` / `POST /api/calls/dial` with `followup_id`).
- `GET /api/care/counts` (supervisors): the wallboard's figures.
- `GET /tickets`: the tickets page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.care import followups as care_followups
from callcenter.care.board import wallboard_counts
from callcenter.care.followups import FollowupError
from callcenter.care.models import Followup
from callcenter.care.ticket_errors import TicketError, TicketInvalid
from callcenter.care.ticket_queries import get_visible, list_tickets, teammates
from callcenter.care.ticket_views import categories_payload, describe
from callcenter.care.tickets import create_ticket, update_ticket
from callcenter.db import get_session
from callcenter.models import Agent, utcnow
from callcenter.services import get_services
from callcenter.web.auth import current_agent, json_error, json_object, login_required
from callcenter.web.console import security_headers
from callcenter.web.i18n import field_errors
from callcenter.web.limits import is_id

bp = Blueprint("care", __name__)
bp.after_request(security_headers)


def _invalid(errors: dict[str, str]) -> ResponseReturnValue:
    response = jsonify({"errors": field_errors(errors)})
    response.status_code = 400
    return response


# -- tickets ----------------------------------------------------------------------------------


@bp.get("/api/tickets")
@login_required()
def tickets() -> ResponseReturnValue:
    """Tickets this agent may see, soonest due first, with the form's choices."""
    services = get_services()
    session = get_session()
    customer_id = request.args.get("customer_id")
    if customer_id is not None and not customer_id.isdigit():
        return _invalid({"customer_id": "must be an id (a positive integer)"})
    now = utcnow()
    try:
        found = list_tickets(
            session, services.settings, g.agent, now,
            scope=request.args.get("scope", "team"),
            status=request.args.get("status", "active"),
            customer_id=int(customer_id) if customer_id else None,
        )  # fmt: skip
    except TicketInvalid as exc:
        return _invalid(exc.errors)
    payload = {
        "tickets": [describe(session, services.settings, item, now) for item in found],
        "choices": categories_payload(services.settings),
    }
    session.rollback()
    return jsonify(payload)


@bp.post("/api/tickets")
@login_required()
def new_ticket() -> ResponseReturnValue:
    """Open a ticket: 201 with it and its promise; the same `request_id` again: 200, the same."""
    body = json_object()
    services = get_services()
    session = get_session()
    now = utcnow()
    try:
        ticket, created = create_ticket(session, services.settings, g.agent, body, now)
    except TicketInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    session.commit()
    services.announcer.touch()  # the wallboard counts tickets
    payload = {"ticket": describe(session, services.settings, ticket, now, full=True),
               "created": created}  # fmt: skip
    session.rollback()
    return jsonify(payload), 201 if created else 200


@bp.get("/api/tickets/<id:ticket_id>")
@login_required()
def ticket(ticket_id: int) -> ResponseReturnValue:
    """One ticket with its history and the calls about it."""
    services = get_services()
    session = get_session()
    try:
        found = get_visible(session, services.settings, g.agent, ticket_id)
    except TicketError as exc:
        return json_error(exc.status, str(exc))
    payload = {"ticket": describe(session, services.settings, found, utcnow(), full=True)}
    session.rollback()
    return jsonify(payload)


@bp.patch("/api/tickets/<id:ticket_id>")
@login_required()
def change_ticket(ticket_id: int) -> ResponseReturnValue:
    """Change status, priority, owner or description, add a note, link a call."""
    body = json_object()
    services = get_services()
    session = get_session()
    now = utcnow()
    try:
        changed = update_ticket(session, services.settings, g.agent, ticket_id, body, now)
    except TicketInvalid as exc:
        session.rollback()
        return _invalid(exc.errors)
    except TicketError as exc:
        session.rollback()
        return json_error(exc.status, str(exc))
    session.commit()
    services.announcer.touch()  # the wallboard counts tickets
    payload = {"ticket": describe(session, services.settings, changed, now, full=True)}
    session.rollback()
    return jsonify(payload)


@bp.get("/tickets")
def tickets_page() -> ResponseReturnValue:
    """The tickets page: mine, my team's, overdue (it reads `/api/tickets`)."""
    agent = current_agent()
    if agent is None:
        return redirect(url_for("console.login_page", next=request.path))
    settings = get_services().settings
    session = get_session()
    if agent.is_supervisor:
        members = session.scalars(select(Agent).where(Agent.active.is_(True))).all()
    else:
        team = teammates(session, agent)
        members = session.scalars(
            select(Agent).where(Agent.id.in_(team), Agent.active.is_(True))
        ).all()
    people = [{"id": a.id, "name": a.display_name, "number": a.agent_number}
              for a in sorted(members, key=lambda a: a.display_name)]  # fmt: skip
    session.rollback()
    return render_template(
        "tickets.html", agent=agent, choices=categories_payload(settings), team=people
    )


@bp.get("/api/care/counts")
@login_required("supervisor")
def counts() -> ResponseReturnValue:
    """Open follow-ups (and the oldest), open, overdue and due-soon tickets."""
    session = get_session()
    payload = wallboard_counts(session, get_services().settings, utcnow())
    session.rollback()
    return jsonify(payload)


# -- follow-ups -------------------------------------------------------------------------------


def _followups_changed() -> None:
    care = get_services().extras.get("care")
    if care is not None:
        care.followups_changed()


@bp.get("/api/followups")
@login_required()
def followups() -> ResponseReturnValue:
    """`?status=open|done|all` → `{"followups": [...], "outcomes": {...}}`: VIPs, then known
    customers, then others; oldest first."""
    settings = get_services().settings
    session = get_session()
    try:
        found = care_followups.worklist(session, status=request.args.get("status", "open"))
    except FollowupError as exc:
        return _invalid({"status": str(exc)})
    payload = {
        "followups": [care_followups.describe(settings, item) for item in found],
        "outcomes": dict(settings.followups.outcomes),
    }
    session.rollback()
    return jsonify(payload)


def _followup_action(step: Callable[[Session], Followup]) -> ResponseReturnValue:
    session = get_session()
    try:
        followup = step(session)
    except FollowupError as exc:
        session.rollback()
        message = str(exc)
        if message.startswith("outcome must"):
            return _invalid({"outcome": message})
        return json_error(404 if message == "no such follow-up" else 409, message)
    session.commit()
    payload = {"followup": care_followups.describe(get_services().settings, followup)}
    session.rollback()
    _followups_changed()
    return jsonify(payload)


@bp.post("/api/followups/<id:followup_id>/assign")
@login_required()
def assign_followup(followup_id: int) -> ResponseReturnValue:
    """Take it (`{}`), or as a supervisor give it to someone (`{"agent_id": N}`)."""
    to_agent = json_object().get("agent_id")
    if to_agent is not None and not is_id(to_agent):
        return _invalid({"agent_id": "must be an agent id (a positive 64-bit integer)"})
    return _followup_action(
        lambda session: care_followups.assign(
            session, followup_id, g.agent, utcnow(), to_agent_id=to_agent
        )
    )


@bp.post("/api/followups/<id:followup_id>/release")
@login_required()
def release_followup(followup_id: int) -> ResponseReturnValue:
    json_object()
    return _followup_action(lambda session: care_followups.release(session, followup_id, g.agent))


@bp.post("/api/followups/<id:followup_id>/done")
@login_required()
def followup_done(followup_id: int) -> ResponseReturnValue:
    """Close it: `{"outcome": code, "notes": "..."}`."""
    body: dict[str, Any] = json_object()
    outcome, notes = body.get("outcome"), body.get("notes", "")
    errors = {}
    if not isinstance(outcome, str) or not outcome:
        errors["outcome"] = "is required"
    if not isinstance(notes, str):
        errors["notes"] = "must be text"
    elif len(notes) > 4000:
        errors["notes"] = "must be at most 4000 characters"
    if errors:
        return _invalid(errors)
    settings = get_services().settings
    return _followup_action(
        lambda session: care_followups.mark_done(
            session, settings, followup_id, g.agent, str(outcome), str(notes), utcnow()
        )
    )
