"""Ingest stage: decode the episode's audio once; its transcript from subtitles or speech recognition."""

import time

import dagster as dg
from pydantic import Field

from animespeech_assets.asr import Segmentation, transcript_from_segments
from animespeech_assets.audio import ANALYSIS_SAMPLE_RATE, decode_audio, load_audio
from animespeech_assets.backends.asr import BACKENDS, DecodeOptions, load_recognizer
from animespeech_assets.episodes import find_episode
from animespeech_assets.lineage import utcnow
from animespeech_assets.storage import sha256_file, write_npy, write_parquet
from animespeech_assets.subtitles import TranscriptFilters, check_transcript, transcript_from_subtitles

from .partitions import episodes
from .recording import check, finish, require, source_file, upstream
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


class SpeechRecognizerResource(dg.ConfigurableResource):
    """The speech recogniser, loaded once per process. The default runs offline on CPU."""

    backend: str = Field(default="faster_whisper", description=f"one of {BACKENDS}")
    model: str = Field(default="", description="CTranslate2 folder, Whisper checkpoint id/folder; empty: the backend's default")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    precision: str = Field(default="auto", description="faster_whisper compute type (int8, float16, ...) or torch dtype (float16, bfloat16, float32)")
    batch_size: int = Field(default=16, description="speech chunks per generate call (transformers; anime-whisper's authors use 64)")
    language: str = Field(default="ja")
    beam_size: int = Field(default=5)
    no_repeat_ngram_size: int = Field(default=0, description="> 0 forbids repeated n-grams (e.g. 5 for anime-whisper)")

    def load(self, cache: str):
        options = DecodeOptions(beam_size=self.beam_size, no_repeat_ngram_size=self.no_repeat_ngram_size)
        return load_recognizer(self.backend, self.model, self.device, self.precision, self.batch_size, options, cache)


class TranscriptConfig(dg.Config):
    source: str = Field(default="auto", description="auto (subtitles when present, else speech recognition) | subtitles | asr")
    min_duration: float = Field(default=TranscriptFilters.min_duration, description="drop lines shorter than this (s)")
    min_chars: int = Field(default=TranscriptFilters.min_chars, description="drop lines with fewer cleaned characters")
    max_gap: float = Field(default=Segmentation.max_gap, description="asr: a pause this long starts a new line (s)")
    max_line_duration: float = Field(default=Segmentation.max_duration, description="asr: longest line (s)")


@dg.asset(
    partitions_def=episodes,
    deps=[episode_audio],
    group_name="ingest",
    code_version="2",
    pool="gpu",
    kinds={"pysubs2", "whisper", "parquet"},
    check_specs=TRANSCRIPT_CHECKS,
    description="One row per line: line_id, start, end, text, raw_text, source (subtitles or asr), recogniser confidence.",
)
def transcript(
    context: dg.AssetExecutionContext, config: TranscriptConfig, data: DataResource, speech_recognizer: SpeechRecognizerResource
) -> dg.MaterializeResult:
    started = utcnow()
    layout = data.layout
    ep = find_episode(layout.inputs, context.partition_key)
    audio_path = require(layout.asset_file("episode_audio", ep.key, ".npy"), "episode_audio", ep.key)
    audio = load_audio(audio_path)
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    if config.source not in ("auto", "subtitles", "asr"):
        raise dg.Failure(f"transcript source must be auto, subtitles or asr, not {config.source!r}")
    use_asr = config.source == "asr" or (config.source == "auto" and ep.subtitles is None)
    if not use_asr and ep.subtitles is None:
        raise dg.Failure(f"{ep.media}: no subtitle file with the same stem (.srt/.ass/.ssa/.vtt) in {layout.inputs}")
    filters = TranscriptFilters(min_duration=config.min_duration, min_chars=config.min_chars)
    inputs = [upstream("episode_audio", ep.key, audio_path)]
    parameters = {"min_duration": filters.min_duration, "min_chars": filters.min_chars}
    models = {}
    if use_asr:
        recognizer = speech_recognizer.load(str(layout.cache / "models"))
        t0 = time.perf_counter()
        segments = recognizer.transcribe(audio, speech_recognizer.language)
        rtf = (time.perf_counter() - t0) / max(duration, 1e-9)
        seg = Segmentation(max_gap=config.max_gap, max_duration=config.max_line_duration)
        table, report = transcript_from_segments(segments, duration, filters, seg, recognizer.options)
        parameters |= {"source": "asr", "language": speech_recognizer.language, "beam_size": speech_recognizer.beam_size,
                       "no_repeat_ngram_size": speech_recognizer.no_repeat_ngram_size, "max_gap": seg.max_gap,
                       "max_line_duration": seg.max_duration}
        models["asr"] = recognizer.model_id
        extra = {"asr_segments": report.segments, "dropped_no_speech": report.dropped_no_speech,
                 "dropped_repetition": report.dropped_repetition, "collapsed_repetition": report.collapsed_repetition,
                 "real_time_factor": round(rtf, 4)}
    else:
        table, report = transcript_from_subtitles(ep.subtitles, duration, filters)
        inputs.append(source_file(ep.subtitles, ep.key))
        parameters["source"] = "subtitles"
        extra = {"subtitle_file": dg.MetadataValue.path(str(ep.subtitles)), "encoding": report.encoding}
    for warning in report.warnings:
        context.log.warning(f"{ep.key}: {warning}")
    out = write_parquet(table, layout.asset_file("transcript", ep.key))
    preview = table.slice(0, 8).select(["line_id", "start", "end", "text"]).to_pandas()
    return finish(
        context,
        data,
        outputs=[out],
        row_count=table.num_rows,
        started_at=started,
        inputs=inputs,
        parameters=parameters,
        models=models,
        metadata={
            "source": parameters["source"],
            "format": report.format,
            "lines_in": report.cues,
            "dropped_empty": report.dropped_empty,
            "dropped_short": report.dropped_short,
            "dropped_outside_audio": report.dropped_outside_audio,
            "clipped_to_audio": report.clipped_to_audio,
            "overlapping": report.overlapping,
            "warnings": dg.MetadataValue.json(report.warnings),
            "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
            **extra,
        },
        checks=[check("transcript_valid", check_transcript(table, duration))],
    )
