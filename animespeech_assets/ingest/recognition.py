"""Transcripts by speech recognition: recogniser segments cut into one-speaker lines.

With a speaker encoder (the default), a line is made of *voiced pieces*: the stretches of speech
between two silences voice activity finds (:func:`voiced_pieces`), each holding the words whose
middle lies in it, joined again by their voices (:class:`SpeakerMerge`). So a line's edges are voice
activity's, and a recogniser's word times (loose in a batched one) only decide which piece a word
belongs to. Without one, lines are split at pauses and sentence ends of the word times
(:func:`split_lines`). Lines never run longer than ``max_duration``. Whisper's known failure modes
are guarded: text in silence or music (high no-speech probability with a low log-probability) is
dropped, repetition loops (high compression ratio) are dropped and shorter repeated runs collapsed,
and lines are clipped to the audio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa

from animespeech_assets.backends.asr import DecodeOptions, Segment, Word
from animespeech_assets.ingest.subtitles import Cue, TranscriptFilters, TranscriptReport, build_transcript

SENTENCE_END = "。！？!?．…"
_REPEAT = re.compile(r"(.{1,12}?)\1{3,}")  # a unit repeated 4+ times in a row


@dataclass(frozen=True)
class Segmentation:
    max_gap: float = 0.45  # a pause at least this long between words starts a new line
    min_silence: float = 0.3  # with speaker joining: voice activity's silences this long end a voiced piece
    sentence_gap: float = 0.15  # after a sentence end, this pause suffices
    max_duration: float = 12.0


@dataclass(frozen=True)
class SpeakerMerge:
    """Joining the pieces of one person's utterance that a sentence end or a pause split.

    The pieces' speaker vectors (the encoder the embeddings use) are clustered into voices
    (complete linkage: every two pieces of a voice within ``cluster_distance``, cosine), pieces too
    short to cluster go to the nearest voice when it is close enough, and neighbouring pieces of one
    voice become one line; a change of voice always ends a line. Comparing a piece with the whole
    voice rather than with its neighbour alone is what makes this work on pieces of one sentence,
    whose vectors are noisy (on the demo, neighbours of one line agree at a median cosine of 0.5,
    neighbours of two speakers at 0.2, with much overlap)."""

    max_gap: float = 1.0  # pieces further apart stay separate lines
    cluster_distance: float = 0.8  # cosine distance within which every two pieces of a voice lie
    min_cluster_seconds: float = 0.8  # shorter pieces are assigned to a voice, not clustered
    assign_similarity: float = 0.3  # a short piece joins the nearest voice from this cosine similarity
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
    """(segment, start, end, text, mean word probability) per line, cut at the word times' pauses and
    sentence ends and at ``seg.max_duration``."""
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


def speech_stretches(silences: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The stretches of [0, ``duration``] between ``silences`` (sorted, not overlapping)."""
    out, t = [], 0.0
    for a, b in sorted(silences):
        if a > t:
            out.append((t, min(a, duration)))
        t = max(t, b)
    if t < duration:
        out.append((t, duration))
    return out


def voiced_pieces(segments: list[Segment], seg: Segmentation, silences: list[tuple[float, float]],
                  duration: float) -> list[tuple[Segment, float, float, str, float | None]]:
    """Lines as :func:`split_lines` gives them, one per stretch of speech between voice activity's
    ``silences`` (:func:`~animespeech_assets.core.voice.silences`, at least ``seg.min_silence`` long):
    its edges are the stretch's, its words those whose middle lies in it (a word whose middle lies in
    a silence goes to the nearest stretch), its segment (for the guards) the one most of them come
    from. A stretch longer than ``seg.max_duration`` is cut by :func:`split_lines` within it; a
    segment without word times stays one line."""
    stretches = speech_stretches(silences, duration)
    if not stretches:
        return split_lines(segments, seg)
    starts = np.array([a for a, _ in stretches])
    ends = np.array([b for _, b in stretches])
    words: dict[int, list[tuple[int, Word]]] = {}
    lines = []
    for n, s in enumerate(segments):
        if not s.words:
            lines.extend(split_lines([s], seg))
        for w in s.words:
            m = (w.start + w.end) / 2
            i = int(np.searchsorted(starts, m, side="right")) - 1  # the last stretch starting before m
            if i < 0 or (m > ends[i] and i + 1 < len(stretches) and starts[i + 1] - m < m - ends[i]):
                i += 1
            words.setdefault(i, []).append((n, w))
    for i, held in sorted(words.items()):
        counts = np.bincount([n for n, _ in held])
        s = replace(segments[int(counts.argmax())], words=[w for _, w in held])
        parts = split_lines([s], seg) if ends[i] - starts[i] > seg.max_duration else [_line(s, s.words)]
        if parts:  # the outer edges are the stretch's, within max_duration
            parts[0] = (parts[0][0], max(float(starts[i]), parts[0][2] - seg.max_duration), *parts[0][2:])
            parts[-1] = (*parts[-1][:2], min(float(ends[i]), parts[-1][1] + seg.max_duration), *parts[-1][3:])
        lines.extend(p for p in parts if p[3])
    return sorted(lines, key=lambda ln: ln[1])


def _line(s: Segment, words) -> tuple[Segment, float, float, str, float]:
    text = "".join(w.text for w in words).strip()
    return s, words[0].start, words[-1].end, text, sum(w.probability for w in words) / len(words)


def voices(vectors: list, durations: list[float], opts: SpeakerMerge) -> list[int | None]:
    """A voice label per piece (None: no vector, or a short piece near no voice)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    labels: list[int | None] = [None] * len(vectors)
    long_ = [i for i, (v, d) in enumerate(zip(vectors, durations)) if v is not None and d >= opts.min_cluster_seconds]
    if not long_:
        return labels
    matrix = np.stack([vectors[i] for i in long_])
    clusters = fcluster(linkage(matrix, "complete", metric="cosine"), opts.cluster_distance, "distance") if len(long_) > 1 else [1]
    for i, c in zip(long_, clusters):
        labels[i] = int(c)
    centroids = {c: matrix[np.asarray(clusters) == c].mean(axis=0) for c in set(int(c) for c in clusters)}
    centroids = {c: v / max(float(np.linalg.norm(v)), 1e-12) for c, v in centroids.items()}
    for i, v in enumerate(vectors):
        if labels[i] is None and v is not None:
            c, sim = max(((c, float(v @ cv)) for c, cv in centroids.items()), key=lambda x: x[1])
            labels[i] = c if sim >= opts.assign_similarity else None
    return labels


def merge_same_speaker(cues: list[Cue], vectors: list, opts: SpeakerMerge) -> list[Cue]:
    """``cues`` (in time order) with neighbouring pieces of one voice joined (:func:`voices`); ``vectors``
    are their L2-normalised speaker vectors (None: too short to embed). A piece of no known voice joins
    the line before it when the pause is short."""
    labels = voices(vectors, [c.end - c.start for c in cues], opts)
    out: list[tuple[Cue, int | None]] = []
    for cue, label in zip(cues, labels):
        if out:
            last, last_label = out[-1]
            one_voice = label is None or last_label is None or label == last_label
            if one_voice and cue.start - last.end <= opts.max_gap and cue.end - last.start <= opts.max_duration:
                w_last, w_cue = last.end - last.start, cue.end - cue.start
                out[-1] = (replace(
                    last, end=cue.end, raw_text=last.raw_text + cue.raw_text,
                    avg_logprob=_weighted(last.avg_logprob, cue.avg_logprob, w_last, w_cue),
                    no_speech_prob=max(last.no_speech_prob or 0, cue.no_speech_prob or 0),
                    compression_ratio=max(last.compression_ratio or 0, cue.compression_ratio or 0),
                    word_probability=_weighted(last.word_probability, cue.word_probability, w_last, w_cue)),
                    last_label if last_label is not None else label)
                continue
        out.append((cue, label))
    return [replace(c, index=i) for i, (c, _) in enumerate(out, start=1)]


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
    silences: list[tuple[float, float]] | None = None,
) -> tuple[pa.Table, AsrReport]:
    """The transcript of recognised ``segments``, cut into pieces at pauses and sentence ends
    (:func:`split_lines`), or with voice activity's ``silences`` into voiced pieces (:func:`voiced_pieces`).
    With ``speaker_vectors`` (``[(start, end)] -> [vector | None]``), pieces of one speaker's utterance
    are joined into one line (:func:`merge_same_speaker`)."""
    report = AsrReport(format="asr", segments=len(segments))
    cues = []
    for i, (s, start, end, text, word_p) in enumerate(
            split_lines(segments, seg) if silences is None else voiced_pieces(segments, seg, silences, audio_duration), start=1):
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
    out = []
    for n, cue in enumerate(cues, start=1):
        a = max(0, int((cue.start - LINE_PAD) * sample_rate))
        b = min(len(audio), int((cue.end + LINE_PAD) * sample_rate))
        segments = recognizer.transcribe(audio[a:b], language) if b - a >= int(0.1 * sample_rate) else []
        kept = [s for s in segments
                if not ((s.no_speech_prob or 0) > guards.no_speech_threshold and (s.avg_logprob or 0) < guards.log_prob_threshold)]
        words = [w for s in kept for w in s.words]
        text = collapse_repetitions("".join(s.text.strip() for s in kept))
        out.append(replace(
            cue, raw_text=text, translation=cue.raw_text,
            avg_logprob=sum(s.avg_logprob or 0 for s in kept) / len(kept) if kept else None,
            no_speech_prob=max((s.no_speech_prob or 0) for s in kept) if kept else None,
            compression_ratio=max((s.compression_ratio or 0) for s in kept) if kept else None,
            word_probability=sum(w.probability for w in words) / len(words) if words else None,
        ))
        if progress is not None:
            progress(n, len(cues))
    return out
