"""What changed between two versions of a table: rows added, removed and changed (by the asset's
row key), the characters that gained or lost lines, and the input versions that differ (the cause)."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pyarrow as pa

# the row key of each asset's primary table (per-episode tables: the line; exports: the sample or clip id)
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "transcript": ("line_id",),
    "speaker_embeddings": ("line_id",),
    "character_predictions": ("line_id",),
    "annotated_lines": ("line_id",),
    "dialogue_turns": ("line_id",),
    "character_clips": ("id",),
    "reference_set": ("episode", "line_id"),
    "dialogue_dataset": ("id",),
    "audio_dataset": ("id",),
    "tts_samples": ("id",),
}


def _key(row: dict, key: tuple[str, ...]):
    return row[key[0]] if len(key) == 1 else [row[k] for k in key]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def _shown(value: Any) -> Any:
    """Long vectors are summarised, not printed."""
    if isinstance(value, list) and len(value) > 16 and all(isinstance(v, float) for v in value[:16]):
        return f"[{len(value)} floats]"
    return value


def table_diff(old: pa.Table, new: pa.Table, key: tuple[str, ...]) -> dict[str, list]:
    old_rows = {repr(_key(r, key)): r for r in old.to_pylist()}
    new_rows = {repr(_key(r, key)): r for r in new.to_pylist()}
    added = [_key(new_rows[k], key) for k in new_rows if k not in old_rows]
    removed = [_key(old_rows[k], key) for k in old_rows if k not in new_rows]
    changed = []
    for k, row in new_rows.items():
        before = old_rows.get(k)
        if before is None:
            continue
        columns = {c: [_shown(before.get(c)), _shown(row.get(c))] for c in sorted(set(row) | set(before)) if not _same(before.get(c), row.get(c))}
        if columns:
            changed.append({"key": _key(row, key), "columns": columns})
    return {"added": added, "removed": removed, "changed": changed}


def character_changes(old: pa.Table, new: pa.Table) -> dict[str, int]:
    """Lines gained (+) or lost (-) per character, where the table has a ``character`` column."""
    if "character" not in old.column_names or "character" not in new.column_names:
        return {}
    before = Counter(old.column("character").to_pylist())
    after = Counter(new.column("character").to_pylist())
    return {str(c): after[c] - before[c] for c in sorted(set(before) | set(after), key=str) if after[c] != before[c]}


def input_changes(old_record: dict, new_record: dict) -> list[dict]:
    """Inputs whose version differs between two lineage records (or that one of them lacks)."""
    def versions(rec):
        return {(i["asset"] or i["path"], i["partition"]): i["data_version"] for i in rec["inputs"]}

    old, new = versions(old_record), versions(new_record)
    out = []
    for name, partition in sorted(set(old) | set(new)):
        a, b = old.get((name, partition)), new.get((name, partition))
        if a != b:
            out.append({"input": name, "partition": partition, "from": a, "to": b})
    return out


def summary(diff: dict[str, list], old: pa.Table, new: pa.Table) -> dict[str, Any]:
    return {"added": len(diff["added"]), "removed": len(diff["removed"]), "changed": len(diff["changed"]),
            "characters": character_changes(old, new)}
