"""`GET /metrics`: this process's figures in Prometheus's text format (prometheus-client).

Measured as they happen: the time each Twilio webhook took, per route, each dispatcher
pass, and on SQLite how long each write transaction waited for the write lock and held it,
per caller (a route, a Socket.IO event or the background function); one held or waited for
`SLOW_WRITE_SECONDS` or more is also logged. Read from the database when scraped: callers
waiting and the oldest wait per queue, agents by state (and those available whose softphone
cannot ring), the recording download backlog,
the deletions of erased people's recordings at Twilio not done (failed ones included).
Read from this process: its open console sockets. Each process serves its own registry
(see docs/deployment.md#metrics).

Access: with `CALLCENTER_METRICS_TOKEN` set, only `Authorization: Bearer <token>`;
without it, only a direct request from loopback (a proxied one, carrying
`X-Forwarded-For`, is refused: behind nginx every request comes from loopback).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, abort, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, not_, select

from callcenter.media.downloads import PENDING, RUNNING
from callcenter.media.models import RemoteRecordingDeletion
from callcenter.media.remote_erasure import FAILED
from callcenter.models import AGENT_STATUSES, Agent, RecordingDownload
from callcenter.services import Services, get_services
from callcenter.web.boards import queue_summary

bp = Blueprint("prometheus", __name__)
DELETION_STATES = (PENDING, RUNNING, FAILED)  # a remote deletion not done yet

# Twilio gives up after 15 s; the targets are in tens of milliseconds.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
PASS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOCK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REGISTRY = "prometheus_registry"
TIMED_BLUEPRINTS = ("twilio", "twilio_bridge")  # the voice webhooks (twilio_hooks, bridge_hooks)
# A write transaction that waited for or held SQLite's write lock this long is logged.
SLOW_WRITE_SECONDS = 0.1

locks_log = logging.getLogger("callcenter.db")


class ScrapedFigures(Collector):
    """The figures read when Prometheus scrapes: queues, agents, sockets, downloads."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Any]:
        waiting = GaugeMetricFamily(
            "callcenter_queue_waiting", "Callers waiting on the line, per queue", labels=["queue"]
        )
        callbacks = GaugeMetricFamily(
            "callcenter_queue_callbacks", "Call-backs pending, per queue", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "callcenter_queue_oldest_wait_seconds",
            "How long the longest-waiting caller has waited, per queue (0: nobody waits)",
            labels=["queue"],
        )
        agents = GaugeMetricFamily("callcenter_agents", "Active agents by state", labels=["state"])
        not_ready = GaugeMetricFamily(
            "callcenter_agents_softphone_not_ready",
            "Active agents available but not offered calls: their browser softphone cannot ring",
        )
        backlog = GaugeMetricFamily(
            "callcenter_download_backlog",
            "Recording downloads not done yet, by status",
            labels=["status"],
        )
        deletions = GaugeMetricFamily(
            "callcenter_remote_deletions",
            "Erased people's recordings whose copy at Twilio is not deleted yet, by status "
            "(failed: given up until an admin retries)",
            labels=["status"],
        )
        with self.services.database.read_session() as session:
            for row in queue_summary(session, self.services):
                waiting.add_metric([row["name"]], row["waiting"])
                callbacks.add_metric([row["name"]], row["callbacks"])
                oldest.add_metric([row["name"]], row["longest_wait"])
            by_state = dict(
                session.execute(
                    select(Agent.status, func.count())
                    .where(Agent.active.is_(True))
                    .group_by(Agent.status)
                ).all()
            )
            unreachable = session.scalar(
                select(func.count()).where(
                    Agent.active.is_(True), Agent.status == "available", not_(Agent.can_ring)
                )
            )
            jobs = dict(
                session.execute(
                    select(RecordingDownload.status, func.count())
                    .where(RecordingDownload.status.in_((PENDING, RUNNING)))
                    .group_by(RecordingDownload.status)
                ).all()
            )
            remote = dict(
                session.execute(
                    select(RemoteRecordingDeletion.status, func.count())
                    .where(RemoteRecordingDeletion.status.in_(DELETION_STATES))
                    .group_by(RemoteRecordingDeletion.status)
                ).all()
            )
        for state in (*AGENT_STATUSES, *sorted(set(by_state) - set(AGENT_STATUSES))):
            agents.add_metric([state], by_state.get(state, 0))
        for status in (PENDING, RUNNING):
            backlog.add_metric([status], jobs.get(status, 0))
        not_ready.add_metric([], unreachable or 0)
        for status in DELETION_STATES:
            deletions.add_metric([status], remote.get(status, 0))
        yield from (waiting, callbacks, oldest, agents, not_ready, backlog, deletions)
        sockets = GaugeMetricFamily(
            "callcenter_sockets_connected",
            "Socket.IO connections open in this process, per namespace",
            labels=["namespace"],
        )
        counts = self.services.extras.get("socket_counts")
        for namespace, count in (counts() if counts else {}).items():
            sockets.add_metric([namespace], count)
        yield sockets


def init_app(app: Flask, services: Services) -> None:
    """Give this app its own registry, time its webhooks and dispatcher passes."""
    registry = CollectorRegistry(auto_describe=True)
    webhook = Histogram(
        "callcenter_webhook_seconds",
        "Time to answer a Twilio webhook, per route",
        ["route"],
        buckets=WEBHOOK_BUCKETS,
        registry=registry,
    )
    dispatcher = Histogram(
        "callcenter_dispatcher_pass_seconds",
        "Time of one dispatcher pass in this process",
        buckets=PASS_BUCKETS,
        registry=registry,
    )
    lock_wait = Histogram(
        "callcenter_write_lock_wait_seconds",
        "Time a write transaction waited for SQLite's write lock, per caller",
        ["caller"],
        buckets=LOCK_BUCKETS,
        registry=registry,
    )
    lock_held = Histogram(
        "callcenter_write_lock_held_seconds",
        "Time a write transaction held SQLite's write lock, per caller",
        ["caller"],
        buckets=LOCK_BUCKETS,
        registry=registry,
    )

    def _write_transaction(caller: str, waited: float, held: float) -> None:
        lock_wait.labels(caller).observe(waited)
        lock_held.labels(caller).observe(held)
        if waited >= SLOW_WRITE_SECONDS or held >= SLOW_WRITE_SECONDS:
            locks_log.info(
                "write lock: %s waited %.1f ms, held %.1f ms", caller, waited * 1e3, held * 1e3
            )

    if services.database.is_sqlite:
        services.database.lock_observers.append(_write_transaction)
    registry.register(ScrapedFigures(services))
    services.extras[REGISTRY] = registry
    realtime = services.extras.get("realtime")
    if realtime is not None:
        realtime.pass_observers.append(dispatcher.observe)

    @app.before_request
    def _started() -> None:
        if request.blueprint in TIMED_BLUEPRINTS:
            g.webhook_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("webhook_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            webhook.labels(route).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


def _allowed(token: str | None) -> bool:
    if token:
        offered = request.headers.get("Authorization", "")
        return hmac.compare_digest(offered.encode(), f"Bearer {token}".encode())
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics() -> Response:
    """This process's figures for Prometheus (401 without the token, 403 from afar)."""
    services = get_services()
    token = services.settings.metrics_token
    if not _allowed(token):
        abort(401 if token else 403)
    body = generate_latest(services.extras[REGISTRY])
    return Response(body, content_type=CONTENT_TYPE_LATEST)
