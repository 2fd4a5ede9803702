"""Transcripts by speech recognition: recogniser segments cut into one-speaker lines.

Lines are split at pauses and sentence ends (using word timestamps where the recogniser gives
them) and never run longer than ``max_duration``, so a line rarely spans two speakers. Whisper's
known failure modes are guarded: text in silence or music (high no-speech probability with a low
log-probability) is dropped, repetition loops (high compression ratio) are dropped and shorter
repeated runs collapsed, and lines are clipped to the audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from animespeech_assets.backends.asr import DecodeOptions, Segment
from animespeech_assets.ingest.subtitles import Cue, TranscriptFilters, TranscriptReport, build_transcript

SENTENCE_END = "。！？!?．…"
_REPEAT = re.compile(r"(.{1,12}?)\1{3,}")  # a unit repeated 4+ times in a row


@dataclass(frozen=True)
class Segmentation:
    max_gap: float = 0.45  # a pause at least this long between words starts a new line
    sentence_gap: float = 0.15  # after a sentence end, this pause suffices
    max_duration: float = 12.0


@dataclass
class AsrReport(TranscriptReport):
    segments: int = 0
    dropped_no_speech: int = 0
    dropped_repetition: int = 0
    collapsed_repetition: int = 0


def collapse_repetitions(text: str) -> str:
    return _REPEAT.sub(lambda m: m.group(1) * 2, text)


def split_lines(segments: list[Segment], seg: Segmentation) -> list[tuple[Segment, float, float, str, float | None]]:
    """(segment, start, end, text, mean word probability) per line."""
    lines = []
    for s in segments:
        if not s.words:
            lines.append((s, s.start, s.end, s.text.strip(), None))
            continue
        group = [s.words[0]]
        for prev, word in zip(s.words, s.words[1:]):
            gap = word.start - prev.end
            breaks = (
                gap >= seg.max_gap
                or (prev.text.strip()[-1:] in SENTENCE_END and gap >= seg.sentence_gap)
                or word.end - group[0].start > seg.max_duration
            )
            if breaks:
                lines.append(_line(s, group))
                group = []
            group.append(word)
        lines.append(_line(s, group))
    return [ln for ln in lines if ln[3]]


def _line(s: Segment, words) -> tuple[Segment, float, float, str, float]:
    text = "".join(w.text for w in words).strip()
    return s, words[0].start, words[-1].end, text, sum(w.probability for w in words) / len(words)


def transcript_from_segments(
    segments: list[Segment],
    audio_duration: float,
    filters: TranscriptFilters,
    seg: Segmentation = Segmentation(),
    guards: DecodeOptions = DecodeOptions(),
) -> tuple[pa.Table, AsrReport]:
    report = AsrReport(format="asr", segments=len(segments))
    cues = []
    for i, (s, start, end, text, word_p) in enumerate(split_lines(segments, seg), start=1):
        if (s.no_speech_prob or 0) > guards.no_speech_threshold and (s.avg_logprob or 0) < guards.log_prob_threshold:
            report.dropped_no_speech += 1
            continue
        if (s.compression_ratio or 0) > guards.compression_ratio_threshold:
            report.dropped_repetition += 1
            report.warnings.append(f"{start:.2f}-{end:.2f} s: repetition loop dropped: {text[:30]!r}")
            continue
        collapsed = collapse_repetitions(text)
        if collapsed != text:
            report.collapsed_repetition += 1
        cues.append(Cue(i, max(0.0, start), end, collapsed, avg_logprob=s.avg_logprob, no_speech_prob=s.no_speech_prob,
                        compression_ratio=s.compression_ratio, word_probability=word_p))
    table = build_transcript(cues, audio_duration, filters, report, source="asr")
    return table, report


LINE_PAD = 0.1  # seconds of audio either side of a subtitle line given to the recogniser


def recognise_cues(cues: list[Cue], audio, sample_rate: int, recognizer, language: str,
                   guards: DecodeOptions = DecodeOptions(), progress=None) -> list[Cue]:
    """The spoken text of each cue's audio (subtitles in another language: their times are good,
    their text is not), the cue's own text kept as ``translation``. A cue with no recognised speech
    keeps an empty text (the transcript then drops it as empty)."""
    import dataclasses

    out = []
    for n, cue in enumerate(cues, start=1):
        a = max(0, int((cue.start - LINE_PAD) * sample_rate))
        b = min(len(audio), int((cue.end + LINE_PAD) * sample_rate))
        segments = recognizer.transcribe(audio[a:b], language) if b - a >= int(0.1 * sample_rate) else []
        kept = [s for s in segments
                if not ((s.no_speech_prob or 0) > guards.no_speech_threshold and (s.avg_logprob or 0) < guards.log_prob_threshold)]
        words = [w for s in kept for w in s.words]
        text = collapse_repetitions("".join(s.text.strip() for s in kept))
        out.append(dataclasses.replace(
            cue, raw_text=text, translation=cue.raw_text,
            avg_logprob=sum(s.avg_logprob or 0 for s in kept) / len(kept) if kept else None,
            no_speech_prob=max((s.no_speech_prob or 0) for s in kept) if kept else None,
            compression_ratio=max((s.compression_ratio or 0) for s in kept) if kept else None,
            word_probability=sum(w.probability for w in words) / len(words) if words else None,
        ))
        if progress is not None:
            progress(n, len(cues))
    return out
