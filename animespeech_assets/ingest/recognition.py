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


@dataclass(frozen=True)
class SpeakerMerge:
    """Joining the pieces of one person's utterance that a sentence end or a pause split: two
    neighbouring pieces become one line when the pause between them is short and their speaker
    vectors agree (the speaker encoder the embeddings use); a change of speaker always ends a line."""

    max_gap: float = 1.0  # pieces further apart stay separate lines
    min_similarity: float = 0.55  # cosine similarity of two pieces' speaker vectors from which they are one voice
    short_gap: float = 0.2  # a piece too short to embed joins its neighbour only across a pause this short
    max_duration: float = 12.0


@dataclass
class AsrReport(TranscriptReport):
    segments: int = 0
    dropped_no_speech: int = 0
    dropped_repetition: int = 0
    collapsed_repetition: int = 0
    merged_pieces: int = 0  # pieces of one speaker's utterance joined into the line before them


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


def merge_same_speaker(cues: list[Cue], vectors: list, opts: SpeakerMerge) -> list[Cue]:
    """``cues`` (in time order) with neighbouring pieces of one speaker joined; ``vectors`` are their
    L2-normalised speaker vectors (None: too short to embed)."""
    import dataclasses

    import numpy as np

    out: list[tuple[Cue, object]] = []
    for cue, vec in zip(cues, vectors):
        if out:
            last, last_vec = out[-1]
            gap = cue.start - last.end
            if vec is not None and last_vec is not None:
                same = gap <= opts.max_gap and float(np.dot(last_vec, vec)) >= opts.min_similarity
            else:
                same = gap <= opts.short_gap
            if same and cue.end - last.start <= opts.max_duration:
                w_last, w_cue = last.end - last.start, cue.end - cue.start
                merged = dataclasses.replace(
                    last, end=cue.end, raw_text=last.raw_text + cue.raw_text,
                    avg_logprob=_weighted(last.avg_logprob, cue.avg_logprob, w_last, w_cue),
                    no_speech_prob=max(last.no_speech_prob or 0, cue.no_speech_prob or 0),
                    compression_ratio=max(last.compression_ratio or 0, cue.compression_ratio or 0),
                    word_probability=_weighted(last.word_probability, cue.word_probability, w_last, w_cue))
                pooled = last_vec if vec is None else vec if last_vec is None else last_vec * w_last + vec * w_cue
                out[-1] = (merged, None if pooled is None else pooled / max(float(np.linalg.norm(pooled)), 1e-12))
                continue
        out.append((cue, vec))
    return [dataclasses.replace(c, index=i) for i, (c, _) in enumerate(out, start=1)]


def _weighted(a: float | None, b: float | None, wa: float, wb: float) -> float | None:
    if a is None or b is None:
        return a if b is None else b
    return (a * wa + b * wb) / max(wa + wb, 1e-9)


def transcript_from_segments(
    segments: list[Segment],
    audio_duration: float,
    filters: TranscriptFilters,
    seg: Segmentation = Segmentation(),
    guards: DecodeOptions = DecodeOptions(),
    speaker_vectors=None,
    merge: SpeakerMerge = SpeakerMerge(),
) -> tuple[pa.Table, AsrReport]:
    """The transcript of recognised ``segments``. With ``speaker_vectors`` (``[(start, end)] -> [vector | None]``),
    pieces of one speaker's utterance are joined into one line (:func:`merge_same_speaker`)."""
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
    if speaker_vectors is not None and cues:
        pieces = len(cues)
        cues = merge_same_speaker(cues, speaker_vectors([(c.start, c.end) for c in cues]), merge)
        report.merged_pieces = pieces - len(cues)
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
