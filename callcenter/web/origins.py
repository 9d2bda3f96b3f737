"""Which browser origins may open the consoles' Socket.IO connections."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def console_origins(public_url: str) -> list[str]:
    """The public URL's origin; for a loopback public URL also its loopback aliases on the
    same scheme and port (a developer opens `localhost` or `127.0.0.1` alike)."""
    parts = urlsplit(public_url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    suffix = f":{port}" if port and port != _DEFAULT_PORTS.get(scheme) else ""
    shown = f"[{host}]" if ":" in host else host
    origins = [f"{scheme}://{shown}{suffix}"]
    if shown in LOOPBACK_HOSTS:
        origins += [f"{scheme}://{alias}{suffix}" for alias in LOOPBACK_HOSTS if alias != shown]
    return origins
