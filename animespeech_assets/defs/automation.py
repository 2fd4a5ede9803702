"""Sensors and the schedule that keep predictions and datasets up to date as people label."""

import hashlib
import json
import os

import dagster as dg

from animespeech_assets.speakers.references import annotation_fingerprint, being_edited

from .planning import reference_code_version, reference_is_current
from .resources import DataResource

NIGHTLY_TIMEZONE_ENV = "ANIMESPEECH_TIMEZONE"


@dg.sensor(
    job_name="shared_job",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Notices new or changed data/annotations/*.csv files and rebuilds the reference set; "
    "predictions and everything downstream then refresh through their automation conditions.",
)
def annotations_sensor(context: dg.SensorEvaluationContext, data: DataResource):
    previous = json.loads(context.cursor) if context.cursor else {}
    # a file open in a spreadsheet is mid-edit (and may be mid-save): it counts as unchanged until closed
    current, editing = {}, {}
    for ep, digest in annotation_fingerprint(data.layout).items():
        lock = being_edited(data.layout.annotation_file(ep))
        if lock:
            editing[ep] = lock
            digest = previous.get(ep)
        if digest is not None:
            current[ep] = digest
    changed = sorted(ep for ep in set(current) | set(previous) if current.get(ep) != previous.get(ep))
    if not changed:
        open_now = "; ".join(f"{data.layout.annotation_file(ep).name} is open in a spreadsheet ({lock.name})" for ep, lock in sorted(editing.items()))
        return dg.SkipReason(f"no annotation file changed{': ' + open_now + ', read once it is closed' if open_now else ''}")
    context.update_cursor(json.dumps(current, sort_keys=True))
    if reference_is_current(data.layout):
        return dg.SkipReason(f"annotations of {changed} are already in the reference set")
    run_key = "annotations:" + hashlib.sha1(json.dumps(current, sort_keys=True).encode()).hexdigest()
    return dg.RunRequest(run_key=run_key, tags={"animespeech/changed_annotations": ",".join(changed)[:200]})


@dg.schedule(
    job_name="shared_job",
    cron_schedule="0 3 * * *",
    execution_timezone=os.environ.get(NIGHTLY_TIMEZONE_ENV, "UTC"),
    default_status=dg.DefaultScheduleStatus.RUNNING,
    name="nightly_refinement",
    description="03:00 every night: rebuild the reference set if labels or embeddings changed (stale episodes "
    "then refresh through automation); when nothing changed it requests nothing and rewrites nothing.",
)
def nightly_refinement(context: dg.ScheduleEvaluationContext, data: DataResource):
    if reference_is_current(data.layout):
        return dg.SkipReason("the reference set is up to date: nothing to refine")
    state = json.dumps(annotation_fingerprint(data.layout), sort_keys=True) + reference_code_version()
    return dg.RunRequest(run_key="nightly:" + hashlib.sha1(state.encode()).hexdigest())


automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates the assets' automation conditions (refresh downstream of a new reference set).",
)
