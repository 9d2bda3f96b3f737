"""Console sign-in: `POST /api/login`, `POST /api/logout`, `GET /api/me`.

Sessions are Flask's signed cookies (HttpOnly, SameSite=Lax, Secure behind https): they
hold the agent's id, role, login time and the agent's `session_epoch` at login, never the
password or its hash. A login lasts `session_hours` from the moment of login (not from the
last request), and ends earlier when the agent logs out (anywhere), their password changes
or they are deactivated: each of those raises `session_epoch`, which outdates every session.

Other blueprints protect their routes with `login_required`; Socket.IO handlers call
`current_agent()` themselves::

    @bp.post("/api/queues/<name>/pause")
    @login_required("supervisor")
    def pause(name): ...

    @socketio.on("connect")
    def connect(auth):
        agent = current_agent()
        if agent is None:
            raise ConnectionRefusedError("login required")

Login CSRF: /api/login and /api/logout only accept `Content-Type: application/json`, which
a cross-site HTML form cannot send (and script can only send after a CORS preflight that
this app never grants).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, g, jsonify, request, session
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue

from callcenter.db import Database, get_database, get_session
from callcenter.models import ROLES, Agent
from callcenter.people import login_throttle
from callcenter.people.agents import end_sessions, login_candidate, password_matches
from callcenter.people.login_throttle import ThrottlePolicy
from callcenter.web.limits import MAX_JSON_BYTES, JsonRefused, load_json
from callcenter.web.session_guard import session_guard

bp = Blueprint("auth", __name__)

# agent < supervisor < admin: a role passes every check for the roles below it.
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
INVALID_CREDENTIALS = "invalid username or password"
MAX_USERNAME = 256  # usernames are at most 64; longer ones are garbage
MAX_PASSWORD = 1024  # scrypt of a megabyte-long "password" is a denial of service

F = TypeVar("F", bound=Callable[..., Any])


def _epoch() -> float:
    """Wall-clock seconds (a function so tests can move time)."""
    return time.time()


class LoginThrottle:
    """Slows password guessing (see callcenter/people/login_throttle.py) and bounds hashing.

    The counts live in the database, so every process shares them. At most
    `hashing_slots` passwords are hashed at once in this process (scrypt takes a core for
    about 0.1 s); a login that cannot start hashing within `hashing_wait` seconds is
    answered 503, so a flood of logins leaves the webhooks their threads and CPU.
    """

    def __init__(
        self,
        database: Database,
        policy: ThrottlePolicy | None = None,
        clock: Callable[[], float] = time.time,
        hashing_slots: int = 1,
        hashing_wait: float = 1.0,
    ) -> None:
        self.database = database
        self.policy = policy or ThrottlePolicy()
        self.clock = clock
        self.hashing = threading.BoundedSemaphore(hashing_slots)
        self.hashing_wait = hashing_wait

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def retry_after(self, username: str, address: str) -> int:
        """Whole seconds until this login may be tried (0: now)."""
        with self.database.session() as session:
            wait = login_throttle.wait_seconds(session, self.policy, username, address, self.now())
        return math.ceil(wait) if wait > 0 else 0

    def failure(self, username: str, address: str) -> None:
        with self.database.session() as session:
            login_throttle.record_failure(session, self.policy, username, address, self.now())

    def success(self, username: str, address: str) -> None:
        with self.database.session() as session:
            login_throttle.record_success(session, username, address)


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    """Sessions last `session_hours`; each app gets its own throttle."""
    settings = state.app.extensions["callcenter"].settings
    state.app.permanent_session_lifetime = timedelta(hours=settings.session_hours)
    state.app.extensions["auth_throttle"] = LoginThrottle(
        state.app.extensions["callcenter"].database
    )


def throttle() -> LoginThrottle:
    return current_app.extensions["auth_throttle"]


def json_error(status: int, message: str) -> Response:
    """A JSON error answer: `{"error": message}` with `status`."""
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _session_age_ok() -> bool:
    since = session.get("since")
    if not isinstance(since, int | float) or isinstance(since, bool):
        return False
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    return -60 <= _epoch() - since <= lifetime  # a minute of clock skew between workers


def current_agent() -> Agent | None:
    """The logged-in, active agent of this request (or Socket.IO event), else None.

    Reads `flask.session` and the database on every call, so a deactivated agent is
    refused at once, and their role is the current one, not the one they logged in with.
    """
    agent_id = session.get("agent_id")
    if not isinstance(agent_id, int) or isinstance(agent_id, bool) or not _session_age_ok():
        return None
    # A short session of its own, closed at once: the agent comes back detached with its
    # columns loaded, and no transaction (a write lock on SQLite) is left open behind it.
    with get_database().sessions() as db_session:
        agent = db_session.get(Agent, agent_id)
    if agent is None or not agent.active or session.get("epoch") != agent.session_epoch:
        return None  # deactivated, or logged out / password changed since this login
    return agent


def has_role(agent: Agent, role: str) -> bool:
    """Whether `agent` holds `role` or a higher one (agent < supervisor < admin)."""
    return ROLE_RANK.get(agent.role, -1) >= ROLE_RANK[role]


def login_required(*roles: str) -> Callable[[F], F]:
    """Let only logged-in agents through: 401 when logged out, 403 without the role.

    `login_required()` admits any active agent; `login_required("supervisor")` admits
    supervisors and admins. Several roles admit anyone holding at least the lowest one.
    The view finds the agent (detached) in `flask.g.agent`.
    """
    unknown = [role for role in roles if role not in ROLE_RANK]
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    minimum = min((ROLE_RANK[role] for role in roles), default=0)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            agent = current_agent()
            if agent is None:
                return json_error(401, "login required")
            if ROLE_RANK.get(agent.role, -1) < minimum:
                return json_error(403, f"requires the {ROLES[minimum]} role")
            g.agent = agent
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def json_object(what: str = "a JSON object") -> dict[str, Any]:
    """The request's JSON object (``{}`` for an empty body); 415 or 400 otherwise (aborts)."""
    refused = require_json()
    if refused is not None:
        abort(refused)
    if not request.content_length and not request.get_data():
        return {}
    body = _json_body()
    if not isinstance(body, dict):
        abort(json_error(400, f"expected {what}"))
    return body


def _json_body() -> Any:
    """The parsed body (None if it is not JSON); 400 when too large or too deep (aborts)."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        abort(json_error(400, f"the JSON body is larger than {MAX_JSON_BYTES} bytes"))
    try:
        return load_json(request.get_data())
    except JsonRefused as exc:
        abort(json_error(400, str(exc)))
    except ValueError:
        return None


def require_json() -> Response | None:
    if not request.is_json:
        return json_error(415, "send Content-Type: application/json")
    return None


@bp.post("/api/login")
def login() -> ResponseReturnValue:
    """`{"username", "password"}` → `{"agent": ...}` and a session cookie."""
    refused = require_json()
    if refused is not None:
        return refused
    body = _json_body()
    if not isinstance(body, dict):
        return json_error(400, "expected a JSON object with username and password")
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return json_error(400, "username and password are required strings")
    if not username.strip() or not password:
        return json_error(400, "username and password are required")
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        return json_error(400, "username or password too long")

    limiter = throttle()
    address = request.remote_addr or "unknown"  # behind a proxy: see docs/deployment.md
    wait = limiter.retry_after(username, address)
    if wait:
        response = json_error(429, "too many failed logins; try again later")
        response.headers["Retry-After"] = str(wait)
        return response
    # Read the account in a short session of its own and hash with no transaction open:
    # on SQLite a transaction holds the write lock that every webhook needs.
    with get_database().sessions() as db_session:
        agent = login_candidate(db_session, username)
    if not limiter.hashing.acquire(timeout=limiter.hashing_wait):
        response = json_error(503, "too many logins at once; try again")
        response.headers["Retry-After"] = "1"
        return response
    try:
        matches = password_matches(agent, password)
    finally:
        limiter.hashing.release()
    if agent is None or not matches:
        limiter.failure(username, address)
        return json_error(401, INVALID_CREDENTIALS)
    limiter.success(username, address)
    session.clear()  # a fresh session: nothing carried over from before the login
    session["agent_id"] = agent.id
    session["role"] = agent.role
    session["since"] = int(_epoch())
    session["epoch"] = agent.session_epoch
    session.permanent = True
    return jsonify({"agent": agent.public()})


@bp.post("/api/logout")
def logout() -> ResponseReturnValue:
    """End every session of the agent, on every device (204 whether or not there was one).

    Their open consoles are told (`session:ended`) and disconnected.
    """
    refused = require_json()
    if refused is not None:
        return refused
    agent = current_agent()
    session.clear()
    if agent is not None:
        db_session = get_session()
        end_sessions(db_session, agent.id)
        db_session.commit()
        guard = session_guard(current_app.extensions["callcenter"])
        if guard is not None:
            guard.end(agent.id, "logged out")
    return "", 204


@bp.get("/api/me")
def me() -> ResponseReturnValue:
    agent = current_agent()
    if agent is None:
        return json_error(401, "not logged in")
    return jsonify({"agent": agent.public()})
