"""Speaker identification stage: embeddings per line, the labelled reference set, KNN predictions."""

import json
from collections import Counter
from typing import Optional

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from animespeech_assets.speakers import identify
from animespeech_assets.speakers.annotations import labels_for
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, load_audio
from animespeech_assets.backends.speaker import BACKENDS, load_speaker_encoder
from animespeech_assets.core.naming import character_key
from animespeech_assets.speakers.embeddings import check_embeddings, embed_lines, status_counts, vector_dim, vectors_of
from animespeech_assets.core.lineage import utcnow
from animespeech_assets.speakers.references import reference_inputs, reference_sources
from animespeech_assets.core.storage import write_parquet, write_text

from .ingest import episode_audio, transcript
from .automation_conditions import REFRESH
from .partitions import CHARACTERS, episodes
from .materialize import check, finish, require, source_file, upstream
from .resources import DataResource
from .visuals import png_markdown


class SpeakerEncoderResource(dg.ConfigurableResource):
    """The speaker encoder, loaded once per process. Defaults run offline on CPU."""

    backend: str = Field(default="resemblyzer", description=f"one of {BACKENDS}")
    model: str = Field(default="", description="model id or local folder/checkpoint; empty: the backend's default")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    batch_size: int = Field(default=32, description="clips (or Resemblyzer partials) per forward pass")

    def load(self):
        return load_speaker_encoder(self.backend, self.model, self.device, self.batch_size)


@dg.asset(
    partitions_def=episodes,
    deps=[episode_audio, transcript],
    group_name="identify",
    code_version="1",
    pool="gpu",
    kinds={"pytorch", "parquet"},
    check_specs=[dg.AssetCheckSpec("one_embedding_per_line", asset="speaker_embeddings", blocking=True)],
    description="One speaker vector per transcript line (null, with a reason, where the line is too short or silent).",
)
def speaker_embeddings(
    context: dg.AssetExecutionContext, data: DataResource, speaker_encoder: SpeakerEncoderResource
) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = context.partition_key
    audio_path = require(layout.asset_file("episode_audio", ep, ".npy"), "episode_audio", ep)
    transcript_path = require(layout.asset_file("transcript", ep), "transcript", ep)
    lines = pq.read_table(transcript_path)
    encoder = speaker_encoder.load()
    table = embed_lines(load_audio(audio_path), ANALYSIS_SAMPLE_RATE, lines, encoder)
    table = identify.with_encoder(table, encoder.model_id)
    out = write_parquet(table, layout.asset_file("speaker_embeddings", ep))
    counts = status_counts(table)
    return finish(
        context,
        data,
        outputs=[out],
        row_count=table.num_rows,
        started_at=started,
        inputs=[upstream("episode_audio", ep, audio_path), upstream("transcript", ep, transcript_path)],
        parameters={"batch_size": speaker_encoder.batch_size, "device": speaker_encoder.device},
        models={"speaker_encoder": encoder.model_id},
        metadata={"encoder": encoder.model_id, "dim": encoder.dim, "status_counts": dg.MetadataValue.json(counts)},
        checks=[check("one_embedding_per_line", check_embeddings(table, lines))],
    )


class ReferenceSetConfig(dg.Config):
    min_samples: int = Field(default=30, description="warn when a character has fewer labelled samples")
    refinement_min_distance: float = Field(
        default=identify.Refinement.min_distance,
        description="a reviewed line joins when its character's nearest label sample is farther than this (or the KNN gets it wrong)",
    )


@dg.asset(
    deps=[speaker_embeddings, transcript],
    group_name="identify",
    code_version="4",
    kinds={"parquet"},
    description="Embeddings of every human-labelled line of every episode (data/annotations/<episode>.csv), "
    "with provenance, plus a leave-one-out evaluation that suggests k and thresholds.",
)
def reference_set(context: dg.AssetExecutionContext, config: ReferenceSetConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    sources = reference_sources(layout)
    labelled, waiting = [], []
    for s in sources:
        if not s.embeddings.exists():
            waiting.append(s.episode)
            continue
        embeddings = pq.read_table(s.embeddings)
        labels = labels_for(s.annotations, pq.read_table(s.transcript))
        labelled.append(identify.LabelledEpisode(s.episode, embeddings, labels))
    if waiting:
        context.log.warning(f"labels of {waiting} not used yet: their speaker_embeddings are not materialized")
    if not labelled:
        raise dg.Failure(
            f"no labelled episode with speaker embeddings: label lines in {layout.annotations}/<episode>.csv "
            f"(waiting for embeddings: {waiting or 'none'})"
        )
    refinement = identify.Refinement(min_distance=config.refinement_min_distance)
    table, warnings = identify.build_reference(labelled, refinement)
    if table.num_rows == 0:
        raise dg.Failure(f"none of the labelled lines has an embedding (too short or silent): {warnings[:5]}")
    ref = identify.Reference.from_table(table)
    counts = ref.counts()
    few = {c: n for c, n in counts.items() if n < config.min_samples}
    if few:
        warnings.append(f"characters with fewer than {config.min_samples} samples (predictions will be weaker): {few}")
    for w in warnings:
        context.log.warning(w)
    new_characters = sorted({character_key(c) for c in counts} - set(context.instance.get_dynamic_partitions(CHARACTERS)))
    if new_characters:
        context.instance.add_dynamic_partitions(CHARACTERS, new_characters)
    evaluation = identify.leave_one_out(ref)
    out = write_parquet(table, layout.asset_file("reference_set"))
    eval_path = write_text(json.dumps(evaluation, indent=1, ensure_ascii=False), layout.asset_file("reference_set", suffix=".evaluation.json"))
    return finish(
        context,
        data,
        outputs=[out, eval_path],
        row_count=table.num_rows,
        started_at=started,
        inputs=reference_inputs([s for s in sources if s.episode not in waiting]),
        parameters={"min_samples": config.min_samples, "refinement_min_distance": config.refinement_min_distance},
        models={"speaker_encoder": identify.encoder_of(table)},
        metadata={
            "per_character": dg.MetadataValue.json(counts),
            "by_source": dg.MetadataValue.json(dict(Counter(table.column("source").to_pylist()))),
            "episodes": dg.MetadataValue.json(sorted({e.episode for e in labelled})),
            "waiting_for_embeddings": dg.MetadataValue.json(waiting),
            "warnings": dg.MetadataValue.json(warnings),
            "suggested": dg.MetadataValue.json(evaluation["suggested"]),
            "leave_one_out": dg.MetadataValue.md(f"```\n{identify.format_evaluation(evaluation)}\n```"),
        },
    )


class PredictionConfig(dg.Config):
    k: Optional[int] = Field(default=None, description="neighbours per character; empty: the reference set's suggestion")
    certain_threshold: Optional[float] = Field(default=None, description="distance at or below which a prediction is certain")
    uncertain_threshold: Optional[float] = Field(default=None, description="distance at or below which it is uncertain; above: unknown")


@dg.asset(
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[speaker_embeddings, transcript, reference_set],
    group_name="identify",
    code_version="1",
    kinds={"scikitlearn", "parquet"},
    check_specs=[dg.AssetCheckSpec("predictions_valid", asset="character_predictions", blocking=True,
                                   description="dims match the reference set, distances in [0, 2], one row per line, sorted")],
    description="Per-line character by per-class cosine KNN against the reference set: character, distance, status, neighbours.",
)
def character_predictions(context: dg.AssetExecutionContext, config: PredictionConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = context.partition_key
    emb_path = require(layout.asset_file("speaker_embeddings", ep), "speaker_embeddings", ep)
    transcript_path = require(layout.asset_file("transcript", ep), "transcript", ep)
    ref_path = require(layout.asset_file("reference_set"), "reference_set")
    eval_path = layout.asset_file("reference_set", suffix=".evaluation.json")
    embeddings, lines, ref_table = pq.read_table(emb_path), pq.read_table(transcript_path), pq.read_table(ref_path)
    problems = []
    if vector_dim(embeddings) != vector_dim(ref_table) or identify.encoder_of(embeddings) != identify.encoder_of(ref_table):
        raise dg.Failure(
            f"{emb_path}: embedded with {identify.encoder_of(embeddings)} (dim {vector_dim(embeddings)}) but the reference set "
            f"uses {identify.encoder_of(ref_table)} (dim {vector_dim(ref_table)}); re-materialize one of them"
        )
    suggested = json.loads(eval_path.read_text())["suggested"]
    k = config.k or suggested["k"]
    certain = config.certain_threshold if config.certain_threshold is not None else suggested["certain_threshold"]
    uncertain = config.uncertain_threshold if config.uncertain_threshold is not None else suggested["uncertain_threshold"]
    annotations = layout.annotation_file(ep)
    labels = {lab.line_id: lab.character for lab in labels_for(annotations, lines)} if annotations.exists() else {}
    ref = identify.Reference.from_table(ref_table)
    table = identify.predictions_table(ep, lines, embeddings, ref, labels, k, certain, uncertain)
    problems += identify.check_predictions(table, lines)
    out = write_parquet(table, layout.asset_file("character_predictions", ep))
    rows = table.to_pylist()
    _, matrix = vectors_of(embeddings)  # rows in line order, as the embedded lines below
    embedded_labels = [r["character"] for r in sorted(rows, key=lambda r: r["line_id"]) if r["distance"] is not None]
    per_character: dict[str, Counter] = {}
    for r in rows:
        per_character.setdefault(r["character"] or "(none)", Counter())[r["status"]] += 1
    inputs = [upstream("speaker_embeddings", ep, emb_path), upstream("transcript", ep, transcript_path), upstream("reference_set", "", ref_path)]
    if annotations.exists():
        inputs.append(source_file(annotations, ep))
    return finish(
        context,
        data,
        outputs=[out],
        row_count=table.num_rows,
        started_at=started,
        inputs=inputs,
        parameters={"k": k, "certain_threshold": certain, "uncertain_threshold": uncertain, "rule": "k-nearest-per-class"},
        models={"speaker_encoder": identify.encoder_of(ref_table)},
        metadata={
            "per_character": dg.MetadataValue.json({c: dict(n) for c, n in sorted(per_character.items())}),
            "status_counts": dg.MetadataValue.json(dict(Counter(r["status"] for r in rows))),
            "projection": dg.MetadataValue.md(png_markdown(identify.projection_png(matrix, embedded_labels, ref), "embeddings")),
            "distance_histogram": dg.MetadataValue.md(png_markdown(identify.histogram_png([r["distance"] for r in rows], certain, uncertain), "distances")),
        },
        checks=[check("predictions_valid", problems, reference_dim=vector_dim(ref_table))],
    )
