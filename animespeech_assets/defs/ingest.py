"""Ingest stage: decode the episode's audio once, read its subtitles into a transcript."""


import dagster as dg
from pydantic import Field

from animespeech_assets.audio import ANALYSIS_SAMPLE_RATE, decode_audio, load_audio
from animespeech_assets.episodes import find_episode
from animespeech_assets.lineage import utcnow
from animespeech_assets.storage import sha256_file, write_npy, write_parquet
from animespeech_assets.subtitles import TranscriptFilters, check_transcript, transcript_from_subtitles

from .partitions import episodes
from .recording import check, finish, source_file, upstream
from .resources import DataResource

TRANSCRIPT_CHECKS = [
    dg.AssetCheckSpec("transcript_valid", asset="transcript", blocking=True,
                      description="non-empty, unique line ids, sorted, every line inside the audio"),
]


@dg.asset(
    partitions_def=episodes,
    group_name="ingest",
    code_version="1",
    kinds={"pyav", "numpy"},
    description="The episode's audio track decoded once to 16 kHz mono float32 (data/assets/episode_audio/<episode>.npy).",
)
def episode_audio(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = find_episode(layout.inputs, context.partition_key)
    digest = sha256_file(ep.media)
    samples, source = decode_audio(ep.media, ANALYSIS_SAMPLE_RATE)
    out = write_npy(samples, layout.asset_file("episode_audio", ep.key, ".npy"))
    duration = samples.size / ANALYSIS_SAMPLE_RATE
    return finish(
        context,
        data,
        outputs=[out],
        row_count=int(samples.size),
        started_at=started,
        inputs=[source_file(ep.media, ep.key, digest)],
        parameters={"sample_rate": ANALYSIS_SAMPLE_RATE, "channels": 1, "dtype": "float32"},
        metadata={
            "duration_s": round(duration, 3),
            "source_file": dg.MetadataValue.path(str(ep.media)),
            "source_sha256": digest,
            "source_codec": source.codec,
            "source_sample_rate": source.sample_rate,
            "source_channels": source.channels,
        },
    )


class TranscriptConfig(dg.Config):
    min_duration: float = Field(default=TranscriptFilters.min_duration, description="drop cues shorter than this (s)")
    min_chars: int = Field(default=TranscriptFilters.min_chars, description="drop cues with fewer cleaned characters")


@dg.asset(
    partitions_def=episodes,
    deps=[episode_audio],
    group_name="ingest",
    code_version="1",
    kinds={"pysubs2", "parquet"},
    check_specs=TRANSCRIPT_CHECKS,
    description="One row per subtitle cue: line_id, start, end, text, raw_text, source.",
)
def transcript(context: dg.AssetExecutionContext, config: TranscriptConfig, data: DataResource) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = find_episode(layout.inputs, context.partition_key)
    audio_path = layout.asset_file("episode_audio", ep.key, ".npy")
    duration = len(load_audio(audio_path)) / ANALYSIS_SAMPLE_RATE
    if ep.subtitles is None:
        raise dg.Failure(f"{ep.media}: no subtitle file with the same stem (.srt/.ass/.ssa/.vtt) in {layout.inputs}")
    filters = TranscriptFilters(min_duration=config.min_duration, min_chars=config.min_chars)
    table, report = transcript_from_subtitles(ep.subtitles, duration, filters)
    for warning in report.warnings:
        context.log.warning(f"{ep.subtitles}: {warning}")
    out = write_parquet(table, layout.asset_file("transcript", ep.key))
    preview = table.slice(0, 8).select(["line_id", "start", "end", "text"]).to_pandas()
    return finish(
        context,
        data,
        outputs=[out],
        row_count=table.num_rows,
        started_at=started,
        inputs=[upstream("episode_audio", ep.key, audio_path), source_file(ep.subtitles, ep.key)],
        parameters={"source": "subtitles", "min_duration": filters.min_duration, "min_chars": filters.min_chars},
        metadata={
            "subtitle_file": dg.MetadataValue.path(str(ep.subtitles)),
            "encoding": report.encoding,
            "format": report.format,
            "cues": report.cues,
            "dropped_empty": report.dropped_empty,
            "dropped_short": report.dropped_short,
            "dropped_outside_audio": report.dropped_outside_audio,
            "clipped_to_audio": report.clipped_to_audio,
            "overlapping": report.overlapping,
            "warnings": dg.MetadataValue.json(report.warnings),
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
        },
        checks=[check("transcript_valid", check_transcript(table, duration))],
    )
