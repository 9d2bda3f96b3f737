"""The consoles: login page, agent console (`/agent`) and wallboard (`/supervisor`)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from callcenter.services import get_services
from callcenter.web.auth import current_agent
from callcenter.web.limits import CONSOLE_CSP

bp = Blueprint("console", __name__, static_folder="../static", static_url_path="/static")

SOCKET_IO_CLIENT = Path("node_modules/socket.io-client/dist/socket.io.min.js")


@bp.after_request
def security_headers(response: Response) -> Response:
    """No inline script, no framing, no third-party anything (every console page)."""
    response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@bp.get("/")
def home() -> ResponseReturnValue:
    return redirect(url_for("console.agent_console"))


@bp.get("/login")
def login_page() -> ResponseReturnValue:
    return render_template("login.html", agent=None)


def _page(template: str, *roles: str) -> ResponseReturnValue:
    agent = current_agent()
    if agent is None:
        return redirect(url_for("console.login_page", next=request.path))
    if roles and agent.role not in roles:
        abort(403)
    settings = get_services().settings
    return render_template(
        template, agent=agent, dispositions=settings.dispositions, queues=settings.queues
    )


@bp.get("/agent")
def agent_console() -> ResponseReturnValue:
    """The agent console (any logged-in user)."""
    return _page("agent.html")


@bp.get("/supervisor")
def supervisor_console() -> ResponseReturnValue:
    """The live wallboard (supervisors and admins)."""
    return _page("supervisor.html", "supervisor", "admin")


@bp.get("/vendor/socket.io.min.js")
def vendor_socketio() -> ResponseReturnValue:
    """The Socket.IO client, installed from npm (`make install`), never from a CDN."""
    path = get_services().settings.path(str(SOCKET_IO_CLIENT))
    if not path.is_file():
        abort(503, "socket.io-client is not installed: run `make install` (npm install)")
    return send_file(path.resolve(), mimetype="text/javascript", max_age=3600)
