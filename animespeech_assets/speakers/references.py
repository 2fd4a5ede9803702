"""Which files the reference set is built from: one place, used by the asset and by the CLI's
staleness check (so "is the reference set up to date?" and "what did it read?" agree)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from animespeech_assets.core.naming import EpisodeError, episode_key
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.lineage import InputVersion
from animespeech_assets.core.storage import sha256_file


@dataclass(frozen=True)
class ReferenceSource:
    episode: str
    annotations: Path
    embeddings: Path  # may not exist yet
    transcript: Path


def reference_sources(layout: DataLayout) -> list[ReferenceSource]:
    """Every annotation file whose name is an episode key, with that episode's asset files."""
    out = []
    for path in sorted(layout.annotations.glob("*.csv")):
        try:
            key = episode_key(path.stem)
        except EpisodeError:
            continue
        if key != path.stem:
            continue
        out.append(
            ReferenceSource(
                key,
                path,
                layout.asset_file("speaker_embeddings", key),
                layout.asset_file("transcript", key),
            )
        )
    return out


def reference_inputs(sources: list[ReferenceSource]) -> list[InputVersion]:
    """The input versions of a reference set built from ``sources`` (annotation files and embeddings)."""
    inputs = []
    for s in sources:
        inputs.append(InputVersion("", s.episode, sha256_file(s.annotations), str(s.annotations)))
        if s.embeddings.exists():
            inputs.append(InputVersion("speaker_embeddings", s.episode, sha256_file(s.embeddings), str(s.embeddings)))
    return inputs


def reference_is_current(layout: DataLayout, code_version: str) -> bool:
    """Whether the reference set on disk was built by ``code_version`` from exactly the current
    annotation files and embeddings (used by the CLI and the nightly schedule)."""
    from animespeech_assets.core.lineage import Ledger

    record = Ledger(layout.lineage).latest("reference_set")
    if record is None or not layout.asset_file("reference_set").exists() or record["code_version"] != code_version:
        return False
    current = {(i.path, i.data_version) for i in reference_inputs([s for s in reference_sources(layout) if s.embeddings.exists()])}
    return current == {(i["path"], i["data_version"]) for i in record["inputs"]}


def annotation_fingerprint(layout: DataLayout) -> dict[str, str]:
    """sha256 of every annotation file, by episode (the annotations sensor's cursor)."""
    return {s.episode: sha256_file(s.annotations) for s in reference_sources(layout)}
