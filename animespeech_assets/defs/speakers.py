"""Speaker stage: embeddings per line, the labelled reference set, KNN predictions."""

import json
from collections import Counter
from typing import Optional

import dagster as dg
import pyarrow.parquet as pq
from pydantic import Field

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, load_audio
from animespeech_assets.core.storage import write_parquet, write_text
from animespeech_assets.review_app import page_url
from animespeech_assets.speakers import plots, predictions, references
from animespeech_assets.speakers.annotations import labels_for
from animespeech_assets.speakers.embeddings import check_embeddings, embed_lines, encoder_of, status_counts, vector_dim, with_encoder
from animespeech_assets.speakers.evaluation import format_evaluation
from animespeech_assets.speakers.knn import Reference

from .automation_conditions import REFRESH
from .ingest import episode_audio, transcript
from .materialize import READS_ANNOTATIONS, Materialization, check, png
from .partitions import CHARACTERS, episodes
from .pools import ON_GPU
from .resources import DataResource, SpeakerEncoderResource, default_of


@dg.asset(
    partitions_def=episodes,
    deps=[episode_audio, transcript],
    group_name="speakers",
    code_version="3+" + default_of(SpeakerEncoderResource, "backend", "model"),
    **ON_GPU,
    kinds={"pytorch", "parquet"},
    check_specs=[dg.AssetCheckSpec("one_embedding_per_line", asset="speaker_embeddings", blocking=True)],
    description="One speaker vector per transcript line, of the line's voiced part (voice activity), null with a reason "
    "where the line is too short, silent or holds no speech.",
)
def speaker_embeddings(context: dg.AssetExecutionContext, data: DataResource, speaker_encoder: SpeakerEncoderResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    audio = load_audio(m.read("episode_audio"))
    lines = pq.read_table(m.read("transcript"))
    encoder = speaker_encoder.load()
    table = with_encoder(embed_lines(audio, ANALYSIS_SAMPLE_RATE, lines, encoder, context.log.info), encoder.model_id)
    write_parquet(table, m.output())
    return m.done(
        row_count=table.num_rows,
        parameters={"batch_size": speaker_encoder.batch_size, "device": speaker_encoder.device, "precision": encoder.precision},
        models={"speaker_encoder": encoder.model_id},
        metadata={"encoder": encoder.model_id, "precision": encoder.precision, "dim": encoder.dim, "status_counts": dg.MetadataValue.json(status_counts(table))},
        checks=[check("one_embedding_per_line", check_embeddings(table, lines))],
    )


class ReferenceSetConfig(dg.Config):
    min_samples: int = Field(default=30, description="warn when a character has fewer labelled samples")
    refinement_min_distance: float = Field(
        default=references.Refinement.min_distance,
        description="a reviewed line joins when its character's nearest label sample is farther than this (or the KNN gets it wrong)",
    )


@dg.asset(
    deps=[speaker_embeddings, transcript],
    group_name="speakers",
    code_version="5",
    kinds={"parquet"},
    description="Embeddings of every human-labelled line of every episode (data/annotations/<episode>.csv), "
    "with provenance, plus a leave-one-out evaluation that suggests k and thresholds.",
)
def reference_set(context: dg.AssetExecutionContext, config: ReferenceSetConfig, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    built = references.assemble(m.layout, references.Refinement(min_distance=config.refinement_min_distance), config.min_samples)
    for warning in built.warnings:
        context.log.warning(warning)
    counts = Reference.from_table(built.table).counts()
    new = sorted(set(references.character_keys(counts)) - set(context.instance.get_dynamic_partitions(CHARACTERS)))
    if new:
        context.instance.add_dynamic_partitions(CHARACTERS, new)
    write_parquet(built.table, m.output())
    report = write_text(json.dumps(built.evaluation, indent=1, ensure_ascii=False), m.layout.asset_file("reference_set", suffix=".evaluation.json"))
    m.record(references.reference_inputs(built.sources))
    return m.done(
        row_count=built.table.num_rows, extra_outputs=[report],
        parameters={"min_samples": config.min_samples, "refinement_min_distance": config.refinement_min_distance},
        models={"speaker_encoder": encoder_of(built.table)},
        metadata={"per_character": dg.MetadataValue.json(counts),
                  "by_source": dg.MetadataValue.json(dict(Counter(built.table.column("source").to_pylist()))),
                  "episodes": dg.MetadataValue.json(built.episodes), "waiting_for_embeddings": dg.MetadataValue.json(built.waiting),
                  "warnings": dg.MetadataValue.json(built.warnings), "suggested": dg.MetadataValue.json(built.evaluation["suggested"]),
                  "leave_one_out": dg.MetadataValue.md(f"```\n{format_evaluation(built.evaluation)}\n```")},
    )


class PredictionConfig(dg.Config):
    k: Optional[int] = Field(default=None, description="neighbours per character; empty: the reference set's suggestion")
    certain_threshold: Optional[float] = Field(default=None, description="distance at or below which a prediction is certain")
    uncertain_threshold: Optional[float] = Field(default=None, description="distance at or below which it is uncertain; above: unknown")
    certain_margin: Optional[float] = Field(default=None, description="a certain prediction's least lead over the runner-up character")


@dg.asset(
    tags=READS_ANNOTATIONS,
    automation_condition=REFRESH,
    partitions_def=episodes,
    deps=[speaker_embeddings, transcript, reference_set],
    group_name="speakers",
    code_version="2",
    kinds={"scikitlearn", "parquet"},
    check_specs=[dg.AssetCheckSpec("predictions_valid", asset="character_predictions", blocking=True,
                                   description="dims match the reference set, distances in [0, 2], one row per line, sorted")],
    description="Per-line character by per-class cosine KNN against the reference set: character, distance, status, neighbours.",
)
def character_predictions(context: dg.AssetExecutionContext, config: PredictionConfig, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    emb_path = m.read("speaker_embeddings")
    embeddings, lines = pq.read_table(emb_path), pq.read_table(m.read("transcript"))
    ref_table = pq.read_table(m.read("reference_set", ""))
    predictions.check_compatible(embeddings, ref_table, emb_path)
    suggested = json.loads(m.layout.asset_file("reference_set", suffix=".evaluation.json").read_text())["suggested"]
    k, thresholds = predictions.settings(suggested, config.k, config.certain_threshold, config.uncertain_threshold, config.certain_margin)
    annotations = m.layout.annotation_file(m.partition)
    labels = {lab.line_id: lab.character for lab in labels_for(annotations, lines)} if annotations.exists() else {}
    if annotations.exists():
        m.source(annotations)
    ref = Reference.from_table(ref_table)
    table = predictions.predictions_table(m.partition, lines, embeddings, ref, labels, k, thresholds)
    write_parquet(table, m.output())
    per_character, by_status = predictions.counts(table)
    projection, histogram = plots.prediction_plots(table, embeddings, ref, thresholds.certain, thresholds.uncertain)
    return m.done(
        row_count=table.num_rows,
        parameters={"k": k, "certain_threshold": thresholds.certain, "uncertain_threshold": thresholds.uncertain,
                    "certain_margin": thresholds.margin, "rule": "k-nearest-per-class"},
        models={"speaker_encoder": encoder_of(ref_table)},
        metadata={"per_character": dg.MetadataValue.json(per_character), "status_counts": dg.MetadataValue.json(by_status),
                  "projection": png(projection, "embeddings"), "distance_histogram": png(histogram, "distances"),
                  "review_page": dg.MetadataValue.url(page_url(m.partition))},
        checks=[check("predictions_valid", predictions.check_predictions(table, lines), reference_dim=vector_dim(ref_table))],
    )
