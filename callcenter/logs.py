"""A log to operate from: one line per request and per business event at INFO.

The rest (Twilio REST traffic, Socket.IO emits, polling, static files, werkzeug's own access
line) is at DEBUG, and nothing carries terminal colour codes. See docs/configuration.md.

>>> configure_logging("INFO")  # doctest: +SKIP
>>> install_request_log(app)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log at INFO for every REST request (headers included) or Socket.IO emit.
CHATTY = ("twilio.http_client", "callcenter.socketio", "socketio", "engineio")
ANSI = re.compile(r"\x1b\[[0-9;]*m")

requests_log = logging.getLogger("callcenter.http")


class _PlainText(logging.Filter):
    """Strip terminal colour codes (werkzeug adds them) unless stderr is a terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        if sys.stderr.isatty():
            return True
        message = record.getMessage()
        if "\x1b[" in message:
            record.msg, record.args = ANSI.sub("", message), None
        return True


_PLAIN = _PlainText()


def configure_logging(level: str) -> None:
    """Log to stderr at `level`; chatty libraries only from WARNING unless `level` is DEBUG."""
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger().setLevel(level)  # also when something else installed the handlers
    chatty = logging.NOTSET if level == "DEBUG" else logging.WARNING
    for name in CHATTY:
        logging.getLogger(name).setLevel(chatty)
    werkzeug = logging.getLogger("werkzeug")
    if _PLAIN not in werkzeug.filters:
        werkzeug.addFilter(_PLAIN)


def _quiet(method: str, path: str) -> bool:
    """Requests a page makes by itself, over and over: logged at DEBUG."""
    if path.startswith("/static/") or path in ("/favicon.ico", "/healthz", "/metrics"):
        return True
    if method != "GET":
        return False
    return path == "/phone/messages" or (
        path.startswith("/phone/calls/") and path.endswith("/events")
    )


def install_request_log(app: Flask) -> None:
    """One line per request: method, path, status, time taken, and the CallSid of webhooks."""

    @app.before_request
    def _started() -> None:
        g.request_started = time.monotonic()

    @app.after_request
    def _log_request(response: Response) -> Response:
        level = logging.DEBUG if _quiet(request.method, request.path) else logging.INFO
        if not requests_log.isEnabledFor(level):
            return response
        started = g.get("request_started")
        took = f" {(time.monotonic() - started) * 1000:.0f}ms" if started else ""
        sid = ""
        if request.path.startswith("/twilio/"):
            try:
                call_sid = request.values.get("CallSid") or request.values.get("ParentCallSid")
            except HTTPException:  # a body too large to read: the request failed anyway
                call_sid = None
            sid = f" CallSid={call_sid}" if call_sid else ""
        target = request.full_path if request.query_string else request.path
        requests_log.log(level, "%s %s %s%s%s", request.method, target, response.status_code,
                         took, sid)  # fmt: skip
        return response


class RequestHandler(WSGIRequestHandler):
    """werkzeug's development server handler: its access line at DEBUG, without colours.

    The application logs each request itself (see `install_request_log`); this line also
    covers Socket.IO's long-polling, which never reaches Flask.
    """

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("werkzeug").debug(
            '%s "%s" %s %s', self.address_string(), self.requestline, code, size
        )

    def log(self, type: str, message: str, *args: Any) -> None:
        level = logging.getLevelName(type.upper())
        logging.getLogger("werkzeug").log(
            level if isinstance(level, int) else logging.INFO,
            "%s " + message,
            self.address_string(),
            *args,
        )
