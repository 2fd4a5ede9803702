"""The executor of every job: Dagster's default (one process per step) unless this process belongs to
a cluster (``animespeech cluster up`` sets the broker in the environment of the daemon, the UI and
the workers), where each step is a Celery task, CPU steps on the default queue and ``pool="gpu"``
steps on the ``gpu`` queue (defs/pools.py). The CLI's own runs execute in its process either way."""

from __future__ import annotations

import dagster as dg

from animespeech_assets.cluster.settings import BACKEND_ENV, BROKER_ENV, CELERY_SETTINGS, celery_urls


def deployment_executor() -> dg.ExecutorDefinition | None:
    if celery_urls() is None:
        return None
    from dagster_celery import celery_executor

    # the URLs are read from the environment when a run starts, not written into the job's snapshot
    return celery_executor.configured(
        {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}, "config_source": CELERY_SETTINGS},
        name="celery",
    )
