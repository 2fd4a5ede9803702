"""The executor of every job, chosen by ``$ANIMESPEECH_EXECUTOR``:

- unset: Dagster's default (a process per step, on the machine of the run);
- ``celery`` (``animespeech cluster up``, deploy/docker-compose.yml): each step is a Celery task,
  CPU steps on the default queue and ``pool="gpu"`` steps on the ``gpu`` queue (defs/pools.py);
- ``k8s`` (deploy/helm): each step is a Kubernetes Job, with the run launcher's image, environment and
  volumes; GPU steps ask for ``nvidia.com/gpu`` through their ``dagster-k8s/config`` tag.

The CLI's own runs (``animespeech materialize``) execute in its process either way.
"""

from __future__ import annotations

import os

import dagster as dg

from animespeech_assets.cluster.settings import BACKEND_ENV, BROKER_ENV, CELERY_SETTINGS, EXECUTOR_ENV


def deployment_executor() -> dg.ExecutorDefinition | None:
    kind = os.environ.get(EXECUTOR_ENV, "")
    if not kind:
        return None
    if kind == "celery":
        from dagster_celery import celery_executor

        # the URLs are read from the environment when a run starts, not written into the job's snapshot
        return celery_executor.configured(
            {"broker": {"env": BROKER_ENV}, "backend": {"env": BACKEND_ENV}, "config_source": CELERY_SETTINGS}, name="celery")
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"{EXECUTOR_ENV}={kind!r}: use celery, k8s, or leave it unset for Dagster's default")
