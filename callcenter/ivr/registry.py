"""The flows in use, reloaded when their files change."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from callcenter.ivr.loader import FlowCatalog, FlowError, FlowSet, flow_files, load_flows

log = logging.getLogger("callcenter.flows")


class FlowRegistry:
    """The flows in use. Reloads changed files; a broken change keeps the last good flows."""

    def __init__(self, directory: Path, catalog: FlowCatalog, check_interval: float = 1.0) -> None:
        self.directory = directory
        self.catalog = catalog
        self.check_interval = check_interval
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._signature = self._files_signature()
        self._flows = load_flows(flow_files(directory), catalog)

    @property
    def flows(self) -> FlowSet:
        """Current flows, reloading first if files changed (checked at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at >= self.check_interval:
            self.reload_if_changed(now)
        return self._flows

    def _files_signature(self) -> tuple[tuple[str, float, int], ...]:
        signature = []
        for path in flow_files(self.directory):
            try:
                stat = path.stat()
            except OSError:
                continue
            signature.append((str(path), stat.st_mtime, stat.st_size))
        return tuple(signature)

    def reload_if_changed(self, now: float | None = None) -> bool:
        """Reload when files changed; returns True when new flows were taken."""
        with self._lock:
            self._checked_at = time.monotonic() if now is None else now
            signature = self._files_signature()
            if signature == self._signature:
                return False
            self._signature = signature
            return self._reload()

    def reload(self) -> bool:
        with self._lock:
            self._signature = self._files_signature()
            return self._reload()

    def _reload(self) -> bool:
        try:
            flows = load_flows(flow_files(self.directory), self.catalog)
        except FlowError as exc:
            self.last_error = str(exc)
            log.error("flow reload rejected, keeping the last good flows:\n%s", exc)
            return False
        self._flows = flows
        self.last_error = None
        log.info("flows reloaded: %s", ", ".join(sorted(flows.flows)))
        return True
