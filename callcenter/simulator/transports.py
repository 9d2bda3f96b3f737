"""How the simulator reaches the application: requests to its public URL, signed like Twilio's.

Requests go through a *transport* addressed by the public URL, exactly the URL Twilio would
call.  :class:`HttpTransport` maps it onto a running server, :class:`WsgiTransport` onto an
in-process WSGI app.  Nothing outside the public URL is ever requested.
:func:`send_signed` signs a webhook or callback with ``X-Twilio-Signature`` as Twilio does
and writes it down as an :class:`Exchange`.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

API_VERSION = "2010-04-01"
"""The version in the path of Twilio's REST API (``/2010-04-01/Accounts/...``)."""
USER_AGENT = "TwilioProxy/1.1 (callcenter simulator)"

# -- transports -----------------------------------------------------------------------------


class TransportError(Exception):
    """A request could not be made (connection refused, timeout, ...)."""


class OutsideSimulatorError(TransportError, ValueError):
    """A URL outside the public URL: the simulator never talks to the internet."""


@dataclass
class TransportResponse:
    """What a transport hands back: the parts of a response the simulator reads."""

    status_code: int
    content: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


class Transport(Protocol):
    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse: ...


def _origin(parts: Any) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a malformed port
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def is_under(base_url: str, url: str) -> bool:
    """Whether ``url`` is ``base_url`` or below it (same scheme, host, port and path prefix)."""
    base = urlsplit(base_url.rstrip("/"))
    parts = urlsplit(url)
    base_path = base.path.rstrip("/")
    return (
        _origin(parts) == _origin(base)
        and not parts.username
        and (not base_path or parts.path == base_path or parts.path.startswith(base_path + "/"))
    )


class _BaseTransport:
    """Maps public URLs (what Twilio would request) onto the simulated server."""

    def __init__(self, public_url: str | None = None) -> None:
        self.public_url = public_url.rstrip("/") if public_url else None

    def bind(self, public_url: str) -> None:
        """Set the public URL this transport serves (a call does this on start)."""
        public_url = public_url.rstrip("/")
        if self.public_url is None:
            self.public_url = public_url
        elif self.public_url != public_url:
            raise ValueError(
                f"transport serves {self.public_url}, not {public_url}: use one transport "
                "per public URL"
            )

    def _split(self, url: str) -> tuple[Any, str]:
        """The parsed URL and its path+query below the public URL; raise if outside."""
        if self.public_url is None:
            raise ValueError("the transport has no public URL yet: call bind(public_url)")
        if not is_under(self.public_url, url):
            raise OutsideSimulatorError(
                f"refusing to request {url}: it is not under the public URL "
                f"{self.public_url} (the simulator never talks to the internet)"
            )
        parts = urlsplit(url)
        base_path = urlsplit(self.public_url).path.rstrip("/")
        rest = parts.path[len(base_path) :] + (f"?{parts.query}" if parts.query else "")
        return parts, rest


class HttpTransport(_BaseTransport):
    """Real HTTP to a running server at ``base_url`` (the public URL prefix is replaced).

    Adds ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` from the public URL, as a tunnel or
    proxy in front of the app would.  Close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        base_url: str,
        public_url: str | None = None,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(public_url)
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._own_session = session is None
        self.session = session or requests.Session()

    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse:
        parts, rest = self._split(public_url)
        all_headers = {
            "X-Forwarded-Proto": parts.scheme,
            "X-Forwarded-Host": parts.netloc,
            **headers,
        }
        try:
            response = self.session.request(
                method,
                self.base_url + rest,
                data=data,
                headers=all_headers,
                files=files,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method} {public_url} failed: {exc}") from exc
        with response:
            return TransportResponse(response.status_code, response.content, response.headers)

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class WsgiTransport(_BaseTransport):
    """An in-process WSGI app through the Flask/werkzeug test client.

    The app sees the public scheme and host, and the request's path and query string.
    """

    def __init__(self, app: Any, public_url: str | None = None) -> None:
        super().__init__(public_url)
        self.app = app
        self._local = threading.local()

    @property
    def client(self) -> Any:
        """This thread's test client (one per thread: calls run in threads of their own)."""
        client = getattr(self._local, "client", None)
        if client is None:
            if hasattr(self.app, "test_client"):
                client = self.app.test_client()
            else:
                from werkzeug.test import Client

                client = Client(self.app)
            self._local.client = client
        return client

    def request(
        self,
        method: str,
        public_url: str,
        data: dict[str, str] | None,
        headers: dict[str, str],
        files: dict[str, tuple[str, bytes, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> TransportResponse:
        parts, _rest = self._split(public_url)
        body: dict[str, Any] | None = dict(data) if data is not None else None
        if files:
            body = body or {}
            for name, (filename, content, content_type) in files.items():
                body[name] = (io.BytesIO(content), filename, content_type)
        response = self.client.open(
            parts.path + (f"?{parts.query}" if parts.query else ""),
            method=method,
            base_url=f"{parts.scheme}://{parts.netloc}",
            data=body,
            headers=headers,
            auth=auth,
        )
        try:
            content = response.get_data()
        finally:
            response.close()
        return TransportResponse(response.status_code, content, response.headers)


@dataclass
class Exchange:
    """One HTTP request the simulator made and the status it got (None: no response)."""

    method: str
    url: str
    params: dict[str, str]
    status: int | None
    kind: str = "webhook"
    """``webhook`` (drives the call), ``callback`` (notifications), ``media``, ``api``."""
    body: str = ""


def send_signed(
    transport: Transport,
    validator: RequestValidator,
    url: str,
    method: str,
    params: Mapping[str, str],
    *,
    kind: str,
    exchanges: list[Exchange] | None = None,
) -> TransportResponse:
    """A request signed the way Twilio signs its webhooks; raises :class:`TransportError`.

    GET puts ``params`` in the query string (and signs the URL alone), anything else is a
    form-encoded POST.  The request is written down in ``exchanges`` (its status filled in
    when the answer arrives).
    """
    method = method.upper() if method.upper() in ("GET", "POST") else "POST"
    if method == "GET":
        split = urlsplit(url)
        url = split._replace(fragment="").geturl()
        if params:
            url += ("&" if split.query else "?") + urlencode(params)
        data = None
        signature = validator.compute_signature(url, {})
    else:
        data = dict(params)
        signature = validator.compute_signature(url, data)
    headers = {"X-Twilio-Signature": signature, "User-Agent": USER_AGENT, "Accept": "*/*"}
    exchange = Exchange(method, url, dict(params), None, kind)
    if exchanges is not None:
        exchanges.append(exchange)
    response = transport.request(method, url, data, headers)
    exchange.status = response.status_code
    content_type = str(response.headers.get("Content-Type", ""))
    if not content_type.startswith("audio/"):
        exchange.body = response.text
    return response
