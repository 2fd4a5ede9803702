"""The cluster's facts in one place: where it keeps its files, its ports and URLs, the instance settings
``cluster up`` adds to ``dagster.yaml``, and the Celery settings that the executor and the workers share."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from animespeech_assets.core.environment import CLUSTER_MARK, instance_overlay

EXECUTOR_ENV = "ANIMESPEECH_EXECUTOR"  # celery (cluster up, docker-compose) or k8s (Helm); unset: Dagster's default
BROKER_ENV = "ANIMESPEECH_CELERY_BROKER"
BACKEND_ENV = "ANIMESPEECH_CELERY_BACKEND"
DEFAULT_QUEUE = "dagster"  # dagster-celery's default queue: CPU steps
GPU_QUEUE = "gpu"  # steps of pool="gpu" assets (defs/pools.py)
HOSTNAME = "animespeech"  # worker names are worker-N@animespeech: recovery matches them exactly

# Shared by the executor (in each run) and the workers; they must agree.
CELERY_SETTINGS = {
    # a step's message is acknowledged when the step ends, not when it starts: a worker that dies
    # mid-step leaves it unacknowledged, and recovery.py puts it back on its queue for another worker
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,  # a worker's pool process killed: Celery requeues the step itself
    "task_track_started": True,  # STARTED, with the worker's name, is how recovery knows who ran a step
    "worker_prefetch_multiplier": 1,  # a worker holds only the step it runs
    "broker_transport_options": {
        # Redis redelivers an unacknowledged message after this long; recovery does it at once for a dead
        # worker, so this only has to exceed the longest step (training an adapter)
        "visibility_timeout": 12 * 3600,
        "max_retries": 3, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5,  # dagster-celery's
    },
    "result_expires": 7 * 24 * 3600,
}


@dataclass(frozen=True)
class ClusterSettings:
    home: Path  # $DAGSTER_HOME
    workers: int = 2
    gpu_workers: int = 1  # the first N workers also take the gpu queue
    # below Linux's ephemeral range (32768-60999), where a client connection could hold the port
    postgres_port: int = 15432
    pooler_port: int = 16432  # PgBouncer in front of Postgres: what the instance connects to
    redis_port: int = 16379
    ui_port: int = 3000

    @property
    def root(self) -> Path:
        return self.home / "cluster"

    @property
    def state_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def instance_overlay(self) -> Path:
        return instance_overlay(self.home)

    @property
    def postgres_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pooler_port}/dagster"  # psycopg2: what dagster-postgres installs

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def backend_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/1"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    def worker_names(self) -> list[str]:
        return [f"worker-{i}@{HOSTNAME}" for i in range(1, self.workers + 1)]

    def worker_queues(self, index: int) -> list[str]:
        """Queues of worker ``index`` (0-based)."""
        return [DEFAULT_QUEUE, GPU_QUEUE] if index < self.gpu_workers else [DEFAULT_QUEUE]

    def environment(self) -> dict[str, str]:
        """What every process of the cluster (and a run's steps) needs in its environment."""
        return {"DAGSTER_HOME": str(self.home), EXECUTOR_ENV: "celery", BROKER_ENV: self.broker_url, BACKEND_ENV: self.backend_url}

    def instance_yaml(self) -> str:
        """The instance settings ``cluster up`` adds to the project's dagster.yaml (core/environment.py)."""
        return f"""{CLUSTER_MARK}, removed by `cluster down` ({self.state_file})
storage:
  postgres:
    postgres_url: {self.postgres_url}
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
run_launcher:
  module: dagster._core.launcher
  class: DefaultRunLauncher
run_retries:
  # a run whose run worker died is run again from where it failed; a step that failed is not
  enabled: true
  max_retries: 2
  retry_on_asset_or_op_failure: false
"""

    def to_json(self) -> dict:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict) -> ClusterSettings:
        return cls(**{**data, "home": Path(data["home"])})


def celery_urls() -> tuple[str, str] | None:
    """(broker, result backend) from the environment, None when no broker is set."""
    broker = os.environ.get(BROKER_ENV)
    return (broker, os.environ.get(BACKEND_ENV) or broker) if broker else None


def load_state(home: Path) -> dict | None:
    path = instance_overlay(home).parent / "cluster.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
