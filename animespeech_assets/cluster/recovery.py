"""A dead worker's steps run again.

With late acknowledgement (settings.CELERY_SETTINGS) a step's message stays in Redis's ``unacked``
table until the step ends. Redis hands such a message out again only after the visibility timeout
(hours, so that long steps are not run twice), so when a worker dies, :func:`requeue_lost` puts its
messages back on their queues at once: those whose step is ``STARTED`` on a worker that is not
alive, and those delivered over ``grace`` seconds ago that no worker ever started. (A message is
left alone for its first ``settle`` seconds after a delivery: a worker that has just taken a
requeued step has not yet written that it started it.) The run waiting
for the step's result gets it from whichever worker runs it next; nothing is run twice, because a
live worker's messages are never touched.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from celery import Celery, states


@dataclass(frozen=True)
class Lost:
    tag: str  # the delivery tag in kombu's unacked table
    task_id: str
    queue: str
    worker: str | None  # the dead worker that had started it; None: delivered, never started


def lost_deliveries(app: Celery, alive: set[str], grace: float = 30.0, settle: float = 10.0, now: float | None = None) -> list[Lost]:
    now = time.time() if now is None else now
    found = []
    with app.connection_for_write() as conn:
        qos = conn.default_channel.qos
        client = conn.default_channel.client
        for tag, raw in client.hgetall(qos.unacked_key).items():
            message, _exchange, routing_key = json.loads(raw)
            task_id = message["headers"]["id"]
            meta = app.backend.get_task_meta(task_id)
            delivered = client.zscore(qos.unacked_index_key, tag) or now
            worker = (meta.get("result") or {}).get("hostname") if meta["status"] == states.STARTED else None
            if meta["status"] in states.READY_STATES:
                continue  # finished; its acknowledgement is on the way
            age = now - delivered
            if (worker and worker not in alive and age > settle) or (worker is None and age > grace):
                found.append(Lost(tag.decode() if isinstance(tag, bytes) else tag, task_id, routing_key, worker))
    return found


def requeue_lost(app: Celery, alive: set[str], grace: float = 30.0) -> list[Lost]:
    """Put the lost messages back on their queues; returns them."""
    lost = lost_deliveries(app, alive, grace)
    if lost:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for item in lost:
                channel.qos.restore_by_tag(item.tag, client=channel.client)
    return lost
