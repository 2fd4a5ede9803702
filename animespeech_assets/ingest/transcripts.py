"""An episode's transcript from its subtitles or, without them, from speech recognition: which
source applies, and what each one records (parameters, models, figures)."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE
from animespeech_assets.ingest.recognition import Segmentation, transcript_from_segments
from animespeech_assets.ingest.subtitles import TranscriptFilters, TranscriptReport, transcript_from_subtitles


class TranscriptSource(str, enum.Enum):
    auto = "auto"  # subtitles when the episode has a subtitle file, else speech recognition
    subtitles = "subtitles"
    asr = "asr"


class TranscriptError(ValueError):
    """An episode whose transcript cannot be made as asked."""


def uses_recognition(source: TranscriptSource, media: Path, subtitles: Path | None) -> bool:
    source = TranscriptSource(source)
    if source == TranscriptSource.subtitles and subtitles is None:
        raise TranscriptError(f"{media}: no subtitle file with the same stem (.srt/.ass/.ssa/.vtt) beside it")
    return source == TranscriptSource.asr or (source == TranscriptSource.auto and subtitles is None)


@dataclass
class Transcript:
    table: pa.Table
    report: TranscriptReport
    parameters: dict[str, Any]
    models: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # shown in the asset's metadata


def from_subtitles(path: Path, audio_duration: float, filters: TranscriptFilters) -> Transcript:
    table, report = transcript_from_subtitles(path, audio_duration, filters)
    return Transcript(table, report, {"min_duration": filters.min_duration, "min_chars": filters.min_chars, "source": "subtitles"},
                      details={"encoding": report.encoding})


def from_recognition(audio: np.ndarray, recognizer, language: str, filters: TranscriptFilters, seg: Segmentation,
                     beam_size: int, no_repeat_ngram_size: int) -> Transcript:
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    t0 = time.perf_counter()
    segments = recognizer.transcribe(audio, language)
    rtf = (time.perf_counter() - t0) / max(duration, 1e-9)
    table, report = transcript_from_segments(segments, duration, filters, seg, recognizer.options)
    parameters = {"min_duration": filters.min_duration, "min_chars": filters.min_chars, "source": "asr", "language": language,
                  "beam_size": beam_size, "no_repeat_ngram_size": no_repeat_ngram_size, "max_gap": seg.max_gap,
                  "max_line_duration": seg.max_duration}
    details = {"asr_segments": report.segments, "dropped_no_speech": report.dropped_no_speech,
               "dropped_repetition": report.dropped_repetition, "collapsed_repetition": report.collapsed_repetition,
               "real_time_factor": round(rtf, 4)}
    return Transcript(table, report, parameters, {"asr": recognizer.model_id}, details)


def report_figures(report: TranscriptReport) -> dict[str, Any]:
    """What happened to the cues, for the asset's metadata."""
    return {"format": report.format, "lines_in": report.cues, "dropped_empty": report.dropped_empty,
            "dropped_short": report.dropped_short, "dropped_outside_audio": report.dropped_outside_audio,
            "clipped_to_audio": report.clipped_to_audio, "overlapping": report.overlapping}
