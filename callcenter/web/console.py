"""The consoles: login page, agent console (`/agent`) and wallboard (`/supervisor`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from callcenter.care.ticket_views import categories_payload
from callcenter.services import get_services
from callcenter.supervision.board import definitions as board_definitions
from callcenter.web.auth import current_agent
from callcenter.web.limits import CONSOLE_CSP, SOFTPHONE_CSP
from callcenter.web.origins import console_origins

bp = Blueprint("console", __name__, static_folder="../static", static_url_path="/static")

# Front-end libraries installed from npm (`make install`), served by the app, never a CDN.
VENDOR = {
    "socket.io.min.js": Path("node_modules/socket.io-client/dist/socket.io.min.js"),
    "chart.umd.min.js": Path("node_modules/chart.js/dist/chart.umd.min.js"),
    "dagre.min.js": Path("node_modules/@dagrejs/dagre/dist/dagre.min.js"),
    "twilio.min.js": Path("node_modules/@twilio/voice-sdk/dist/twilio.min.js"),
}
# The Chinese font for machines that have none (Noto Sans SC from npm, split by Unicode
# range: a browser fetches only the pieces holding the characters on its page).
FONT = Path("node_modules/@fontsource/noto-sans-sc")
_FONT_FILE = re.compile(r"(400|700)\.css|files/noto-sans-sc-[0-9a-z-]+\.woff2?")


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


DEFAULT_NEXT = "/agent"
_UNSAFE_IN_PATH = re.compile(r"[\x00-\x20\x7f\\]")  # controls, whitespace, backslash


def safe_next(value: str | None) -> str:
    """Where to go after logging in: `value` if it is a path of this site, else /agent.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    `/\\evil.example` or `/%09/evil.example` would leave the site; anything holding such
    a character, raw or percent-encoded, is refused, as is anything that is not a
    single-slash path (`//host`, `https://host`).
    """
    if not value or len(value) > 2048:
        return DEFAULT_NEXT
    decoded, previous = value, None
    for _ in range(5):  # percent-encoding nested a few levels deep
        if decoded == previous:
            break
        previous, decoded = decoded, unquote(decoded)
    for candidate in (value, decoded):
        if (
            not candidate.startswith("/")
            or candidate.startswith("//")
            or _UNSAFE_IN_PATH.search(candidate)
        ):
            return DEFAULT_NEXT
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc:
            return DEFAULT_NEXT
    return value


@bp.get("/login")
def login_page() -> ResponseReturnValue:
    """The login form; it goes to `?next=` after logging in only if `safe_next` allows it."""
    return render_template("login.html", agent=None, next=safe_next(request.args.get("next")))


def _page(template: str, *roles: str, **context: Any) -> ResponseReturnValue:
    agent = current_agent()
    if agent is None:
        return redirect(url_for("console.login_page", next=request.path))
    if roles and agent.role not in roles:
        abort(403)
    settings = get_services().settings
    return render_template(
        template,
        agent=agent,
        dispositions=settings.dispositions,
        queues=settings.queues,
        public_url=settings.public_url,
        console_origins=console_origins(settings.public_url),
        ticket_choices=categories_payload(settings),
        **context,
    )


@bp.app_context_processor
def _center_timezone() -> dict[str, str]:
    """Every page shows times in the call center's zone and says which (base.html)."""
    return {"center_timezone": get_services().settings.timezone}


@bp.get("/agent")
def agent_console() -> ResponseReturnValue:
    """The agent console (any logged-in user); with a real Twilio account its softphone is
    Twilio's Voice SDK, which talks to Twilio's servers (the page's CSP lets it)."""
    real = not get_services().settings.simulator
    response = make_response(_page("agent.html", softphone_sdk=real))
    if real and response.status_code == 200:
        response.headers["Content-Security-Policy"] = SOFTPHONE_CSP
    return response


@bp.get("/supervisor")
def supervisor_console() -> ResponseReturnValue:
    """The live wallboard (supervisors and admins). Its feed sends the figures' definitions
    in English to every wallboard; the page carries them in its reader's language."""
    settings = get_services().settings
    return _page("supervisor.html", "supervisor", "admin",
                 definitions=board_definitions(settings, gettext))  # fmt: skip


@bp.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The icon browsers ask for by themselves (pages link the same SVG); sent from memory,
    so a browser that drops the connection leaves no file open."""
    path = Path(bp.static_folder or "") / "favicon.svg"
    return Response(
        path.read_bytes(), mimetype="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


@bp.get(
    "/vendor/<any('socket.io.min.js', 'chart.umd.min.js', 'dagre.min.js', 'twilio.min.js'):name>"
)
def vendor(name: str) -> ResponseReturnValue:
    """Socket.IO's client, Chart.js, dagre and Twilio's Voice SDK, installed from npm, never
    from a CDN."""
    path = get_services().settings.path(str(VENDOR[name]))
    if not path.is_file():
        abort(503, f"{VENDOR[name].parts[1]} is not installed: run `make install` (npm install)")
    return send_file(path.resolve(), mimetype="text/javascript", max_age=3600)


@bp.get("/vendor/fonts/noto-sans-sc/<path:name>")
def font(name: str) -> ResponseReturnValue:
    """The bundled Chinese font's style sheets and files (docs/consoles.md), from npm."""
    if not _FONT_FILE.fullmatch(name):
        abort(404)
    path = get_services().settings.path(str(FONT / name))
    if not path.is_file():
        if not get_services().settings.path(str(FONT)).is_dir():
            abort(503, "@fontsource/noto-sans-sc is not installed: run `make install`")
        abort(404)
    mimetype = "text/css" if name.endswith(".css") else f"font/{path.suffix.lstrip('.')}"
    # Small pieces (tens of kB), sent from memory like the favicon: no file left open.
    return Response(
        path.read_bytes(), mimetype=mimetype, headers={"Cache-Control": "max-age=86400"}
    )
