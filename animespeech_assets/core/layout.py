"""Where everything lives on disk. One place for every path the project reads or writes.

The data root is ``$ANIMESPEECH_DATA_DIR`` (default ``./data``). Human-owned folders
(``inputs/``, ``annotations/``) are only ever read by the pipeline (the review page writes an annotation
file only when a person saves, keeping the previous version); everything else is pipeline-owned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "ANIMESPEECH_DATA_DIR"

# Assets whose output is a folder under exports/ (per character), the folder's name there, and the
# file in it whose content hash is the asset's data version.
EXPORT_FOLDERS = {
    "dialogue_dataset": ("dialogue", "dataset.parquet"),
    "audio_dataset": ("audio", "clips.parquet"),
    "qlora_adapter": ("adapters", "adapter/adapter_model.safetensors"),
    "tts_samples": ("tts_samples", "samples.parquet"),
}
# assets whose primary file is not Parquet
SUFFIXES = {"episode_audio": ".npy"}


def default_data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or "data").resolve()


@dataclass(frozen=True)
class DataLayout:
    root: Path

    @classmethod
    def from_env(cls) -> DataLayout:
        return cls(default_data_dir())

    # human-owned, read-only for the pipeline
    @property
    def inputs(self) -> Path:
        return self.root / "inputs"

    @property
    def annotations(self) -> Path:
        return self.root / "annotations"

    def annotation_file(self, episode: str) -> Path:
        return self.annotations / f"{episode}.csv"

    # pipeline-owned
    @property
    def assets(self) -> Path:
        return self.root / "assets"

    def asset_dir(self, asset: str) -> Path:
        return self.assets / asset

    def asset_file(self, asset: str, episode: str | None = None, suffix: str = ".parquet") -> Path:
        """``assets/<asset>/<episode><suffix>``, or ``assets/<asset>/<asset><suffix>`` when unpartitioned."""
        return self.asset_dir(asset) / f"{episode or asset}{suffix}"

    def output(self, asset: str, partition: str = "") -> Path:
        """The primary file of ``asset``'s materialization for ``partition``: its content hash is the
        asset's data version. The one place that says where each asset's output lives."""
        if asset in EXPORT_FOLDERS:
            return self.folder(asset, partition) / EXPORT_FOLDERS[asset][1]
        if asset == "review_sheet":
            return self.review / f"{partition}.csv"
        return self.asset_file(asset, partition or None, SUFFIXES.get(asset, ".parquet"))

    def folder(self, asset: str, partition: str) -> Path:
        """The folder an asset writes beside (or as) its primary file: a character's export, an
        episode's review clips or character clips."""
        if asset in EXPORT_FOLDERS:
            return self.exports / EXPORT_FOLDERS[asset][0] / partition
        if asset == "review_sheet":
            return self.review / partition
        return self.asset_dir(asset) / partition

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def review(self) -> Path:
        return self.root / "review"

    @property
    def versions(self) -> Path:
        """Kept, content-addressed versions of every materialization's outputs (``core/versions.py``)."""
        return self.root / "versions"

    @property
    def lineage(self) -> Path:
        return self.root / "lineage"

    @property
    def cache(self) -> Path:
        """Model cache (assembled weights, Hugging Face / torch caches)."""
        return self.root / "cache"

    @property
    def demo(self) -> Path:
        """Ground truth of the generated demo episodes (not an input of the pipeline)."""
        return self.root / "demo"
