"""The asset graph's jobs, and the asset key sets the run planner works with."""

import dagster as dg

from . import datasets, ingest, review, speakers, training
from .partitions import characters, episodes

ASSET_MODULES = [ingest, speakers, review, datasets, training]
ASSETS = dg.load_assets_from_modules(ASSET_MODULES)

# every asset partitioned by episode, in one job: a backfill or a sensor run does a whole episode
EPISODE_ASSET_KEYS = [key for a in ASSETS if a.partitions_def == episodes for key in a.keys]
# the assets that combine all episodes (brought up to date before an episode that needs them)
SHARED_ASSET_KEYS = [key for a in ASSETS if a.partitions_def is None for key in a.keys]
# per character, combining every episode: datasets, adapter, TTS samples
CHARACTER_ASSET_KEYS = [key for a in ASSETS if a.partitions_def == characters for key in a.keys]


def _episode_upstream_of(asset: str) -> list[dg.AssetKey]:
    """``asset`` and its per-episode ancestors, in job order."""
    deps = {k: a.asset_deps[k] for a in ASSETS for k in a.keys}
    seen, stack = set(), [dg.AssetKey(asset)]
    while stack:
        key = stack.pop()
        if key not in seen and key in deps:
            seen.add(key)
            stack.extend(deps[key])
    return [k for k in EPISODE_ASSET_KEYS if k in seen]


# the per-episode assets that need no labels: everything up to the speaker embeddings
UNLABELLED_ASSET_KEYS = _episode_upstream_of("speaker_embeddings")

episode_job = dg.define_asset_job(
    "episode_job",
    selection=EPISODE_ASSET_KEYS,
    description="Every per-episode asset, from the decoded audio to the episode's exports.",
)

shared_job = dg.define_asset_job(
    "shared_job",
    selection=SHARED_ASSET_KEYS,
    description="The assets that combine every episode (the reference set).",
)

character_job = dg.define_asset_job(
    "character_job",
    selection=CHARACTER_ASSET_KEYS,
    description="Every per-character asset: the dialogue and audio datasets of one character, its adapter and TTS samples.",
)
