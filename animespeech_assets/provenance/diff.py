"""``lineage diff`` and ``lineage versions``: compare two kept versions of an asset's table."""

from __future__ import annotations

from typing import Any

from animespeech_assets.core import diffs
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.lineage import UNPARTITIONED
from animespeech_assets.provenance.why import Recorded, WhyError


def versions(layout: DataLayout, asset: str, partition: str, rec: Recorded | None = None) -> list[dict[str, Any]]:
    """Every recorded version, newest first, and whether its outputs are still kept."""
    rec = rec or Recorded(layout)
    kept = set(rec.store.kept(asset, partition))
    seen, out = set(), []
    for r in rec.history(asset, partition):
        if r["content_hash"] not in seen:
            seen.add(r["content_hash"])
            out.append({"version": r["content_hash"], "finished_at": r["finished_at"].isoformat(), "rows": r["row_count"],
                        "run_id": r["run_id"], "code_version": r["code_version"], "kept": r["content_hash"][:20] in kept})
    return out


def _pick(all_versions: list[dict], prefix: str | None, default: int, asset: str) -> str:
    if prefix is None:
        if len(all_versions) <= default:
            raise WhyError(f"{asset} has {len(all_versions)} recorded version(s): nothing to compare")
        return all_versions[default]["version"]
    hits = [v["version"] for v in all_versions if v["version"].startswith(prefix)]
    if len(hits) != 1:
        raise WhyError(f"version {prefix!r} of {asset} matches {len(hits)} recorded versions")
    return hits[0]


def diff(layout: DataLayout, asset: str, partition: str, old: str | None = None, new: str | None = None) -> dict[str, Any]:
    """Rows added, removed and changed from version ``old`` (default: the previous) to ``new``
    (default: the current), and the inputs whose versions differ."""
    key = diffs.ROW_KEYS.get(asset)
    if key is None:
        raise WhyError(f"{asset} has no row key to diff by (assets with one: {', '.join(diffs.ROW_KEYS)})")
    rec = Recorded(layout)
    known = versions(layout, asset, partition, rec)
    new_v, old_v = _pick(known, new, 0, asset), _pick(known, old, 1, asset)
    old_rec, new_rec = rec.record(asset, partition, old_v), rec.record(asset, partition, new_v)
    before, after = rec.table(old_rec), rec.table(new_rec)
    changes = diffs.table_diff(before, after, key)
    return {"asset": asset, "partition": partition or UNPARTITIONED, "from": old_v, "to": new_v, **changes,
            "characters": diffs.character_changes(before, after), "inputs": diffs.input_changes(old_rec, new_rec)}


def format_diff(d: dict[str, Any]) -> str:
    out = [f"{d['asset']} [{d['partition']}] {d['from'][:16]} -> {d['to'][:16]}: "
           f"{len(d['added'])} added, {len(d['removed'])} removed, {len(d['changed'])} changed"]
    for k in d["added"][:20]:
        out.append(f"  + {k}")
    for k in d["removed"][:20]:
        out.append(f"  - {k}")
    for c in d["changed"][:20]:
        cols = "; ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in c["columns"].items())
        out.append(f"  ~ {c['key']}: {cols}")
    if d["characters"]:
        out.append("  characters: " + ", ".join(f"{c} {n:+d}" for c, n in d["characters"].items()))
    for i in d["inputs"]:
        out.append(f"  input {i['input']} [{i['partition']}] {str(i['from'])[:16]} -> {str(i['to'])[:16]}")
    return "\n".join(out)
