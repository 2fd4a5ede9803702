"""Ingest stage: decode the episode's audio once; its transcript from subtitles or speech recognition."""

import dagster as dg
from pydantic import Field

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio, load_audio
from animespeech_assets.core.storage import write_npy, write_parquet
from animespeech_assets.ingest import transcripts
from animespeech_assets.ingest.episodes import find_episode
from animespeech_assets.ingest.recognition import Segmentation
from animespeech_assets.ingest.subtitles import TranscriptFilters, check_transcript

from .materialize import Materialization, check, table_preview
from .partitions import episodes
from .resources import DataResource, SpeechRecognizerResource


@dg.asset(
    partitions_def=episodes,
    group_name="ingest",
    code_version="1",
    kinds={"pyav", "numpy"},
    description="The episode's audio track decoded once to 16 kHz mono float32 (data/assets/episode_audio/<episode>.npy).",
)
def episode_audio(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    ep = find_episode(m.layout.inputs, m.partition)
    digest = m.source(ep.media)
    samples, source = decode_audio(ep.media, ANALYSIS_SAMPLE_RATE)
    write_npy(samples, m.output())
    return m.done(
        row_count=int(samples.size),
        parameters={"sample_rate": ANALYSIS_SAMPLE_RATE, "channels": 1, "dtype": "float32"},
        metadata={"duration_s": round(samples.size / ANALYSIS_SAMPLE_RATE, 3), "source_file": dg.MetadataValue.path(str(ep.media)),
                  "source_sha256": digest, "source_codec": source.codec, "source_sample_rate": source.sample_rate,
                  "source_channels": source.channels},
    )


class TranscriptConfig(dg.Config):
    source: transcripts.TranscriptSource = Field(default=transcripts.TranscriptSource.auto,
                                                 description="auto (subtitles when present, else speech recognition) | subtitles | asr")
    min_duration: float = Field(default=TranscriptFilters.min_duration, description="drop lines shorter than this (s)")
    min_chars: int = Field(default=TranscriptFilters.min_chars, description="drop lines with fewer cleaned characters")
    max_gap: float = Field(default=Segmentation.max_gap, description="asr: a pause this long starts a new line (s)")
    max_line_duration: float = Field(default=Segmentation.max_duration, description="asr: longest line (s)")


@dg.asset(
    partitions_def=episodes,
    deps=[episode_audio],
    group_name="ingest",
    code_version="3",
    pool="gpu",
    kinds={"pysubs2", "whisper", "parquet"},
    check_specs=[dg.AssetCheckSpec("transcript_valid", asset="transcript", blocking=True,
                                   description="non-empty, unique line ids, sorted, every line inside the audio")],
    description="One row per line: line_id, start, end, text, raw_text, source (subtitles or asr), recogniser confidence.",
)
def transcript(context: dg.AssetExecutionContext, config: TranscriptConfig, data: DataResource,
               speech_recognizer: SpeechRecognizerResource) -> dg.MaterializeResult:
    m = Materialization(context, data)
    ep = find_episode(m.layout.inputs, m.partition)
    audio = load_audio(m.read("episode_audio"))
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    filters = TranscriptFilters(min_duration=config.min_duration, min_chars=config.min_chars)
    if transcripts.uses_recognition(config.source, ep.media, ep.subtitles):
        seg = Segmentation(max_gap=config.max_gap, max_duration=config.max_line_duration)
        made = transcripts.from_recognition(audio, speech_recognizer.load(), speech_recognizer.language, filters, seg,
                                            speech_recognizer.beam_size, speech_recognizer.no_repeat_ngram_size)
    else:
        m.source(ep.subtitles)
        made = transcripts.from_subtitles(ep.subtitles, duration, filters)
        made.details["subtitle_file"] = dg.MetadataValue.path(str(ep.subtitles))
    for warning in made.report.warnings:
        context.log.warning(f"{ep.key}: {warning}")
    write_parquet(made.table, m.output())
    return m.done(
        row_count=made.table.num_rows, parameters=made.parameters, models=made.models,
        metadata={"source": made.parameters["source"], **transcripts.report_figures(made.report),
                  "warnings": dg.MetadataValue.json(made.report.warnings),
                  "preview": table_preview(made.table.slice(0, 8).to_pylist(), ["line_id", "start", "end", "text"]),
                  **made.details},
        checks=[check("transcript_valid", check_transcript(made.table, duration))],
    )
