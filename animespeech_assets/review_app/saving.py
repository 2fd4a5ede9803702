"""Saving a person's labels from the review page into ``data/annotations/<episode>.csv``.

The annotation file is human-owned: it changes only when the person presses save. A save is merged
by line with what is on disk when it is saved (rows for other lines are kept as they are, in their
columns), written atomically, and the previous version is kept in ``annotations/.history/``. Saves
of one episode are serialised by a lock, so two tabs saving lose nothing; a line that another tab
(or an editor) labelled differently since this page loaded it is a conflict, and nothing is written.
"""

from __future__ import annotations

import csv
import fcntl
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.storage import atomic_path, link_or_copy
from animespeech_assets.core.textio import read_text
from animespeech_assets.speakers.annotations import COLUMNS, Label, line_of, match, read_annotations

HISTORY = ".history"
CONFIRMED_STATUS = "certain"  # written in `status` for bulk-accepted predictions: a confirmation, not a plain label


@dataclass(frozen=True)
class Change:
    """What the page sends for one line."""

    line_id: int
    character: str  # "" removes the human label
    seen: str = ""  # the human label the page showed when it loaded the line ("" = none)
    text: str | None = None  # a corrected text; None keeps the one saved before (if any)
    confirmed: bool = False  # a bulk-accepted `certain` prediction


@dataclass(frozen=True)
class SaveResult:
    path: Path
    history: Path | None  # where the previous version was kept (None: there was no file)
    labelled: int  # lines with a human label in the file now
    changed: int


class SaveConflict(ValueError):
    """Lines changed on disk since the page loaded them; nothing was written."""

    def __init__(self, path: Path, lines: list[tuple[int, str, str]]):
        self.lines = lines
        shown = "; ".join(f"line {lid}: now {now!r}, you saw {seen!r}" for lid, now, seen in lines[:10])
        super().__init__(f"{path} changed since you opened it ({shown}): reload the page to see the current labels")


def history_folder(layout: DataLayout) -> Path:
    return layout.annotations / HISTORY


def current_labels(path: Path, lines: pa.Table) -> dict[int, Label]:
    """The human label of each line in the annotation file at ``path`` (none if there is no file)."""
    if not path.exists():
        return {}
    found, _ = match(read_annotations(path), lines, path)
    return {lab.line_id: lab for lab in found}


def save(layout: DataLayout, episode: str, lines: pa.Table, changes: list[Change]) -> SaveResult:
    """Merge ``changes`` into the episode's annotation file. ``lines`` is the episode's table of
    lines (``line_id``, ``start``, ``end``), the one the page showed."""
    path = layout.annotation_file(episode)
    known = set(lines.column("line_id").to_pylist())
    unknown = sorted({c.line_id for c in changes} - known)
    if unknown:
        raise ValueError(f"{episode}: no line(s) {unknown[:10]} in the episode's transcript")
    with _locked(layout):
        labels = current_labels(path, lines)
        conflicts = [
            (c.line_id, now, c.seen)
            for c in changes
            if (now := labels[c.line_id].character if c.line_id in labels else "") not in (c.seen, c.character)
        ]
        if conflicts:
            raise SaveConflict(path, conflicts)
        header, rows = _raw_rows(path)
        ids, starts, ends = (lines.column(n).to_pylist() for n in ("line_id", "start", "end"))
        times = {lid: (s, e) for lid, s, e in zip(ids, starts, ends)}
        changed = {c.line_id: c for c in changes}
        kept = [r for r in rows if _row_line(r, header, ids, starts, ends, known) not in changed]
        new_rows = []
        for c in sorted(changes, key=lambda c: times[c.line_id]):
            if not c.character:
                continue
            text = c.text if c.text is not None else (labels[c.line_id].text if c.line_id in labels else None)
            start, end = times[c.line_id]
            row = {"line_id": str(c.line_id), "start": f"{start:.3f}", "end": f"{end:.3f}", "character": c.character, "text": text or ""}
            if c.confirmed:
                row["status"] = CONFIRMED_STATUS
            new_rows.append(row)
        columns = header + [c for c in COLUMNS if c not in header]
        if any("status" in r for r in new_rows) and "status" not in columns:
            columns.append("status")
        history = _keep_previous(layout, path)
        with atomic_path(path) as tmp:
            tmp.write_text("\ufeff" + _csv(columns, kept + new_rows), encoding="utf-8")
        return SaveResult(path, history, len(current_labels(path, lines)), len(changes))


@contextmanager
def _locked(layout: DataLayout) -> Iterator[None]:
    folder = history_folder(layout)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _raw_rows(path: Path) -> tuple[list[str], list[dict]]:
    """The file's header and rows as written (every row, blank characters included)."""
    if not path.exists():
        return [], []
    text, _ = read_text(path)
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    return header, rows


def _row_line(row: dict, header: list[str], ids, starts, ends, known) -> int | None:
    """The line a raw row is for, read as :func:`read_annotations` reads it (times when the file has them)."""
    try:
        by_time = "start" in header and "end" in header and row.get("start") and row.get("end")
        start, end = (float(row["start"]), float(row["end"])) if by_time else (None, None)
        line_id = int(row["line_id"]) if row.get("line_id") else None
    except ValueError:
        return None  # read_annotations reports such a row; it is kept as written
    if start is not None and end <= start:
        return None
    return line_of(start, end, line_id, ids, starts, ends, known)


def _keep_previous(layout: DataLayout, path: Path) -> Path | None:
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    kept = history_folder(layout) / f"{path.stem}.{stamp}.csv"
    link_or_copy(path, kept)  # the new version replaces the file by rename, so a hard link keeps the old bytes
    return kept


def _csv(columns: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
