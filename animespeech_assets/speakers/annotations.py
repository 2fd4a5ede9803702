"""Human labels: ``data/annotations/<episode>.csv`` (human-owned, only ever read).

Columns: ``character`` plus either ``line_id`` or ``start,end`` (seconds), optional ``text``
(a corrected line text). Rows saved from a review sheet keep its information columns; such rows
are corrections of predictions, and feed the reference set only where the model found them hard. Rows with an empty ``character`` are skipped, so rows copied from a
review sheet can be left blank. Rows that give times are matched to transcript lines by overlap,
so labels survive re-transcription; ``line_id`` is used when no times are given.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from animespeech_assets.core.naming import EpisodeError, character_key
from animespeech_assets.core.textio import TextFileError, read_text

COLUMNS = ("line_id", "start", "end", "character", "text")
# the review sheet's information columns: accepted (and ignored, but for marking a row as coming
# from review) so a reviewer can save review-sheet rows as annotations unchanged
REVIEW_COLUMNS = ("predicted_character", "status", "distance", "text_confidence", "neighbours", "clip")
MIN_OVERLAP = 0.5  # share of the shorter of (annotation, line) that must overlap


class AnnotationError(TextFileError):
    """An annotation file that cannot be applied; the message names the file and the row."""


@dataclass(frozen=True)
class Annotation:
    row: int  # line number in the CSV file (header is line 1)
    character: str
    line_id: int | None = None
    start: float | None = None
    end: float | None = None
    text: str | None = None
    reviewed: bool = False  # the row came from a review sheet: a correction or confirmation


@dataclass(frozen=True)
class Label:
    line_id: int
    character: str
    text: str | None
    row: int
    reviewed: bool = False


def read_annotations(path: Path) -> list[Annotation]:
    path = Path(path)
    text, _ = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    unknown = [h for h in header if h not in COLUMNS + REVIEW_COLUMNS]
    if unknown:
        raise AnnotationError(f"{path}: unknown column(s) {unknown}; allowed: {list(COLUMNS)} (and the review sheet's {list(REVIEW_COLUMNS)})")
    if "character" not in header:
        raise AnnotationError(f"{path}: a 'character' column is required (columns: {header})")
    by_time = "start" in header and "end" in header
    if not by_time and "line_id" not in header:
        raise AnnotationError(f"{path}: give either a 'line_id' column or 'start' and 'end' columns")
    out = []
    for n, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        character = row.get("character", "")
        if not character:
            continue
        try:
            character_key(character)
        except EpisodeError:
            raise AnnotationError(f"{path}: row {n}: the character name {character!r} leaves no usable name for its dataset "
                                  "(give letters or digits)") from None
        try:
            start = float(row["start"]) if by_time and row.get("start") else None
            end = float(row["end"]) if by_time and row.get("end") else None
            line_id = int(row["line_id"]) if row.get("line_id") else None
        except ValueError as exc:
            raise AnnotationError(f"{path}: row {n}: {exc}") from exc
        if (start is None) != (end is None) or (start is None and line_id is None):
            raise AnnotationError(f"{path}: row {n}: give both start and end, or a line_id")
        if start is not None and end <= start:
            raise AnnotationError(f"{path}: row {n}: end {end} is not after start {start}")
        reviewed = bool(row.get("predicted_character") or row.get("status"))
        out.append(Annotation(n, character, line_id, start, end, row.get("text") or None, reviewed))
    return out


def match(annotations: list[Annotation], transcript: pa.Table, path: Path) -> tuple[list[Label], list[Annotation]]:
    """Labels per transcript line, and the annotations that match no line.

    Raises :class:`AnnotationError` when one line is given two different characters.
    """
    ids = transcript.column("line_id").to_pylist()
    starts = transcript.column("start").to_pylist()
    ends = transcript.column("end").to_pylist()
    known = set(ids)
    labels: dict[int, Label] = {}
    unmatched = []
    for a in annotations:
        line = line_of(a.start, a.end, a.line_id, ids, starts, ends, known)
        if line is None:
            unmatched.append(a)
            continue
        prev = labels.get(line)
        if prev is not None and prev.character != a.character:
            raise AnnotationError(
                f"{path}: line {line} is labelled {prev.character!r} (row {prev.row}) and {a.character!r} (row {a.row})"
            )
        reviewed = a.reviewed and (prev is None or prev.reviewed)  # a plain label row wins
        labels[line] = Label(line, a.character, a.text or (prev.text if prev else None), a.row, reviewed)
    return sorted(labels.values(), key=lambda lab: lab.line_id), unmatched


def line_of(start, end, line_id, ids, starts, ends, known) -> int | None:
    """The transcript line an annotation row is for: by times (the line it overlaps most, at least
    ``MIN_OVERLAP`` of the shorter of the two) when it gives them, else by ``line_id``."""
    if start is not None:
        best, best_share = None, 0.0
        for lid, s, e in zip(ids, starts, ends):
            overlap = min(end, e) - max(start, s)
            if overlap <= 0:
                continue
            share = overlap / min(end - start, e - s)
            if share > best_share:
                best, best_share = lid, share
        return best if best_share >= MIN_OVERLAP else None
    return line_id if line_id in known else None


def describe(a: Annotation) -> str:
    where = f"{a.start:.3f}-{a.end:.3f} s" if a.start is not None else f"line_id {a.line_id}"
    return f"row {a.row} ({where}, {a.character})"


def labels_for(path: Path, transcript: pa.Table) -> list[Label]:
    """Read and match an annotation file; every row must match a line (else a clear error)."""
    labels, unmatched = match(read_annotations(path), transcript, path)
    if unmatched:
        rows = "; ".join(describe(a) for a in unmatched[:10])
        raise AnnotationError(f"{path}: {len(unmatched)} row(s) match no transcript line: {rows}")
    return labels
