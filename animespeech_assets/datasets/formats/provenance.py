"""Parquet tables with provenance (episode, line ids, times) for every row of a dataset: the
dialogue samples (``dataset.parquet``) and the audio clips (``clips.parquet``). Each is its
dataset's data version and what ``lineage`` reads."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core.layout import EXPORT_FOLDERS
from animespeech_assets.datasets.formats.base import SPLITS

# the file names are the assets' primary files, kept with the other output paths in the layout
DIALOGUE_FILE = EXPORT_FOLDERS["dialogue_dataset"][1]
CLIPS_FILE = EXPORT_FOLDERS["audio_dataset"][1]

DIALOGUE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("split", pa.string()),
        ("persona", pa.string()),
        ("episode", pa.string()),
        ("conversation", pa.int32()),
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("speakers", pa.list_(pa.string())),
        ("line_ids", pa.list_(pa.int32())),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("statuses", pa.list_(pa.string())),
        ("translations", pa.list_(pa.string())),  # per non-system message: the foreign subtitle text, or null
    ]
)

CLIPS_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("character", pa.string()),
        ("episode", pa.string()),
        ("line_id", pa.int32()),
        ("start", pa.float64()),
        ("end", pa.float64()),
        ("text", pa.string()),
        ("duration", pa.float64()),
        ("sample_rate", pa.int32()),
        ("source_path", pa.string()),
        ("translation", pa.string()),  # foreign subtitles: their text, beside the recognised `text`
        ("clip_start", pa.float64()),  # where the clip's audio lies in the episode (the voiced part and its padding)
        ("clip_end", pa.float64()),
    ]
)


def dialogue_table(train: list[dict], validation: list[dict]) -> pa.Table:
    rows = [{**{k: s[k] for k in DIALOGUE_SCHEMA.names if k != "split"}, "split": split}
            for split, part in zip(SPLITS, (train, validation)) for s in part]
    return pa.Table.from_pylist(rows, schema=DIALOGUE_SCHEMA)


class DialogueTable:
    name = "parquet"

    def write(self, tmp: Path, train: list[dict], validation: list[dict]) -> None:
        pq.write_table(dialogue_table(train, validation), tmp / DIALOGUE_FILE, compression="zstd")


class ClipsTable:
    name = "parquet"

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        pq.write_table(pa.Table.from_pylist(clips, schema=CLIPS_SCHEMA), tmp / CLIPS_FILE)


def untraceable(rows: list[dict], known: dict[str, set[int]]) -> list[str]:
    """Rows whose episode and line ids are not among the lines they were built from (``known``:
    episode -> line ids of the input versions read); each row must name at least one line."""
    problems = []
    for r in rows:
        ids = r["line_ids"] if "line_ids" in r else [r["line_id"]]
        if not r.get("episode") or not ids or any(i is None for i in ids):
            problems.append(f"{r.get('id')}: no episode or line id")
        elif not set(ids) <= known.get(r["episode"], set()):
            problems.append(f"{r.get('id')}: lines {sorted(set(ids) - known.get(r['episode'], set()))} of {r['episode']} are not in its inputs")
    return problems
