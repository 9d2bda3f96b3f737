"""Agent accounts and presence (pure domain: takes a session)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.metrics.recorder import presence_changed
from callcenter.models import AGENT_STATUSES, ROLES, Agent, utcnow

USERNAME = re.compile(r"[a-z][a-z0-9_.-]{1,63}")
AGENT_NUMBER = re.compile(r"\d{3,8}")
MIN_PASSWORD = 8
# Statuses an agent may choose; the others (ringing, on-call, wrap-up) follow calls.
CHOOSABLE = ("available", "away", "offline")
# Compared against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class AgentError(ValueError):
    """An agent account or presence change was refused; the message says why."""


def hash_password(password: str) -> str:
    """A salted scrypt hash (the current Werkzeug default)."""
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"password: at least {MIN_PASSWORD} characters")
    return generate_password_hash(password, method="scrypt")


def _list(values: Iterable[str]) -> list[str]:
    return sorted({value.strip() for value in values if value.strip()})


def create_agent(
    session: Session,
    *,
    username: str,
    display_name: str,
    agent_number: str,
    password: str,
    role: str = "agent",
    skills: Iterable[str] = (),
    languages: Iterable[str] = (),
    phone: str | None = None,
) -> Agent:
    """Add an agent; usernames and agent numbers are unique."""
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise AgentError("username: 2-64 of a-z, 0-9, '.', '_' or '-', starting with a letter")
    if not AGENT_NUMBER.fullmatch(agent_number):
        raise AgentError("number: 3 to 8 digits (it is announced to callers)")
    if role not in ROLES:
        raise AgentError(f"role: one of {', '.join(ROLES)}")
    if not display_name.strip():
        raise AgentError("name: required")
    if session.scalar(select(Agent.id).where(Agent.username == username)):
        raise AgentError(f"username: {username!r} is taken")
    if session.scalar(select(Agent.id).where(Agent.agent_number == agent_number)):
        raise AgentError(f"number: {agent_number} is taken")
    agent = Agent(
        username=username,
        display_name=display_name.strip(),
        agent_number=agent_number,
        role=role,
        skills=_list(skills),
        languages=_list(languages),
        phone=phone,
        password_hash=hash_password(password),
        status="offline",
        status_since=utcnow(),
        active=True,
    )
    session.add(agent)
    session.flush()
    return agent


def authenticate(session: Session, username: str, password: str) -> Agent | None:
    """The active agent with these credentials, or None (same cost either way)."""
    agent = login_candidate(session, username)
    return agent if password_matches(agent, password) else None


def login_candidate(session: Session, username: str) -> Agent | None:
    """The active agent who may log in as `username` (the password is not checked yet)."""
    agent = session.scalar(
        select(Agent).where(func.lower(Agent.username) == username.strip().lower())
    )
    return agent if agent is not None and agent.active else None


def password_matches(agent: Agent | None, password: str) -> bool:
    """Whether `password` is the agent's; without an agent, costs the same and is False.

    Slow on purpose (scrypt): call it outside any database transaction.
    """
    if agent is None:
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(agent.password_hash, password)


def find_agent(session: Session, username: str) -> Agent:
    """The agent with this username (any case); AgentError when there is none."""
    agent = session.scalar(
        select(Agent).where(func.lower(Agent.username) == username.strip().lower())
    )
    if agent is None:
        raise AgentError(f"no agent {username.strip()!r}")
    return agent


def end_sessions(session: Session, agent_id: int) -> None:
    """End every login session of the agent: each must log in again.

    Sessions carry the agent's `session_epoch` from their login; raising it in one atomic
    UPDATE (not read-then-write) outdates all of them on every process at once.
    """
    session.execute(
        update(Agent).where(Agent.id == agent_id).values(session_epoch=Agent.session_epoch + 1)
    )
    session.expire_all()


def deactivate_agent(session: Session, username: str) -> Agent:
    """Take an account out of service: no login, no calls, every session ended."""
    agent = find_agent(session, username)
    agent.active = False
    session.flush()
    end_sessions(session, agent.id)
    return agent


def change_password(session: Session, username: str, password: str) -> Agent:
    """Set a new password; every session of the agent ends (log in again with the new one)."""
    agent = find_agent(session, username)
    agent.password_hash = hash_password(password)
    session.flush()
    end_sessions(session, agent.id)
    return agent


def set_presence(
    agent: Agent, status: str, now: datetime | None = None, reason: str | None = None
) -> None:
    """Move an agent to a status; becoming available starts their idle time."""
    if status not in AGENT_STATUSES:
        raise AgentError(f"status: one of {', '.join(AGENT_STATUSES)}")
    now = now or utcnow()
    presence_changed(agent, status, reason, now)  # the status left becomes a metrics span
    if status == "available" and agent.status != "available":
        agent.idle_since = now
    agent.status = status
    agent.status_reason = reason[:120] if reason else None
    agent.status_since = now
    if status in ("available", "away", "offline"):
        agent.current_call_sid = None
        agent.wrapup_until = None
