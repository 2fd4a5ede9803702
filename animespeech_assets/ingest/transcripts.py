"""An episode's transcript from its subtitles or, without them, from speech recognition: which
source applies, and what each one records (parameters, models, figures)."""

from __future__ import annotations

import dataclasses
import enum
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from animespeech_assets.backends.devices import ThreadBudget
from animespeech_assets.core import voice
from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE
from animespeech_assets.core.progress import Progress
from animespeech_assets.ingest.dialogue_rules import DialogueRule
from animespeech_assets.ingest.embedded import EmbeddedSubtitleError, track_events, where
from animespeech_assets.ingest.recognition import Segmentation, SpeakerMerge, transcript_from_segments
from animespeech_assets.ingest.subtitles import (
    SubtitleError,
    TranscriptFilters,
    TranscriptReport,
    dialogue_cues,
    dropped_table,
    load_subtitle_file,
    transcript_from_cues,
)
from animespeech_assets.ingest.tracks import TEXT_SUBTITLE_CODECS, UNDETERMINED, ReleasePlan

SUBTITLE_TIMES_ASR_TEXT = "subtitle_times_asr_text"  # foreign subtitles: their times, the recognised text


class TranscriptSource(str, enum.Enum):
    auto = "auto"  # subtitles when the episode has a subtitle file, else speech recognition
    subtitles = "subtitles"
    asr = "asr"


class TranscriptError(ValueError):
    """An episode whose transcript cannot be made as asked."""


def uses_recognition(source: TranscriptSource, plan: ReleasePlan) -> bool:
    source = TranscriptSource(source)
    if source == TranscriptSource.subtitles and plan.subtitles.kind == "none":
        raise TranscriptError(f"{plan.media}: no usable subtitles ({plan.subtitles.rule}); an external file of the same stem "
                              f"(.srt/.ass/.ssa/.vtt) or a text subtitle track is needed")
    return source == TranscriptSource.asr or (source == TranscriptSource.auto and plan.subtitles.kind == "none")


@dataclass
class Transcript:
    table: pa.Table
    report: TranscriptReport
    parameters: dict[str, Any]
    models: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # shown in the asset's metadata
    dropped: pa.Table | None = None  # subtitle events that are not dialogue, with their reasons


def subtitle_events(plan: ReleasePlan):
    """(parsed events, where they came from, format, encoding) of the episode's chosen subtitles."""
    if plan.subtitles.kind == "external":
        subs, encoding, fmt = load_subtitle_file(plan.subtitles.external)
        return subs, str(plan.subtitles.external), fmt, encoding
    track = plan.subtitles.track
    try:
        subs = track_events(plan.media, track)
    except EmbeddedSubtitleError as exc:
        raise SubtitleError(str(exc)) from exc
    return subs, where(plan.media, track), TEXT_SUBTITLE_CODECS[track.codec], "utf-8"


def written_language(texts: list[str]) -> str:
    """A guess of the language subtitles are written in, for tracks and files without a language tag:
    ``jpn`` when kana or kanji make up a third of the letters, else ``und`` (some other language)."""
    letters = [ch for t in texts for ch in t if ch.isalpha()]
    japanese = sum(1 for ch in letters if "\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff")
    return "jpn" if letters and japanese >= len(letters) / 3 else UNDETERMINED


def from_subtitles(plan: ReleasePlan, audio: np.ndarray, filters: TranscriptFilters, rule: DialogueRule,
                   recognise=None, offset: float = 0.0) -> Transcript:
    """Lines from the chosen subtitles: dialogue events only. When the subtitles are in another
    language than the audio and ``recognise`` is given (``(cues, language) -> (cues, model id)``),
    each line's text is recognised from its audio and the subtitle text kept as ``translation``.
    ``offset``: the time of the decoded audio's first sample in the media's timeline."""
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    subs, source_name, fmt, encoding = subtitle_events(plan)
    cues, dropped = dialogue_cues(subs, source_name, fmt, rule)
    if offset:
        cues = [dataclasses.replace(c, start=c.start - offset, end=c.end - offset) for c in cues]
    written_in = plan.subtitles.language
    if written_in == UNDETERMINED:
        written_in = written_language([c.raw_text for c in cues])
    foreign = written_in != plan.audio_language
    parameters = {"min_duration": filters.min_duration, "min_chars": filters.min_chars, "source": "subtitles",
                  "dialogue_rule": rule.describe(), "subtitle_language": written_in, "audio_language": plan.audio_language}
    models = {}
    if foreign and recognise is not None:
        cues, models["asr"] = recognise(cues, plan.audio_language)
        parameters["source"] = SUBTITLE_TIMES_ASR_TEXT
    table, report = transcript_from_cues(cues, dropped, source_name, encoding, fmt, duration, filters, parameters["source"])
    details = {"encoding": encoding, "subtitles": source_name, "foreign_subtitles": foreign}
    return Transcript(table, report, parameters, models, details, dropped_table(dropped))


def speaker_vectors(audio: np.ndarray, encoder):
    """``[(start, end)] -> [vector | None]``: each span's speaker vector (None where it is too short)."""
    def vectors(spans: list[tuple[float, float]]) -> list:
        clips = [audio[int(a * ANALYSIS_SAMPLE_RATE):int(b * ANALYSIS_SAMPLE_RATE)] for a, b in spans]
        usable = [i for i, c in enumerate(clips) if len(c) >= encoder.min_seconds * ANALYSIS_SAMPLE_RATE]
        out: list = [None] * len(spans)
        if usable:
            for i, vector in zip(usable, encoder.embed([np.asarray(clips[i], np.float32) for i in usable])):
                out[i] = vector
        return out

    return vectors


def silences_of(audio: np.ndarray, seg: Segmentation) -> list[tuple[float, float]]:
    """Voice activity's silences in ``audio`` (16 kHz) at least ``seg.min_silence`` long, for :func:`voiced_pieces`."""
    with ThreadBudget() as budget:  # as many threads as cores other processes leave free
        return voice.silences(voice.speech_probabilities(audio, ANALYSIS_SAMPLE_RATE, budget.threads), seg.min_silence)


def recognised_lines(audio: np.ndarray, segments, filters: TranscriptFilters, seg: Segmentation, guards,
                     encoder=None, merge: SpeakerMerge = SpeakerMerge()):
    """(table, report) of the recogniser's ``segments`` of ``audio``. With a speaker ``encoder`` the lines
    are voiced pieces (between voice activity's silences) joined again by speaker; without one they are
    cut at the word times' pauses and sentence ends (voiced pieces alone would split one person's
    utterances at every breath)."""
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    if encoder is None:
        return transcript_from_segments(segments, duration, filters, seg, guards)
    return transcript_from_segments(segments, duration, filters, seg, guards, speaker_vectors(audio, encoder), merge,
                                    silences_of(audio, seg))


def from_recognition(audio: np.ndarray, recognizer, language: str, filters: TranscriptFilters, seg: Segmentation,
                     beam_size: int, no_repeat_ngram_size: int, where: str = "the audio", log=None,
                     encoder=None, merge: SpeakerMerge = SpeakerMerge()) -> Transcript:
    """The transcript of ``audio`` by speech recognition; with a speaker ``encoder``, the pieces of one
    speaker's utterance are joined into one line."""
    duration = len(audio) / ANALYSIS_SAMPLE_RATE
    t0 = time.perf_counter()
    with Progress("speech recognition", duration, "s of audio", log) as progress:
        segments = recognizer.transcribe(audio, language, progress)
    rtf = (time.perf_counter() - t0) / max(duration, 1e-9)
    table, report = recognised_lines(audio, segments, filters, seg, recognizer.options, encoder, merge)
    if table.num_rows == 0:
        raise TranscriptError(f"{where}: speech recognition found no usable line in {duration:.1f} s of audio "
                              f"({report.segments} segments, {report.dropped_no_speech} without speech): there is nothing to transcribe")
    parameters = {"min_duration": filters.min_duration, "min_chars": filters.min_chars, "source": "asr", "language": language,
                  "beam_size": beam_size, "no_repeat_ngram_size": no_repeat_ngram_size, "max_gap": seg.max_gap, "min_silence": seg.min_silence,
                  "max_line_duration": seg.max_duration,
                  "merge_same_speaker": encoder is not None, "merge_max_gap": merge.max_gap, "merge_cluster_distance": merge.cluster_distance}
    details = {"asr_segments": report.segments, "dropped_no_speech": report.dropped_no_speech,
               "dropped_repetition": report.dropped_repetition, "collapsed_repetition": report.collapsed_repetition,
               "merged_pieces": report.merged_pieces,
               "real_time_factor": round(rtf, 4)}
    models = {"asr": recognizer.model_id, **({"speaker_encoder": encoder.model_id} if encoder is not None else {})}
    return Transcript(table, report, parameters, models, details)


def report_figures(report: TranscriptReport) -> dict[str, Any]:
    """What happened to the cues, for the asset's metadata."""
    return {"format": report.format, "lines_in": report.cues, "not_dialogue": report.not_dialogue, "dropped_empty": report.dropped_empty,
            "dropped_short": report.dropped_short, "dropped_outside_audio": report.dropped_outside_audio,
            "clipped_to_audio": report.clipped_to_audio, "overlapping": report.overlapping}
