"""Runs whose process died (``kill -9``, a lost machine) and the pool slots they still hold.

A step of a ``pool="gpu"`` asset claims a slot of the ``gpu`` pool in the instance; the slot is freed
when the step ends. A run killed mid-step never ends it: the run stays "Started" and the slot stays
claimed, so every later run of the pool waits forever (and Dagster's in-process executor busy-waits
while it does). The daemon's run monitoring (enabled in ``dagster.yaml``) frees the slots of runs it
sees finished; nothing watches the runs the ``animespeech`` CLI executes in its own process. So each
CLI run is tagged with the process that runs it, and before a run starts, :func:`reap_dead_runs`
marks failed the runs of this host whose process is gone and frees the slots of every finished run.
:func:`wait_for_pools` then waits, in plain interruptible sleeps and saying for what, while a live
run holds the slots a run needs. While a run executes, :class:`StrandedClaims` hands free slots to
steps Dagster's own claim left waiting with the slot free (a race, below).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable

import dagster as dg
import psutil

from animespeech_assets.core import processes

PROCESS_TAG = "animespeech/process"  # "<host>:<pid>:<process start time>": pids are reused, start times are not
ACTIVE = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def process_tags() -> dict[str, str]:
    """Tags naming this process, for a run it executes itself."""
    me = psutil.Process()
    return {PROCESS_TAG: f"{socket.gethostname()}:{me.pid}:{me.create_time():.3f}"}


def process_alive(tag: str) -> bool | None:
    """Whether the process a :data:`PROCESS_TAG` names still runs; None when it ran on another host."""
    host, pid, started = tag.rsplit(":", 2)
    if host != socket.gethostname():
        return None
    try:
        return processes.process_alive(int(pid), float(started))
    except ValueError:
        return False


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs whose process is gone, free the pool slots of every finished
    run; returns one line per run dealt with."""
    notes = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        tag = run.tags.get(PROCESS_TAG)
        if tag and process_alive(tag) is False:
            pid = tag.rsplit(":", 2)[1]
            instance.report_run_failed(run, f"the process that ran it (pid {pid}) is gone: killed or crashed")
            notes.append(f"run {run.run_id} ({run.job_name}) was left unfinished by process {pid}, which is gone: marked failed")
    holders = instance.event_log_storage.get_concurrency_run_ids()
    if holders:
        for record in instance.get_run_records(filters=dg.RunsFilter(run_ids=list(holders), statuses=FINISHED)):
            run_id = record.dagster_run.run_id
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            notes.append(f"freed the pool slots still held by run {run_id} ({record.dagster_run.status.value.lower()})")
    return notes


def pools_of(assets_defs: Iterable[dg.AssetsDefinition]) -> set[str]:
    return {ad.op.pool for ad in assets_defs if ad.is_executable and ad.op.pool}


def wait_for_pools(instance: dg.DagsterInstance, pools: Iterable[str], say: Callable[[str], None], poll: float = 1.0) -> None:
    """Return once each of ``pools`` has a free slot; while one has none, say once who holds it."""
    said = set()
    for pool in sorted(pools):
        while True:
            info = instance.event_log_storage.get_concurrency_info(pool)
            limit = info.slot_count or info.limit
            if not limit or len(info.claimed_slots) < limit:
                break
            holders = ", ".join(sorted({f"run {s.run_id} ({s.step_key})" for s in info.claimed_slots}))
            if pool not in said:
                say(f"waiting for a free slot of pool {pool!r} (limit {limit}), held by {holders}")
                said.add(pool)
            time.sleep(poll)
            reap_dead_runs(instance)


def assign_stranded_claims(instance: dg.DagsterInstance, pools: Iterable[str]) -> list[str]:
    """Hand a free slot to the oldest waiting step of each pool that has both; returns those pools.

    Dagster's claim (SQL storage) looks for a free slot and then queues the step, in two separate
    transactions. When the run holding the slot frees it in between, the freed slot is handed to the
    queue before the step is in it: the step is queued unassigned with the slot free, and nothing
    ever assigns it (seen with four CLI processes on a fresh instance: one waited for good). This
    does what Dagster's own free path does, for such a step."""
    storage = instance.event_log_storage
    assigned = []
    for pool in sorted(pools):
        waiting = [s for s in storage.get_concurrency_info(pool).pending_steps if s.assigned_timestamp is None]
        if waiting and storage.has_unassigned_slots(pool):
            storage.assign_pending_steps([pool])
            assigned.append(pool)
    return assigned


class StrandedClaims:
    """While a run executes: every ``poll`` seconds, :func:`assign_stranded_claims` for its pools."""

    def __init__(self, instance: dg.DagsterInstance, pools: Iterable[str], poll: float = 2.0):
        self.instance, self.pools, self.poll = instance, sorted(pools), poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="stranded-claims", daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll):
            assign_stranded_claims(self.instance, self.pools)

    def __enter__(self) -> StrandedClaims:
        if self.pools:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
