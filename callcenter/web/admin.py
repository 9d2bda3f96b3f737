"""Managing the team without a shell (admins only; see docs/deployment.md#managing-the-team).

- `GET /admin` — the agents page; `GET /admin/config` — queues, dispositions and hours as
  config.yaml sets them (read-only: config is code, changed in the file).
- `GET /api/admin/agents` — every account, and what config.yaml lets them have.
- `POST /api/admin/agents` — add one (`username`, `password` and the fields of
  `people/accounts.FIELDS`); `PATCH /api/admin/agents/<username>` — change some fields.
- `POST /api/admin/agents/<username>/deactivate|reactivate|logout`, and `/password`
  (`{"password": ...}`).
- `GET /api/admin/erasures` — the deletions of Twilio's copies of erased people's
  recordings that gave up or keep failing, how many of each, and how many are still tried;
  `POST /api/admin/erasures/retry`
  — send those that gave up again.

Field errors are `{"errors": {field: message}}` with 400, other refusals `{"error": ...}`.
Anonymous: 401 (pages: the login form); agents and supervisors: 403. Every change is in
the audit log (`GET /api/audit`). JSON bodies only (`json_object`): a cross-site form
cannot send one, so these need no CSRF token, like every JSON API of the app.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.config import config_path
from callcenter.db import get_session
from callcenter.media.remote_erasure import deletions_not_done, retry_failed_deletions
from callcenter.models import ROLES, Agent, utcnow
from callcenter.people.accounts import (
    FIELDS,
    AgentInvalid,
    Choices,
    add_agent,
    describe,
    edit_agent,
    reactivate_agent,
)
from callcenter.people.agents import (
    AgentError,
    change_password,
    deactivate_agent,
    end_sessions,
    find_agent,
)
from callcenter.services import get_services
from callcenter.supervision import audit
from callcenter.web.auth import MAX_PASSWORD, json_error, json_object, login_required
from callcenter.web.console import _page, security_headers
from callcenter.web.i18n import field_errors
from callcenter.web.session_guard import session_guard

bp = Blueprint("admin", __name__)
bp.after_request(security_headers)


def _choices() -> Choices:
    return Choices.from_settings(get_services().settings)


def _invalid(errors: dict[str, str]) -> ResponseReturnValue:
    response = jsonify({"errors": field_errors(errors)})
    response.status_code = 400
    return response


def _refused(session: Session, exc: AgentError) -> ResponseReturnValue:
    session.rollback()
    if isinstance(exc, AgentInvalid):
        return _invalid(exc.errors)
    message = str(exc)
    if message.startswith("no agent "):
        return json_error(404, message)
    field, _, why = message.partition(": ")
    if why and field in (*FIELDS, "username", "password"):
        return _invalid({field: why})
    return json_error(409, message)


def _done(session: Session, agent: Agent, action: str, **details: Any) -> ResponseReturnValue:
    """Audit the action, commit, and answer with the account as it is now."""
    audit.record(session, g.agent, action, utcnow(), agent_id=agent.id, **details)
    payload = {"agent": describe(agent)}
    session.commit()
    return jsonify(payload)


def _end_consoles(agent_id: int, reason: str) -> None:
    """After the commit: tell the agent's open consoles and close those of this process."""
    guard = session_guard(current_app.extensions["callcenter"])
    if guard is not None:
        guard.end(agent_id, reason)


def _not_yourself(username: str, what: str) -> ResponseReturnValue | None:
    if username.strip().lower() == g.agent.username:
        return json_error(409, f"you cannot {what} your own account here")
    return None


def _password(body: dict[str, Any]) -> str | ResponseReturnValue:
    password = body.get("password")
    if not isinstance(password, str) or not password:
        return _invalid({"password": "required"})
    if len(password) > MAX_PASSWORD:
        return _invalid({"password": f"at most {MAX_PASSWORD} characters"})
    return password


# -- pages ------------------------------------------------------------------------------------


@bp.get("/admin")
def agents_page() -> ResponseReturnValue:
    """The agents: add, edit, deactivate, reactivate, reset a password, log out."""
    return _page("admin.html", "admin", choices=_choices(), roles=ROLES)


@bp.get("/admin/config")
def config_page() -> ResponseReturnValue:
    """Queues, dispositions and hours, read-only: they are changed in config.yaml."""
    return _page("admin_config.html", "admin", config_file=str(config_path().resolve()),
                 hours=get_services().settings.hours)  # fmt: skip


# -- the API ----------------------------------------------------------------------------------


@bp.get("/api/admin/agents")
@login_required("admin")
def agents() -> ResponseReturnValue:
    """Every account (inactive ones too), by number; and the skills, languages and roles."""
    session = get_session()
    found = session.scalars(select(Agent).order_by(Agent.agent_number, Agent.id)).all()
    choices = _choices()
    payload = {
        "agents": [describe(agent) for agent in found],
        "skills": list(choices.skills),
        "languages": list(choices.languages),
        "roles": list(ROLES),
    }
    session.rollback()
    return jsonify(payload)


@bp.post("/api/admin/agents")
@login_required("admin")
def add() -> ResponseReturnValue:
    """`{"username", "password", "name", "number", "role"?, "skills"?, "languages"?,
    "phone"?}` → 201 with the new account."""
    body = json_object()
    username = body.pop("username", None)
    password = _password(body)
    body.pop("password", None)
    if not isinstance(password, str):
        return password
    if not isinstance(username, str):
        return _invalid({"username": "required"})
    session = get_session()
    try:
        agent, created = add_agent(session, _choices(), username, body, password)
        response = _done(session, agent, "agent.add", changes=created)
    except AgentError as exc:
        return _refused(session, exc)
    except IntegrityError:  # lost a race with another admin
        session.rollback()
        return json_error(409, "username or number is already taken")
    return response, 201


@bp.patch("/api/admin/agents/<username>")
@login_required("admin")
def edit(username: str) -> ResponseReturnValue:
    """Change the fields given (`people/accounts.FIELDS`); `changes` says old → new."""
    body = json_object()
    if body.get("role", "admin") != "admin" and (refused := _not_yourself(username, "demote")):
        return refused
    session = get_session()
    try:
        agent, changes = edit_agent(session, _choices(), username, body)
    except AgentError as exc:
        return _refused(session, exc)
    if not changes:
        payload = {"agent": describe(agent), "changes": {}}
        session.rollback()
        return jsonify(payload)
    try:
        audit.record(session, g.agent, "agent.edit", utcnow(), agent_id=agent.id, changes=changes)
        payload = {"agent": describe(agent), "changes": changes}
        session.commit()
    except IntegrityError:
        session.rollback()
        return json_error(409, "number: already taken")
    return jsonify(payload)


@bp.post("/api/admin/agents/<username>/deactivate")
@login_required("admin")
def deactivate(username: str) -> ResponseReturnValue:
    """No more logins or calls; every session and open console of theirs ends."""
    json_object()
    if refused := _not_yourself(username, "deactivate"):
        return refused
    session = get_session()
    try:
        agent = deactivate_agent(session, username)
    except AgentError as exc:
        return _refused(session, exc)
    response = _done(session, agent, "agent.deactivate", changes={"active": [True, False]})
    _end_consoles(agent.id, "account deactivated")
    return response


@bp.post("/api/admin/agents/<username>/reactivate")
@login_required("admin")
def reactivate(username: str) -> ResponseReturnValue:
    """Back in service: they log in again with their password."""
    json_object()
    session = get_session()
    try:
        agent = reactivate_agent(session, username)
    except AgentError as exc:
        return _refused(session, exc)
    return _done(session, agent, "agent.reactivate", changes={"active": [False, True]})


@bp.post("/api/admin/agents/<username>/password")
@login_required("admin")
def reset_password(username: str) -> ResponseReturnValue:
    """`{"password": ...}`: the new password; every session of theirs ends."""
    password = _password(json_object())
    if not isinstance(password, str):
        return password
    session = get_session()
    try:
        agent = change_password(session, username, password)
    except AgentError as exc:
        return _refused(session, exc)
    response = _done(session, agent, "agent.password")
    _end_consoles(agent.id, "password changed")
    return response


@bp.post("/api/admin/agents/<username>/logout")
@login_required("admin")
def force_logout(username: str) -> ResponseReturnValue:
    """End every session of the agent, on every device: they log in again."""
    json_object()
    session = get_session()
    try:
        agent = find_agent(session, username)
    except AgentError as exc:
        return _refused(session, exc)
    end_sessions(session, agent.id)
    response = _done(session, agent, "agent.logout")
    _end_consoles(agent.id, "logged out by an admin")
    return response


@bp.get("/api/admin/erasures")
@login_required("admin")
def erasures() -> ResponseReturnValue:
    """`{"failed": [...], "failed_count", "failing": [...], "failing_count", "pending"}`
    (items: recording_sid, call_sid, attempts, last_error, requested_at, next_attempt_at):
    Twilio's copies of erased people's recordings not deleted yet (see deletions_not_done)."""
    session = get_session()
    payload = deletions_not_done(session)
    session.rollback()
    return jsonify(payload)


@bp.post("/api/admin/erasures/retry")
@login_required("admin")
def retry_erasures() -> ResponseReturnValue:
    """Send again, with a fresh budget, every deletion that gave up → `{"ok", "retried"}`."""
    json_object()
    session = get_session()
    now = utcnow()
    retried = retry_failed_deletions(session, now)
    audit.record(session, g.agent, "erasure.retry", now, retried=retried)
    session.commit()
    return jsonify({"ok": True, "retried": retried})
