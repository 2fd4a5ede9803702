"""The Dagster code location (``dagster dev``, ``workspace.yaml``, ``animespeech``)."""

import dagster as dg

from animespeech_assets.core.environment import configure_caches, load_ctranslate2_before_torch
from animespeech_assets.defs.automation import annotations_sensor, automation_sensor, nightly_refinement
from animespeech_assets.defs.executor import deployment_executor
from animespeech_assets.defs.jobs import ASSETS, character_job, episode_job, shared_job
from animespeech_assets.defs.resources import default_resources
from animespeech_assets.defs.sensors import dead_runs_sensor, new_episodes_sensor

configure_caches()
load_ctranslate2_before_torch()  # before any asset imports torch: see its docstring

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[episode_job, shared_job, character_job],
    sensors=[new_episodes_sensor, annotations_sensor, automation_sensor, dead_runs_sensor],
    schedules=[nightly_refinement],
    resources=default_resources(),
    executor=deployment_executor(),  # Celery on a cluster (animespeech cluster up), else Dagster's default
)
