"""The Dagster code location (``dagster dev``, ``workspace.yaml``, ``animespeech``)."""

import dagster as dg

from animespeech_assets.environment import configure_caches

configure_caches()

from animespeech_assets.defs.automation import annotations_sensor, automation_sensor, nightly_refinement  # noqa: E402
from animespeech_assets.defs.identify import SpeakerEncoderResource  # noqa: E402
from animespeech_assets.defs.ingest import SpeechRecognizerResource  # noqa: E402
from animespeech_assets.defs.jobs import ASSETS, character_job, episode_job, shared_job  # noqa: E402
from animespeech_assets.defs.resources import DataResource  # noqa: E402
from animespeech_assets.defs.training import TrainerResource, TtsResource  # noqa: E402
from animespeech_assets.defs.sensors import new_episodes_sensor  # noqa: E402

defs = dg.Definitions(
    assets=ASSETS,
    jobs=[episode_job, shared_job, character_job],
    sensors=[new_episodes_sensor, annotations_sensor, automation_sensor],
    schedules=[nightly_refinement],
    resources={
        "data": DataResource(),
        "speech_recognizer": SpeechRecognizerResource(),
        "speaker_encoder": SpeakerEncoderResource(),
        "trainer": TrainerResource(),
        "tts": TtsResource(),
    },
)
