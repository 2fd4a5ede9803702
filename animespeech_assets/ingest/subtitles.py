"""Subtitle files (SRT, ASS/SSA, WebVTT in any common encoding) to transcript lines.

``raw_text`` is the cue as written (markup removed, line breaks kept); ``text`` is the cleaned
form used for matching and datasets: rows joined, neologdn-normalised, emoji removed, digits and
case kept exactly as written.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from animespeech_assets.core.textio import TextFileError, read_text
from animespeech_assets.ingest.dialogue_rules import DialogueRule, classify, positioned

SUBTITLE_FORMATS = {".srt": "srt", ".ass": "ass", ".ssa": "ssa", ".vtt": "vtt"}
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ASS_OVERRIDE = re.compile(r"\{[^{}]*\}")
_SPACES = re.compile(r"\s+")
# an SRT / WebVTT timing line: [HH:]MM:SS,mmm --> [HH:]MM:SS,mmm [cue settings]
_TIMING = re.compile(r"^\s*(?:\d+:)?\d{1,2}:\d{2}[.,]\d{3}\s*-->\s*(?:\d+:)?\d{1,2}:\d{2}[.,]\d{3}(?:\s.*)?$")


class SubtitleError(TextFileError):
    """A subtitle file that cannot be used; the message names the file (and the cue)."""


@dataclass(frozen=True)
class Cue:
    index: int  # 1-based position in the file, for error messages
    start: float  # seconds
    end: float
    raw_text: str
    style: str = ""
    actor: str = ""
    # recogniser confidence, for lines that come from speech recognition
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    word_probability: float | None = None
    # the subtitle's text when the line's text was recognised from the audio (subtitles in another language)
    translation: str | None = None


CONFIDENCE_COLUMNS = ("avg_logprob", "no_speech_prob", "compression_ratio", "word_probability")


@dataclass(frozen=True)
class TranscriptFilters:
    min_duration: float = 0.2  # seconds; shorter cues are not usable speech
    min_chars: int = 1  # characters of cleaned text


@dataclass
class TranscriptReport:
    """What happened to the cues; recorded as asset metadata and lineage parameters."""

    encoding: str = ""
    format: str = ""
    cues: int = 0
    kept: int = 0
    dropped_empty: int = 0
    dropped_short: int = 0
    dropped_outside_audio: int = 0
    clipped_to_audio: int = 0
    overlapping: int = 0
    not_dialogue: dict[str, int] = field(default_factory=dict)  # events the dialogue rule dropped, by reason
    warnings: list[str] = field(default_factory=list)

    def why_none(self, audio_duration: float, filters: TranscriptFilters) -> str:
        """Why no cue became a line, in words (for the error when none did)."""
        parts = [f"{self.dropped_outside_audio} start after the audio ends ({audio_duration:.1f} s)" if self.dropped_outside_audio else "",
                 f"{self.dropped_empty} have no text once tags and symbols are removed" if self.dropped_empty else "",
                 f"{self.dropped_short} are shorter than {filters.min_duration} s" if self.dropped_short else ""]
        return ", ".join(p for p in parts if p) or "no cue survived the filters"


TRANSCRIPT_SCHEMA = pa.schema(
    [
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("raw_text", pa.string()),
        ("source", pa.string()),
        ("style", pa.string()),
        ("actor", pa.string()),
        ("cue", pa.int32()),  # the line's cue in the subtitle file (1-based), or its recognised line number
        ("translation", pa.string()),  # the subtitle text, when `text` was recognised (subtitles in another language)
    ]
    + [(name, pa.float64()) for name in CONFIDENCE_COLUMNS]
)


@dataclass(frozen=True)
class DroppedEvent:
    """A subtitle event kept out of the transcript by the dialogue rule (the side table's row)."""

    cue: int
    start: float
    end: float
    style: str
    layer: int
    raw_text: str
    reason: str


def load_subtitle_file(path: Path):
    """Parse a subtitle file; returns (``pysubs2.SSAFile``, encoding, format)."""
    import pysubs2

    path = Path(path)
    fmt = SUBTITLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise SubtitleError(f"{path}: unknown subtitle extension (expected one of {sorted(SUBTITLE_FORMATS)})")
    text, encoding = read_text(path)
    if fmt in ("srt", "vtt"):
        text = _checked_cue_blocks(text, path, fmt)
    try:
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
    except Exception as exc:  # pysubs2 raises a variety of errors on malformed files
        raise SubtitleError(f"{path}: not a valid {fmt.upper()} file ({exc})") from exc
    return subs, encoding, fmt


def dialogue_cues(subs, where: str, fmt: str, rule: DialogueRule = DialogueRule()) -> tuple[list[Cue], list[DroppedEvent]]:
    """The dialogue events of a parsed subtitle file (or track) as cues, in file order, and the
    events the dialogue rule dropped, with their reasons. ``where`` names the file (and track)."""
    events = list(subs.events)
    for i, ev in enumerate(events, start=1):
        if ev.end < ev.start:
            raise SubtitleError(f"{where}: cue {i} ends before it starts ({srt_time(ev.start)} --> {srt_time(ev.end)}): {ev.plaintext[:40]!r}")
    plain = [ev for ev in events if not ev.is_comment and not positioned(ev)]
    cues, dropped = [], []
    for i, ev in enumerate(events, start=1):
        over = positioned(ev) and any(o is not ev and o.start < ev.end and ev.start < o.end for o in plain)
        reason = classify(ev, rule, over)
        if reason is not None:
            dropped.append(DroppedEvent(i, ev.start / 1000.0, ev.end / 1000.0, ev.style or "", int(ev.layer or 0), ev.text, reason))
            continue
        cues.append(Cue(i, ev.start / 1000.0, ev.end / 1000.0, ev.plaintext, ev.style or "", ev.name or ""))
    if not cues:
        found = f" ({len(dropped)} events, none of them dialogue: {dict(Counter(d.reason for d in dropped))})" if dropped else ""
        raise SubtitleError(f"{where}: no subtitle cues could be parsed as {fmt.upper()}{found}")
    return cues, dropped


def read_cues(path: Path, rule: DialogueRule = DialogueRule()) -> tuple[list[Cue], str, str]:
    """Parse a subtitle file; returns (dialogue cues in file order, encoding, format)."""
    subs, encoding, fmt = load_subtitle_file(path)
    cues, _ = dialogue_cues(subs, str(path), fmt, rule)
    return cues, encoding, fmt


def _checked_cue_blocks(text: str, path: Path, fmt: str) -> str:
    """SRT / WebVTT text as pysubs2 should see it. pysubs2 takes everything between two timing lines
    as the first cue's text, so a malformed timing line (with its cue number) or a WebVTT cue
    identifier would be glued silently onto the previous line: the first is an error naming the
    line, the second is dropped (with NOTE / STYLE / REGION blocks)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for n, line in enumerate(lines, start=1):
        if "-->" in line and line.strip()[:1] in tuple("-0123456789") and not _TIMING.match(line):
            raise SubtitleError(f"{path}: line {n}: malformed cue timing {line.strip()!r} "
                                f"(expected HH:MM:SS{',' if fmt == 'srt' else '.'}mmm --> HH:MM:SS{',' if fmt == 'srt' else '.'}mmm)")
    if fmt != "vtt":
        return text
    blocks, block = [], []
    for line in lines + [""]:
        if line.strip():
            block.append(line)
            continue
        timing = next((i for i, b in enumerate(block) if _TIMING.match(b)), None)
        if timing is not None:
            blocks.append("\n".join(block[timing:]))  # the cue identifier, if any, is not text
        elif block and not block[0].startswith(("NOTE", "STYLE", "REGION")):
            blocks.append("\n".join(block))  # the WEBVTT header
        block = []
    return "\n\n".join(blocks) + "\n"


def srt_time(ms: int) -> str:
    """``HH:MM:SS,mmm`` of a time in milliseconds."""
    s, ms = divmod(int(ms), 1000)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d},{ms:03d}"


def clean_text(raw: str) -> str:
    """Cleaned line text: markup stripped, wrapped rows joined, NFKC-like neologdn normalisation,
    emoji removed. Digits and letter case are kept as written."""
    import emoji
    import neologdn

    text = _ASS_OVERRIDE.sub("", _HTML_TAG.sub("", raw)).replace("\\N", "\n").replace("\\n", "\n")
    rows = [r.strip() for r in text.split("\n") if r.strip()]
    # neologdn removes the joining space between Japanese characters and keeps it between words
    text = neologdn.normalize(" ".join(rows))
    text = emoji.replace_emoji(text, replace="")
    return _SPACES.sub(" ", text).strip()


def build_transcript(
    cues: list[Cue], audio_duration: float, filters: TranscriptFilters, report: TranscriptReport, source: str = "subtitles"
) -> pa.Table:
    """Sort, clean and filter cues (subtitle cues or recognised lines) into the transcript table."""
    report.cues = len(cues)
    rows = []
    for cue in sorted(cues, key=lambda c: (c.start, c.end, c.index)):
        text = clean_text(cue.raw_text)
        start, end = cue.start, cue.end
        if len(text) < max(1, filters.min_chars):
            report.dropped_empty += 1
            continue
        if start >= audio_duration:
            report.dropped_outside_audio += 1
            report.warnings.append(
                f"cue {cue.index} starts at {start:.3f} s, after the audio ends ({audio_duration:.3f} s): dropped"
            )
            continue
        if end > audio_duration:
            report.clipped_to_audio += 1
            report.warnings.append(
                f"cue {cue.index} ends at {end:.3f} s, after the audio ends ({audio_duration:.3f} s): clipped"
            )
            end = audio_duration
        if end - start < filters.min_duration:
            report.dropped_short += 1
            continue
        rows.append((start, end, text, cue.raw_text, cue.style, cue.actor, cue))
    report.kept = len(rows)
    report.overlapping = sum(1 for a, b in zip(rows, rows[1:]) if b[0] < a[1])
    return pa.table(
        {
            "line_id": pa.array(range(1, len(rows) + 1), pa.int32()),
            "start": pa.array([r[0] for r in rows], pa.float64()),
            "end": pa.array([r[1] for r in rows], pa.float64()),
            "text": pa.array([r[2] for r in rows], pa.string()),
            "raw_text": pa.array([r[3] for r in rows], pa.string()),
            "source": pa.array([source] * len(rows), pa.string()),
            "style": pa.array([r[4] for r in rows], pa.string()),
            "actor": pa.array([r[5] for r in rows], pa.string()),
            "cue": pa.array([r[6].index for r in rows], pa.int32()),
            "translation": pa.array([clean_text(r[6].translation) if r[6].translation else None for r in rows], pa.string()),
            **{name: pa.array([getattr(r[6], name) for r in rows], pa.float64()) for name in CONFIDENCE_COLUMNS},
        },
        schema=TRANSCRIPT_SCHEMA,
    )


def transcript_from_cues(cues: list[Cue], dropped: list[DroppedEvent], source_name: str, encoding: str, fmt: str,
                         audio_duration: float, filters: TranscriptFilters, source: str = "subtitles") -> tuple[pa.Table, TranscriptReport]:
    """The transcript of a subtitle file's (or track's) dialogue cues; an error naming the source when no line is usable."""
    report = TranscriptReport(encoding=encoding, format=fmt, not_dialogue=dict(Counter(d.reason for d in dropped)))
    table = build_transcript(cues, audio_duration, filters, report, source=source)
    if table.num_rows == 0:
        raise SubtitleError(f"{source_name}: none of its {report.cues} dialogue cues is usable speech: {report.why_none(audio_duration, filters)}")
    return table, report


def transcript_from_subtitles(path: Path, audio_duration: float, filters: TranscriptFilters,
                              rule: DialogueRule = DialogueRule()) -> tuple[pa.Table, TranscriptReport]:
    """The transcript of an external subtitle file."""
    subs, encoding, fmt = load_subtitle_file(path)
    cues, dropped = dialogue_cues(subs, str(path), fmt, rule)
    return transcript_from_cues(cues, dropped, str(path), encoding, fmt, audio_duration, filters)


DROPPED_SCHEMA = pa.schema([("cue", pa.int32()), ("start", pa.float64()), ("end", pa.float64()), ("style", pa.string()),
                            ("layer", pa.int32()), ("raw_text", pa.string()), ("reason", pa.string())])


def dropped_table(dropped: list[DroppedEvent]) -> pa.Table:
    return pa.Table.from_pylist([vars(d) for d in dropped], schema=DROPPED_SCHEMA)


def check_transcript(table: pa.Table, audio_duration: float) -> list[str]:
    """Problems that break the transcript contract (used by the asset check)."""
    problems = []
    ids = table.column("line_id").to_pylist()
    starts = table.column("start").to_pylist()
    ends = table.column("end").to_pylist()
    if not ids:
        problems.append("transcript is empty")
    if len(set(ids)) != len(ids):
        problems.append("line ids are not unique")
    if any(b < a for a, b in zip(starts, starts[1:])):
        problems.append("start times are not sorted")
    bad = [i for i, s, e in zip(ids, starts, ends) if not (0 <= s < e <= audio_duration + 1e-6)]
    if bad:
        problems.append(f"{len(bad)} lines outside the audio or with end <= start (line ids {bad[:10]})")
    return problems


def summarise(warnings: list[str], shown: int = 10) -> list[str]:
    """At most ``shown`` warnings and one line for the rest: 50,000 cues past the end of the audio
    must not become 50,000 log events (the full list is in the asset's metadata, first 200)."""
    if len(warnings) <= shown:
        return list(warnings)
    return warnings[:shown] + [f"... and {len(warnings) - shown} more warnings like these"]
