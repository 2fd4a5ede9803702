"""Backfills of the per-episode job through the instance, as the UI's "Launch backfill" makes them:
the daemon's backfill loop submits one run per partition, the run queue and the ``gpu`` pool pace
them, and the UI lists the backfill with its runs. :func:`progress` follows one to its end, through
the automatic retries of runs whose worker died."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG, PARTITION_NAME_TAG, ROOT_RUN_ID_TAG, WILL_RETRY_TAG
from dagster._core.utils import make_new_backfill_id
from dagster._time import get_current_timestamp

from animespeech_assets.core.environment import PROJECT_ROOT

from .run_hygiene import ACTIVE

JOB = "episode_job"


@contextlib.contextmanager
def remote_repository(instance: dg.DagsterInstance):
    """The project's code location as the daemon and the UI load it (workspace.yaml, in a code server)."""
    from dagster import __version__
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )

    opts = WorkspaceOpts(workspace=[str(PROJECT_ROOT / "workspace.yaml")])
    with get_workspace_from_cli_opts(instance, __version__, opts, log_level="warning") as workspace:
        yield get_remote_repository_from_code_location(get_code_location_from_workspace(workspace, None), None)


def submit(instance: dg.DagsterInstance, partitions: Sequence[str], asset_keys: Sequence[dg.AssetKey] | None,
           title: str | None = None) -> str:
    """Add a backfill of ``episode_job`` over ``partitions`` (only ``asset_keys`` if given); returns its id."""
    with remote_repository(instance) as repo:
        partition_set = next(p for p in repo.get_partition_sets() if p.job_name == JOB)
        backfill = PartitionBackfill(
            backfill_id=make_new_backfill_id(), partition_set_origin=partition_set.get_remote_origin(),
            status=BulkActionStatus.REQUESTED, partition_names=list(partitions), from_failure=False,
            reexecution_steps=None, tags={}, backfill_timestamp=get_current_timestamp(),
            asset_selection=list(asset_keys) if asset_keys else None, title=title)
        instance.add_backfill(backfill)
    return backfill.backfill_id


def in_flight(instance: dg.DagsterInstance, partitions: Sequence[str]) -> dict[str, str]:
    """Partitions with an unfinished run of the per-episode job (a sensor's, another backfill's): partition -> run id."""
    found = {}
    for record in instance.get_run_records(dg.RunsFilter(job_name=JOB, statuses=ACTIVE)):
        partition = record.dagster_run.tags.get(PARTITION_NAME_TAG)
        if partition in partitions:
            found[partition] = record.dagster_run.run_id
    return found


@dataclass
class Progress:
    total: int
    status: str  # the backfill's own status
    by_partition: dict[str, str] = field(default_factory=dict)  # partition -> its latest run's status

    @property
    def failed(self) -> list[str]:
        return sorted(p for p, s in self.by_partition.items() if s in ("FAILURE", "CANCELED"))

    @property
    def finished(self) -> bool:
        submitted = self.status != BulkActionStatus.REQUESTED.value
        return submitted and len(self.by_partition) == self.total and all(
            s in ("SUCCESS", "FAILURE", "CANCELED") for s in self.by_partition.values())

    def line(self) -> str:
        counts = Counter(self.by_partition.values())
        waiting = self.total - len(self.by_partition)
        parts = [f"{counts.get('SUCCESS', 0)}/{self.total} done"] + [f"{n} {s.lower()}" for s, n in sorted(counts.items()) if s != "SUCCESS"]
        return ", ".join(parts + ([f"{waiting} not submitted yet"] if waiting else [])) + f" (backfill {self.status.lower()})"


def progress(instance: dg.DagsterInstance, backfill_id: str) -> Progress:
    """Each partition's state: that of its newest run, following run retries (a retried failure is pending)."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise KeyError(backfill_id)
    result = Progress(total=len(backfill.partition_names or []), status=backfill.status.value)
    for record in instance.get_run_records(dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})):
        run = record.dagster_run
        if run.tags.get(ROOT_RUN_ID_TAG):
            continue  # a retry: counted through its root run
        family = [record, *instance.get_run_records(dg.RunsFilter(tags={ROOT_RUN_ID_TAG: run.run_id}))]
        newest = max(family, key=lambda r: r.create_timestamp).dagster_run
        status = newest.status.value
        if newest.status == dg.DagsterRunStatus.FAILURE and newest.tags.get(WILL_RETRY_TAG) == "true":
            status = "RETRYING"
        elif newest.status in ACTIVE:
            status = "STARTED" if newest.status == dg.DagsterRunStatus.STARTED else "QUEUED"
        result.by_partition[run.tags.get(PARTITION_NAME_TAG, run.run_id)] = status
    return result
