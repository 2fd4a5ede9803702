"""Sensors: dropping a video into data/inputs/ is all a user does to add an episode."""

import dagster as dg

from animespeech_assets.ingest.episodes import scan

from .jobs import EPISODE_ASSET_KEYS, episode_job
from .partitions import EPISODES, episodes
from .planning import plan_episode
from .resources import DataResource, TracksResource
from .run_hygiene import assign_stranded_claims, reap_dead_runs


@dg.sensor(
    job=episode_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Registers new media files in data/inputs/ as episode partitions and runs their assets.",
)
def new_episodes_sensor(context: dg.SensorEvaluationContext, data: DataResource, tracks: TracksResource) -> dg.SensorResult | dg.SkipReason:
    found, problems = scan(data.layout.inputs)
    for problem in problems:
        context.log.error(problem)
    known = set(context.instance.get_dynamic_partitions(EPISODES))
    new = sorted(set(found) - known)
    if not new:
        return dg.SkipReason("; ".join(problems) if problems else "no new episodes")
    # without a reference set yet, the planner runs what needs no labels; predictions and everything
    # below them follow through their automation conditions once labels exist
    plan = plan_episode(data.layout, EPISODE_ASSET_KEYS, can_build_reference=False)
    selection = None if plan.keys == EPISODE_ASSET_KEYS else plan.keys
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"new-episode:{key}", partition_key=key, asset_selection=selection,
                                    tags=_track_tags(context, found[key], tracks)) for key in new],
        dynamic_partitions_requests=[episodes.build_add_request(new)],
    )


def _track_tags(context: dg.SensorEvaluationContext, episode, tracks: TracksResource) -> dict[str, str]:
    """The episode's tracks in the sensor's log, and the chosen ones as run tags (shown on the run in the UI)."""
    try:
        plan = tracks.plan(episode)
    except ValueError as exc:  # MediaError, TextFileError: the run reports it with the file named
        context.log.error(str(exc))
        return {}
    context.log.info(f"{episode.key}: " + "; ".join(t.describe() for t in plan.tracks)
                     + f"; audio: {plan.audio.rule}; subtitles: {plan.subtitles.rule}")
    subs = plan.subtitles
    where = f"#{subs.track.index} {subs.language}" if subs.track else (subs.external.name if subs.external else "none (speech recognition)")
    return {"animespeech/audio_track": plan.audio.track.describe()[:200], "animespeech/subtitles": f"{subs.kind}: {where}"[:200]}


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the CLI runs whose process died (kill -9, a crash) and frees the pool slots they held, "
    "so they do not stay 'Started' in the UI and the gpu pool does not stay blocked.",
)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    notes = reap_dead_runs(context.instance)
    notes += [f"gave a free slot of pool {pool!r} to a step left waiting with it free"
              for pool in assign_stranded_claims(context.instance, context.instance.event_log_storage.get_concurrency_keys())]
    for note in notes:
        context.log.warning(note)
    return dg.SkipReason("; ".join(notes) or "no run left behind by a dead process")
