"""How many steps each worker has started, written by the workers themselves into Redis (the broker).

Each worker sets its own count to 0 when it is ready and adds one just before it runs a step (Celery's
``task_prerun``, which comes before the step is marked ``STARTED``): so a worker killed in the middle of
its first step counts that step, and ``cluster status`` reads the same figures for live and dead
workers, on one machine or many, without sampling them.
"""

from __future__ import annotations

from celery import Celery

KEY = "animespeech:steps-started"  # a Redis hash: worker name -> steps started since it was ready


def reset(app: Celery, worker: str) -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.client.hset(KEY, worker, 0)


def record_start(app: Celery, worker: str) -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.client.hincrby(KEY, worker, 1)


def started(app: Celery) -> dict[str, int]:
    """Steps each worker has started since it was ready (the one it was running when it died included)."""
    with app.connection_for_write() as conn:
        raw = conn.default_channel.client.hgetall(KEY)
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
