"""Agent accounts and presence (pure domain: takes a session)."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.messages import N_, Refusal
from callcenter.metrics.recorder import presence_changed
from callcenter.models import AGENT_STATUSES, CALL_DEVICES, ROLES, Agent, utcnow

USERNAME = re.compile(r"[a-z][a-z0-9_.-]{1,63}")
AGENT_NUMBER = re.compile(r"\d{3,8}")
MIN_PASSWORD = 8
# Statuses an agent may choose; the others (ringing, on-call, wrap-up) follow calls.
CHOOSABLE = ("available", "away", "offline")
# Every process with open consoles refreshes their agents' `console_seen_at` this often;
# an agent whose heartbeat is older than CONSOLE_STALE_SECONDS has no live console.
CONSOLE_HEARTBEAT_SECONDS = 5
CONSOLE_STALE_SECONDS = 3 * CONSOLE_HEARTBEAT_SECONDS
# Compared against when the username is unknown, so both paths cost the same.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class AgentError(Refusal, ValueError):
    """An agent account or presence change was refused; the message says why. With `field`,
    `str()` is "field: why" (the command line, the audit log) and the template the why."""

    def __init__(self, message: str = "", field: str | None = None, **values: object) -> None:
        super().__init__(message, **values)
        self.field = field
        if field:
            self.args = (f"{field}: {self.args[0]}",)


def hash_password(password: str) -> str:
    """A salted scrypt hash (the current Werkzeug default)."""
    if len(password) < MIN_PASSWORD:
        raise AgentError(N_("at least {limit} characters"), field="password", limit=MIN_PASSWORD)
    return generate_password_hash(password, method="scrypt")


def _list(values: Iterable[str]) -> list[str]:
    return sorted({value.strip() for value in values if value.strip()})


def check_username(username: str) -> str:
    """The username as stored (lower case); AgentError when it is not one."""
    username = username.strip().lower()
    if not USERNAME.fullmatch(username):
        raise AgentError(
            N_("2-64 of a-z, 0-9, '.', '_' or '-', starting with a letter"), field="username"
        )
    return username


def check_number(agent_number: str) -> str:
    """The agent number announced to callers: 3 to 8 digits."""
    agent_number = agent_number.strip()
    if not AGENT_NUMBER.fullmatch(agent_number):
        raise AgentError(N_("3 to 8 digits (it is announced to callers)"), field="number")
    return agent_number


def check_role(role: str) -> str:
    """One of ROLES."""
    if role not in ROLES:
        raise AgentError(N_("one of {choices}"), field="role", choices=", ".join(ROLES))
    return role


def check_name(display_name: str) -> str:
    """The name shown on consoles, trimmed; required."""
    if not display_name.strip():
        raise AgentError(N_("required"), field="name")
    if len(display_name.strip()) > 120:
        raise AgentError(N_("at most {limit} characters"), field="name", limit=120)
    return display_name.strip()


def number_free(session: Session, agent_number: str, but: int | None = None) -> None:
    """AgentError when another agent (not `but`) has this number."""
    query = select(Agent.id).where(Agent.agent_number == agent_number)
    if but is not None:
        query = query.where(Agent.id != but)
    if session.scalar(query):
        raise AgentError(N_("{value} is taken"), field="number", value=agent_number)


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
    takes_calls_on: str | None = None,
    auto_answer: bool = False,
) -> Agent:
    """Add an agent; usernames and agent numbers are unique. They take calls on their phone
    if they have one, else in the browser, unless `takes_calls_on` says otherwise."""
    username = check_username(username)
    agent_number = check_number(agent_number)
    role = check_role(role)
    display_name = check_name(display_name)
    takes_calls_on = takes_calls_on or ("phone" if phone else "browser")
    check_call_device(takes_calls_on, phone)
    if session.scalar(select(Agent.id).where(Agent.username == username)):
        raise AgentError(N_("{value} is taken"), field="username", value=repr(username))
    number_free(session, agent_number)
    agent = Agent(
        username=username,
        display_name=display_name,
        agent_number=agent_number,
        role=role,
        skills=_list(skills),
        languages=_list(languages),
        phone=phone,
        takes_calls_on=takes_calls_on,
        auto_answer=auto_answer,
        password_hash=hash_password(password),
        status="offline",
        status_since=utcnow(),
        active=True,
    )
    session.add(agent)
    session.flush()
    return agent


def check_device(value: object) -> str:
    """Where the bridge rings an agent: "browser" (the console's softphone) or "phone"."""
    if value not in CALL_DEVICES:
        raise AgentError(
            N_("one of {choices}"), field="takes_calls_on", choices=", ".join(CALL_DEVICES)
        )
    return str(value)


def check_call_device(takes_calls_on: str, phone: str | None) -> None:
    """Refuse a place to take calls that does not exist, or a phone the agent has not got."""
    check_device(takes_calls_on)
    if takes_calls_on == "phone" and not phone:
        raise AgentError(
            N_(
                "calls cannot go to a phone without a phone number "
                "(add the agent's phone first, or take calls in the browser)"
            ),
            field="takes_calls_on",
        )


def set_call_preferences(
    agent: Agent,
    *,
    takes_calls_on: str | None = None,
    auto_answer: bool | None = None,
    phone: str | None = None,
    clear_phone: bool = False,
) -> Agent:
    """Change where `agent` takes calls ("browser" or "phone"), whether the softphone answers
    by itself, and their phone number (already normalized; `clear_phone` removes it).
    Raises AgentError (nothing changed) when the result would send calls to no phone.

    >>> set_call_preferences(agent, takes_calls_on="phone", phone="+8613912345678")
    """
    new_phone = None if clear_phone else (phone if phone is not None else agent.phone)
    device = takes_calls_on if takes_calls_on is not None else agent.takes_calls_on
    check_call_device(device, new_phone)
    agent.phone = new_phone
    agent.takes_calls_on = device
    if auto_answer is not None:
        agent.auto_answer = auto_answer
    return agent


def call_preferences(agent: Agent) -> dict[str, object]:
    """Where `agent` takes calls, as the console and admin pages show it."""
    return {
        "takes_calls_on": agent.takes_calls_on,
        "auto_answer": bool(agent.auto_answer),
        "phone": agent.phone,
    }


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


def keep_an_admin(session: Session, agent: Agent) -> None:
    """AgentError if `agent` is the last active admin: taking their role or account away
    would leave nobody to manage the team."""
    if agent.role != "admin" or not agent.active:
        return
    others = session.scalar(
        select(func.count(Agent.id)).where(
            Agent.role == "admin", Agent.active.is_(True), Agent.id != agent.id
        )
    )
    if not others:
        raise AgentError(f"{agent.username} is the last active admin")


def deactivate_agent(session: Session, username: str) -> Agent:
    """Take an account out of service: no login, no calls, every session ended."""
    agent = find_agent(session, username)
    if not agent.active:
        raise AgentError(f"{agent.username} is already inactive")
    keep_an_admin(session, agent)
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
        raise AgentError(N_("one of {choices}"), field="status", choices=", ".join(AGENT_STATUSES))
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


def mark_consoles_seen(session: Session, agent_ids: Collection[int], now: datetime) -> None:
    """The console heartbeat: these agents have a live console now (one UPDATE for all).

    On PostgreSQL rows locked by a routing step are skipped rather than waited for (no
    deadlock with an accept); they are refreshed on the next beat, well before going stale.
    """
    if not agent_ids:
        return
    wanted = Agent.id.in_(sorted(agent_ids))
    if session.get_bind().dialect.name == "postgresql":
        unlocked = select(Agent.id).where(wanted).with_for_update(skip_locked=True)
        wanted = Agent.id.in_(unlocked.scalar_subquery())
    session.execute(update(Agent).where(wanted).values(console_seen_at=now))


def live_console_cutoff(now: datetime, consoles_since: datetime | None = None) -> datetime:
    """Heartbeats older than this mean no live console.

    `consoles_since` (when the dispatching process started) ignores heartbeats written
    before it: after a crash and a quick restart they belong to consoles that died.
    """
    cutoff = now - timedelta(seconds=CONSOLE_STALE_SECONDS)
    return max(cutoff, consoles_since) if consoles_since is not None else cutoff


SOFTPHONE_STATES = ("ready", "unreachable")


def set_softphone_state(agent: Agent, state: str, now: datetime) -> bool:
    """Record what the agent's console says of its softphone: "ready" (registered) or
    "unreachable" (it cannot register: Twilio cannot be reached). While unreachable, an agent
    who takes calls in the browser is not offered calls (`Agent.can_ring`). Returns whether
    anything changed (a repeated report changes nothing)."""
    if state not in SOFTPHONE_STATES:
        raise AgentError(N_("one of {choices}"), field="state", choices=", ".join(SOFTPHONE_STATES))
    if state == "ready":
        if agent.softphone_unreachable_since is None:
            return False
        agent.softphone_unreachable_since = None
        return True
    if agent.softphone_unreachable_since is not None:
        return False
    agent.softphone_unreachable_since = now
    return True


def has_live_console(agent: Agent, cutoff: datetime) -> bool:
    """Whether the agent's console heartbeat is at or after `cutoff`."""
    return agent.console_seen_at is not None and agent.console_seen_at >= cutoff
