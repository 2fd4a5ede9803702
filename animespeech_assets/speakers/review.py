"""Human corrections applied to predictions: humans always win.

``annotated_lines`` = predictions + the episode's annotation file: a human label replaces the
predicted character, a human ``text`` replaces the transcript text, and every row says where its
character and text came from. Annotations that match no line are reported, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from animespeech_assets.speakers.annotations import COLUMNS, REVIEW_COLUMNS, describe, match, read_annotations
from animespeech_assets.speakers.statuses import CERTAIN, LABELLED, UNCERTAIN, UNKNOWN

HUMAN, PREDICTION, NONE = "human", "prediction", "none"

ANNOTATED_SCHEMA = pa.schema(
    [
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("character", pa.string()),
        ("character_source", pa.string()),  # human | prediction | none
        ("text_source", pa.string()),  # human | transcript
        ("status", pa.string()),
        ("distance", pa.float64()),
        ("predicted_character", pa.string()),
        ("annotation_row", pa.int32()),  # the line of the annotation file (header = line 1) behind a human label
        ("translation", pa.string()),  # the subtitle text, when `text` was recognised from the audio (foreign subtitles)
        ("embedding_status", pa.string()),  # ok | too_short | silent | no_speech (speaker_embeddings)
        ("speech_start", pa.float64()),  # the voiced part of the cue, where voice activity found one
        ("speech_end", pa.float64()),
    ]
)


@dataclass
class ReviewReport:
    human_labels: int = 0
    text_fixes: int = 0
    overridden_predictions: int = 0  # human label differs from what the model said
    unmatched: list[str] = field(default_factory=list)


def annotate(predictions: pa.Table, annotations_path: Path | None, translations: dict[int, str] | None = None) -> tuple[pa.Table, ReviewReport]:
    """``translations``: the transcript's ``translation`` per line, when it has them."""
    report = ReviewReport()
    translations = translations or {}
    labels = {}
    if annotations_path is not None and Path(annotations_path).exists():
        found, unmatched = match(read_annotations(annotations_path), predictions, annotations_path)
        labels = {lab.line_id: lab for lab in found}
        report.unmatched = [describe(a) for a in unmatched]
    rows = []
    for r in predictions.to_pylist():
        lab = labels.get(r["line_id"])
        row = {k: r.get(k) for k in ("line_id", "start", "end", "text", "status", "distance", "predicted_character",
                                     "embedding_status", "speech_start", "speech_end")}
        row["translation"] = translations.get(r["line_id"])
        if lab is not None:
            row["character"], row["character_source"], row["status"] = lab.character, HUMAN, LABELLED
            row["annotation_row"] = lab.row
            report.human_labels += 1
            report.overridden_predictions += r["predicted_character"] is not None and r["predicted_character"] != lab.character
        else:
            row["character"] = r["character"]
            row["character_source"] = PREDICTION if r["character"] is not None else NONE
        if lab is not None and lab.text:
            row["text"], row["text_source"] = lab.text, HUMAN
            report.text_fixes += 1
        else:
            row["text_source"] = "transcript"
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=ANNOTATED_SCHEMA), report



# -- the review sheet ----------------------------------------------------------------------------

SHEET_COLUMNS = (*COLUMNS, *REVIEW_COLUMNS)
_REVIEW_ORDER = {UNKNOWN: 0, UNCERTAIN: 1, CERTAIN: 2, LABELLED: 3}
LOW_TEXT_CONFIDENCE = 0.6  # a recognised line's mean word probability below which its text is reviewed first


def text_confidence(transcript: pa.Table) -> dict[int, float]:
    """The recogniser's mean word probability per line (lines from speech recognition only)."""
    rows = transcript.select(["line_id", "source", "word_probability"]).to_pylist()
    return {r["line_id"]: round(r["word_probability"], 3) for r in rows if r["source"] != "subtitles" and r["word_probability"] is not None}


def review_order(rows: list[dict], keep_labelled: bool = False) -> list[dict]:
    """Lines whose recognised text is doubtful (``text_confidence`` below :data:`LOW_TEXT_CONFIDENCE`)
    first, then least certain speaker first: unknown, uncertain, certain, each by decreasing distance
    (then time); lines labelled by a human last, or left out. The order of the review sheet and the review page."""
    rows = [r for r in rows if r["status"] in _REVIEW_ORDER and (keep_labelled or r["status"] != LABELLED)]

    def doubtful(r: dict) -> bool:
        return r.get("text_confidence") is not None and r["text_confidence"] < LOW_TEXT_CONFIDENCE

    return sorted(rows, key=lambda r: (not doubtful(r), _REVIEW_ORDER[r["status"]],
                                       -(r["distance"] if r["distance"] is not None else 9.0), r["start"]))


def review_rows(episode: str, predictions: pa.Table, confidence: dict[int, float] | None = None) -> list[dict]:
    """Every predicted (not human-labelled) line in review order, with the recogniser's
    ``confidence`` in its text where there is one. ``character`` is left empty for the reviewer to fill."""
    confidence = confidence or {}
    rows = review_order([{**r, "text_confidence": confidence.get(r["line_id"])} for r in predictions.to_pylist()])
    return [
        {
            "line_id": r["line_id"],
            "start": f"{r['start']:.3f}",
            "end": f"{r['end']:.3f}",
            "character": "",
            "text": r["text"],
            "predicted_character": r["predicted_character"] or "",
            "status": r["status"],
            "distance": "" if r["distance"] is None else f"{r['distance']:.4f}",
            "text_confidence": "" if r["text_confidence"] is None else f"{r['text_confidence']:.3f}",
            "neighbours": "; ".join(f"{n['character']} {n['distance']:.3f}" for n in r["neighbours"]),
            "clip": f"{episode}/{r['line_id']:05d}.wav",
        }
        for r in rows
    ]


def sheet_csv(rows: list[dict]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SHEET_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_clips(rows: list[dict], audio, sample_rate: int, folder: Path) -> None:
    """A 16-bit WAV of each review row's line (named as its ``clip`` column) into ``folder``."""
    import numpy as np
    import soundfile as sf

    from animespeech_assets.core.audio import cut

    for r in rows:
        clip = cut(audio, sample_rate, float(r["start"]), float(r["end"]))
        sf.write(folder / Path(r["clip"]).name, np.asarray(clip), sample_rate, subtype="PCM_16")


def sheet_text(rows: list[dict]) -> str:
    """The review sheet's file contents: UTF-8 with BOM so spreadsheet programs show Japanese text correctly."""
    return "\ufeff" + sheet_csv(rows)
