"""What the boards are built from: the queue summary (`queues`, on every console and
wallboard), and `BoardSignal`, which tells every serving process through Redis that its
boards may have changed."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Text, cast, func, select

from callcenter.calls.queues import WAITING
from callcenter.models import Agent, Call, utcnow
from callcenter.services import Services

log = logging.getLogger("callcenter.realtime")

BOARD_CHANNEL = "callcenter:wallboard"  # the Redis channel of `BoardSignal`


def queue_summary(session: Any, services: Services) -> list[dict[str, Any]]:
    """Per queue: callers waiting on the line, call-backs pending (both keep their place
    until dequeued), when the longest wait on the line began, and the agents free: available
    with the queue's skills and offered calls (`Agent.can_ring`: not a browser softphone
    that cannot ring)."""
    now = utcnow()
    rows = session.execute(
        select(Call.queue, Call.outcome, func.count(), func.min(Call.enqueued_at))
        .where(Call.outcome.in_(WAITING), Call.dequeued_at.is_(None))
        .group_by(Call.queue, Call.outcome)
    ).all()
    counts = {(queue, outcome): (count, oldest) for queue, outcome, count, oldest in rows}
    # Agents with the same skills are counted once per distinct skill set.
    skill_sets = session.execute(
        select(cast(Agent.skills, Text), func.count())
        .where(Agent.status == "available", Agent.active.is_(True), Agent.can_ring)
        .group_by(cast(Agent.skills, Text))
    ).all()
    available = [(set(json.loads(skills or "[]")), count) for skills, count in skill_sets]
    summary = []
    for name, queue in services.settings.queues.items():
        waiting, oldest = counts.get((name, "queued"), (0, None))
        callbacks, _ = counts.get((name, "callback"), (0, None))
        needed = set(queue.skills)
        summary.append(
            {
                "name": name,
                "display_name": queue.display_name,
                "waiting": waiting,
                "callbacks": callbacks,
                "longest_wait": max(0, int((now - oldest).total_seconds())) if oldest else 0,
                "oldest_since": oldest.isoformat() if oldest else None,
                "agents_available": sum(n for skills, n in available if needed <= skills),
            }
        )
    return summary


class BoardSignal:
    """ "The wallboard and the queue summary may have changed", told to every serving
    process through Redis publish/subscribe: a process whose pages and consoles are
    affected by a change made in another process (a webhook it served, its dispatcher's
    pass) builds them again for its own sockets.
    What changed is read from the database; the signal carries only who sent it."""

    def __init__(self, url: str, received: Callable[[], None]) -> None:
        import redis  # the `deploy` extra: only a process given a message queue needs it

        self._redis = redis.Redis.from_url(url)
        self._errors: type[Exception] = redis.RedisError
        self._received = received
        self.origin = uuid.uuid4().hex

    def send(self) -> None:
        """Tell the other processes (a Redis outage costs their pages the update, not this
        request: they catch up at the next change, or reconnect)."""
        try:
            self._redis.publish(BOARD_CHANNEL, self.origin)
        except self._errors as exc:
            log.warning("could not signal the wallboard through Redis: %s", exc)

    def listen(self, stop: threading.Event) -> None:
        """Call `received` for each signal from another process, until `stop`."""
        while not stop.is_set():
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(BOARD_CHANNEL)
                # Whatever happened while (re)subscribing is not lost: rebuild once.
                self._received()
                while not stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("data") != self.origin.encode():
                        self._received()
                pubsub.close()
            except self._errors as exc:
                log.warning("wallboard signals from Redis interrupted: %s", exc)
                stop.wait(1.0)
