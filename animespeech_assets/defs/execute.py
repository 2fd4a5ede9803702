"""Running a job's assets in this process, as the ``animespeech`` CLI does: up-to-date assets are
skipped (unless forced), runs left by dead processes are cleaned up first, the ``gpu`` pool is
waited for in plain sleeps, and a failure's user-facing cause is what is reported."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence

import dagster as dg

from animespeech_assets.core.layout import DataLayout

from . import run_hygiene
from .planning import split_current


class RunFailed(Exception):
    """A run that failed; the message names the run and each failed step's cause."""


def run_assets(defs: dg.Definitions, job_name: str, instance: dg.DagsterInstance, keys: Sequence[dg.AssetKey],
               partition: str | None = None, force: bool = False) -> list[str]:
    """Execute ``keys`` of a job with the project instance; returns the names it materialized."""
    where = f" [{partition}]" if partition else ""
    if not force:
        to_run, current = split_current(DataLayout.from_env(), list(keys), partition)
        for key in current:
            print(f"up to date: {key.to_user_string()}{where} (--force runs it anyway)")
        for key, why in to_run.items():
            print(f"to run: {key.to_user_string()}{where}: {why}")
        keys = list(to_run)
        if not keys:
            return []
    for note in run_hygiene.reap_dead_runs(instance):
        print(f"note: {note}", file=sys.stderr)
    pools = run_hygiene.pools_of(defs.resolve_assets_def(k) for k in keys)
    run_hygiene.wait_for_pools(instance, pools, say=lambda line: print(f"note: {line}", file=sys.stderr, flush=True))
    with run_hygiene.StrandedClaims(instance, pools):
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, partition_key=partition, asset_selection=list(keys), tags=run_hygiene.process_tags(), raise_on_error=False)
    done = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.step_materialization_data.materialization
            path = mat.metadata.get("path")
            done.append(mat.asset_key.to_user_string())
            print(f"materialized {mat.asset_key.to_user_string()}{where} -> {path.value if path else ''}")
    if not result.success:
        messages = [f"{ev.step_key}: {cause(ev.event_specific_data.error)}" for ev in result.all_events
                    if ev.event_type_value == "STEP_FAILURE" and ev.event_specific_data and ev.event_specific_data.error]
        raise RunFailed(f"run {result.run_id} failed for {job_name}{where}:\n" + "\n".join(messages))
    return done


def cause(error) -> str:
    """The user-facing message of a step failure: the first error in the chain that is not Dagster's
    "Error occurred while executing op" wrapper (printed last, so it is the line a person reads). Not
    the innermost: our errors name the file, the library error they wrap does not."""
    while getattr(error, "cause", None) is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = (error.message or "(no message)").strip().splitlines()[-1]
    return re.sub(r"^(?:\w+\.)+(\w+: )", r"\1", message)  # SubtitleError: ..., not animespeech_assets.ingest....
