"""The reference set: every human-labelled line's embedding, plus refinement samples.

Which files it is built from is decided here, in one place, for the asset and for the staleness
check of the CLI, the sensors and the schedule (so "is it up to date?" and "what did it read?" agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.lineage import InputVersion
from animespeech_assets.core.naming import EpisodeError, episode_key
from animespeech_assets.core.storage import sha256_file
from animespeech_assets.speakers.embeddings import encoder_of, vectors_of, with_encoder
from animespeech_assets.speakers.knn import Reference, predict


def reference_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("character", pa.string()),
            ("episode", pa.string()),
            ("line_id", pa.int32()),
            ("start", pa.float64()),
            ("end", pa.float64()),
            ("source", pa.string()),  # "label" (annotation file) or "refinement" (hard reviewed line)
            ("refinement_distance", pa.float64()),  # distance to its character's nearest label, when it joined
            ("vector", pa.list_(pa.float32(), dim)),
        ]
    )



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


def being_edited(path: Path) -> Path | None:
    """The lock file a spreadsheet keeps beside ``path`` while it has the file open (LibreOffice:
    ``.~lock.<name>#``; Excel: ``~$<name>``), or None."""
    for lock in (path.with_name(f".~lock.{path.name}#"), path.with_name(f"~${path.name}")):
        if lock.exists():
            return lock
    return None


def annotation_fingerprint(layout: DataLayout) -> dict[str, str]:
    """sha256 of every annotation file, by episode (the annotations sensor's cursor)."""
    return {s.episode: sha256_file(s.annotations) for s in reference_sources(layout)}


class ReferenceSetError(ValueError):
    """A reference set that cannot be built (mixed encoders, no labels)."""


@dataclass
class LabelledEpisode:
    episode: str
    embeddings: pa.Table
    labels: list  # annotations.Label


@dataclass(frozen=True)
class Refinement:
    """Which reviewed lines join the reference set: those the model found hard."""

    min_distance: float = 0.2  # distance to the own character's nearest label sample (older tool's default)
    k: int = 5


def build_reference(episodes: list[LabelledEpisode], refinement: Refinement = Refinement()) -> tuple[pa.Table, list[str]]:
    """The reference table and warnings.

    Plain labels (``source = label``) always join. Rows saved from a review sheet are corrections
    or confirmations of predictions: they join (``source = refinement``) only when they were hard
    for the model, judged against the label samples now (not an old prediction's distance): their
    own character's nearest label sample is farther than ``min_distance``, or the per-class KNN
    over the labels names another character. Refuses to mix embeddings from different encoders.
    """
    encoders = {e.episode: encoder_of(e.embeddings) for e in episodes}
    if len(set(encoders.values())) > 1:
        detail = ", ".join(f"{ep}: {enc}" for ep, enc in sorted(encoders.items()))
        raise ReferenceSetError(
            f"labelled episodes were embedded with different speaker encoders ({detail}); "
            "re-materialize speaker_embeddings for them with one encoder"
        )
    encoder = next(iter(encoders.values()), "")
    dim = episodes[0].embeddings.schema.field("vector").type.list_size if episodes else 0
    warnings: list[str] = []
    labels, reviewed = [], []  # (character, episode, line_id, start, end, vector)
    for e in episodes:
        valid, matrix = vectors_of(e.embeddings)
        ids = e.embeddings.column("line_id").to_pylist()
        starts = e.embeddings.column("start").to_pylist()
        ends = e.embeddings.column("end").to_pylist()
        position = {lid: i for i, lid in enumerate(ids)}
        row_of_valid = np.cumsum(valid) - 1
        for label in e.labels:
            i = position[label.line_id]
            if not valid[i]:
                warnings.append(f"{e.episode} line {label.line_id} ({label.character}) has no embedding (too short or silent)")
                continue
            item = (label.character, e.episode, label.line_id, starts[i], ends[i], matrix[row_of_valid[i]])
            (reviewed if getattr(label, "reviewed", False) else labels).append(item)
    rows = [(*item[:5], "label", None) for item in labels]
    vecs = [item[5] for item in labels]
    if reviewed:
        base = Reference(
            np.asarray(vecs, np.float32).reshape(-1, dim),
            np.asarray([r[0] for r in labels], dtype=object),
            np.asarray([r[1] for r in labels], dtype=object),
            np.asarray([r[2] for r in labels], dtype=np.int64),
        )
        for character, episode, line_id, start, end, vector in reviewed:
            if character in base.classes:
                pred = predict(vector[None, :], base, refinement.k, exclude=[(episode, line_id)])
                dist = (1.0 - base.vectors[base.characters == character] @ vector).min()
                hard = dist > refinement.min_distance or pred.character[0] != character
            else:
                dist, hard = None, True  # a character with no label sample yet
            if hard:
                rows.append((character, episode, line_id, start, end, "refinement", None if dist is None else float(dist)))
                vecs.append(vector)
    return with_encoder(_reference_table(rows, vecs, dim), encoder), warnings


def _reference_table(rows: list[tuple], vecs: list[np.ndarray], dim: int) -> pa.Table:
    flat = np.concatenate(vecs).astype(np.float32) if vecs else np.zeros(0, np.float32)
    return pa.table(
        {
            "character": pa.array([r[0] for r in rows], pa.string()),
            "episode": pa.array([r[1] for r in rows], pa.string()),
            "line_id": pa.array([r[2] for r in rows], pa.int32()),
            "start": pa.array([r[3] for r in rows], pa.float64()),
            "end": pa.array([r[4] for r in rows], pa.float64()),
            "source": pa.array([r[5] for r in rows], pa.string()),
            "refinement_distance": pa.array([r[6] for r in rows], pa.float64()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim),
        },
        schema=reference_schema(dim),
    )




@dataclass
class ReferenceBuild:
    table: pa.Table
    warnings: list[str]
    waiting: list[str]  # labelled episodes whose embeddings are not materialized yet
    episodes: list[str]  # labelled episodes used
    sources: list[ReferenceSource]  # what was read (for lineage)
    evaluation: dict  # leave-one-out report with the suggested k and thresholds


def assemble(layout: DataLayout, refinement: Refinement, min_samples: int) -> ReferenceBuild:
    """The reference set from every annotation file whose episode has embeddings, evaluated."""
    import pyarrow.parquet as pq

    from animespeech_assets.speakers.annotations import labels_for
    from animespeech_assets.speakers.evaluation import leave_one_out

    sources = reference_sources(layout)
    labelled, waiting = [], []
    for s in sources:
        if not s.embeddings.exists():
            waiting.append(s.episode)
            continue
        labels = labels_for(s.annotations, pq.read_table(s.transcript))
        labelled.append(LabelledEpisode(s.episode, pq.read_table(s.embeddings), labels))
    warnings = [f"labels of {waiting} not used yet: their speaker_embeddings are not materialized"] if waiting else []
    if not labelled:
        raise ReferenceSetError(
            f"no labelled episode with speaker embeddings: label lines in {layout.annotations}/<episode>.csv "
            f"(waiting for embeddings: {waiting or 'none'})"
        )
    table, build_warnings = build_reference(labelled, refinement)
    warnings += build_warnings
    if table.num_rows == 0:
        raise ReferenceSetError(f"none of the labelled lines has an embedding (too short or silent): {build_warnings[:5]}")
    ref = Reference.from_table(table)
    character_keys(ref.classes)  # every character gets its own partition and dataset folder
    few = {c: n for c, n in ref.counts().items() if n < min_samples}
    if few:
        warnings.append(f"characters with fewer than {min_samples} samples (predictions will be weaker): {few}")
    used = [s for s in sources if s.episode not in waiting]
    report = leave_one_out(ref)
    return ReferenceBuild(table, warnings + report.get("warnings", []), waiting, sorted(e.episode for e in labelled), used, report)


def character_keys(names) -> dict[str, str]:
    """Character partition key -> name; two names with one key (``A/B`` and ``A_B``) are an error,
    since one of them would silently get no dataset."""
    from animespeech_assets.core.naming import character_key

    keys: dict[str, str] = {}
    for name in sorted(set(names)):
        key = character_key(name)
        if key in keys:
            raise ReferenceSetError(f"characters {keys[key]!r} and {name!r} both become the key {key!r}: rename one in the annotation files")
        keys[key] = name
    return keys


def character_names(reference: Path) -> dict[str, str]:
    """Character partition key -> name, for the characters of the reference set at ``reference``."""
    import pyarrow.parquet as pq

    return character_keys(pq.read_table(reference, columns=["character"]).column("character").to_pylist())
