"""Why is this row here: the transcript lines behind a row of any file the pipeline writes, who
decided their character, and every asset version on the way, answered from what was recorded
when the row was written (the kept versions and the lineage records), never from today's state.

``explain(layout, file, row)`` -> ``{"file", "asset", "partition", "row", "lines": [...], "versions": [...]}``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core.layout import EXPORT_FOLDERS, DataLayout
from animespeech_assets.core.lineage import UNPARTITIONED, Ledger
from animespeech_assets.core.storage import sha256_file
from animespeech_assets.core.versions import VersionStore


class WhyError(ValueError):
    """A file or row the lineage cannot answer for; the message says which and why."""


@dataclass(frozen=True)
class Target:
    asset: str
    partition: str
    path: Path  # the file asked about
    kind: str  # how its rows map to the asset's primary table (see _source_row)


# files of the export folders, by name, and how their rows map to the primary table
DIALOGUE_FILES = {"train.jsonl": "split:train", "validation.jsonl": "split:validation", "sharegpt_train.json": "split:train",
                  "sharegpt_validation.json": "split:validation", "dataset.parquet": "row"}
AUDIO_FILES = {"metadata.csv": "row", "esd.list": "row", "gpt_sovits.list": "row", "hf/metadata.csv": "row", "clips.parquet": "row"}


def resolve(layout: DataLayout, file: Path) -> Target:
    """Which asset and partition wrote ``file``, and how its rows are counted."""
    path = Path(file).resolve()
    folders = {layout.exports / name: asset for asset, (name, _) in EXPORT_FOLDERS.items()}
    for folder, asset in folders.items():
        if folder in path.parents:
            rel = path.relative_to(folder)
            partition, inner = rel.parts[0], "/".join(rel.parts[1:])
            table = DIALOGUE_FILES if asset == "dialogue_dataset" else AUDIO_FILES if asset == "audio_dataset" else {}
            if path.suffix == ".wav" and asset == "audio_dataset":
                return Target(asset, partition, path, "wav")
            if inner in table:
                return Target(asset, partition, path, table[inner])
            raise WhyError(f"{path}: not a dataset file lineage can trace (traceable here: {', '.join(table) or 'none'})")
    if layout.assets in path.parents:
        rel = path.relative_to(layout.assets)
        asset = rel.parts[0]
        if asset == "character_clips" and path.suffix == ".wav":
            return Target(asset, rel.parts[1], path, "wav")
        if path.suffix == ".parquet" and len(rel.parts) == 2:
            return Target(asset, "" if path.stem == asset else path.stem, path, "row")
    raise WhyError(f"{path}: not a file the pipeline writes under {layout.exports} or {layout.assets}")


# -- reading what was recorded -------------------------------------------------------------------

class Recorded:
    """Lineage records and kept versions, cached for one answer."""

    def __init__(self, layout: DataLayout):
        self.layout = layout
        self.ledger = Ledger(layout.lineage)
        self.store = VersionStore(layout.versions)
        self._records = self.ledger.records()  # one query; filtered in memory below
        self._tables: dict[tuple[str, str], pa.Table] = {}
        self._by_line: dict[tuple[str, str], dict] = {}

    def record(self, asset: str, partition: str, version: str | None = None) -> dict | None:
        return next((r for r in self.history(asset, partition) if version is None or r["content_hash"] == version), None)

    def current(self, asset: str, partition: str) -> dict:
        """The record of the version on disk now (the file's hash), else the newest record."""
        primary = self.layout.output(asset, partition)
        version = sha256_file(primary) if primary.exists() else None
        rec = self.record(asset, partition, version) or self.record(asset, partition)
        if rec is None:
            raise WhyError(f"no lineage record for {asset} [{partition or UNPARTITIONED}]: materialize it first")
        return rec

    def table(self, rec: dict) -> pa.Table:
        """The primary table of a recorded version (its kept copy; the file itself while it is unchanged)."""
        key = (rec["asset"], rec["content_hash"])
        if key not in self._tables:
            primary = Path(rec["outputs"][0])
            kept = self.store.primary(rec["asset"], rec["partition"], rec["content_hash"], primary)
            if kept is None and primary.exists() and sha256_file(primary) == rec["content_hash"]:
                kept = primary
            if kept is None:
                raise WhyError(f"version {rec['content_hash'][:16]} of {rec['asset']} [{rec['partition']}] is no longer kept")
            self._tables[key] = pq.read_table(kept)
        return self._tables[key]

    def line(self, rec: dict, line_id: int) -> dict | None:
        """The row of ``line_id`` in a recorded version's table (indexed once per version)."""
        key = (rec["asset"], rec["content_hash"])
        if key not in self._by_line:
            self._by_line[key] = {r["line_id"]: r for r in self.table(rec).to_pylist()}
        return self._by_line[key].get(line_id)

    def history(self, asset: str, partition: str) -> list[dict]:
        """Every record of ``asset``/``partition``, newest first."""
        partition = partition or UNPARTITIONED
        return [r for r in self._records if r["asset"] == asset and r["partition"] == partition]

    def input_record(self, rec: dict, asset: str, partition: str | None = None) -> dict | None:
        """The record of the exact version of ``asset`` that ``rec`` read."""
        for inp in rec["inputs"]:
            if inp["asset"] == asset and (partition is None or inp["partition"] == (partition or UNPARTITIONED)):
                return self.record(asset, inp["partition"], inp["data_version"])
        return None

    def source_input(self, rec: dict, suffixes: tuple[str, ...]) -> dict | None:
        """The human-owned input file (subtitles, annotations) ``rec`` read, with its hash."""
        return next((i for i in rec["inputs"] if not i["asset"] and Path(i["path"]).suffix.lower() in suffixes), None)


def _nth(path: Path, kind: str, row: int | None, primary: pa.Table, target: Target) -> dict:
    """The primary-table row behind row ``row`` of the file asked about."""
    if kind == "wav":
        rows = [r for r in primary.to_pylist() if r["id"] == path.stem]
        if not rows:
            raise WhyError(f"{path}: no clip with id {path.stem!r} in that version of {target.asset}")
        return rows[0]
    if row is None:
        raise WhyError(f"{path}: give --row N (0-based; {primary.num_rows} rows)")
    rows = primary.to_pylist()
    if kind.startswith("split:"):
        rows = [r for r in rows if r["split"] == kind.split(":", 1)[1]]
    if not 0 <= row < len(rows):
        raise WhyError(f"{path}: row {row} does not exist (rows 0-{len(rows) - 1})")
    return rows[row]


# -- the answer ----------------------------------------------------------------------------------

def explain(layout: DataLayout, file: Path, row: int | None = None) -> dict[str, Any]:
    target = resolve(layout, file)
    rec = Recorded(layout)
    top = rec.current(target.asset, target.partition)
    picked = _nth(target.path, target.kind, row, rec.table(top), target)
    lines, path_records = [], {top["record_id"]: top}
    for episode, line_id, via in _lines_of(target.asset, target.partition, picked, top, rec):
        lines.append(_line(episode, line_id, via, rec, path_records))
    versions = [_version(r) for r in sorted(path_records.values(), key=lambda r: r["finished_at"])]
    return {"file": str(target.path), "asset": target.asset, "partition": target.partition or UNPARTITIONED, "row": row,
            "record": {k: _jsonable(v) for k, v in picked.items() if k not in ("vector", "messages")},
            "lines": lines, "versions": versions}


def _lines_of(asset: str, partition: str, picked: dict, top: dict, rec: Recorded):
    """(episode, line_id, the per-episode record the row came through) for each line behind the row."""
    if asset == "dialogue_dataset":
        turns = rec.input_record(top, "dialogue_turns", picked["episode"])
        return [(picked["episode"], lid, turns) for lid in picked["line_ids"]]
    if asset == "audio_dataset":
        return [(picked["episode"], picked["line_id"], rec.input_record(top, "character_clips", picked["episode"]))]
    if asset == "reference_set":
        return [(picked["episode"], picked["line_id"], None)]
    episode = picked.get("episode") or partition
    return [(episode, picked["line_id"], top)]


def _line(episode: str, line_id: int, via: dict | None, rec: Recorded, seen: dict) -> dict:
    """Everything recorded about one line, walking down from the record it came through."""
    entry: dict[str, Any] = {"episode": episode, "line_id": line_id}
    chain = {}
    node = via
    # walk down the per-episode chain: dialogue_turns / character_clips -> annotated_lines -> character_predictions -> transcript
    while node is not None:
        seen[node["record_id"]] = node
        chain[node["asset"]] = node
        nxt = None
        for parent in ("annotated_lines", "character_predictions", "transcript", "speaker_embeddings", "episode_audio"):
            if parent not in chain:
                nxt = rec.input_record(node, parent, episode)
                if nxt is not None:
                    break
        node = nxt
    if "character_predictions" in chain:
        for up in ("speaker_embeddings", "transcript", "reference_set"):
            r = rec.input_record(chain["character_predictions"], up)
            if r is not None:
                chain.setdefault(up, r)
                seen[r["record_id"]] = r
    if "transcript" in chain:
        audio = rec.input_record(chain["transcript"], "episode_audio", episode)
        if audio is not None:
            seen[audio["record_id"]] = audio
    for filter_asset in ("character_clips", "dialogue_turns"):
        if filter_asset in chain:
            r = rec.line(chain[filter_asset], line_id)
            entry.setdefault("filters", []).append({"asset": filter_asset, "parameters": chain[filter_asset]["parameters"],
                                                    "row": {k: _jsonable(v) for k, v in (r or {}).items()}})
    if "transcript" in chain:
        t = rec.line(chain["transcript"], line_id) or {}
        subtitles = rec.source_input(chain["transcript"], (".srt", ".ass", ".ssa", ".vtt"))
        entry.update({"start": t.get("start"), "end": t.get("end"), "raw_text": t.get("raw_text"),
                      "transcript_source": t.get("source"), "cue": t.get("cue"),
                      "subtitle_file": subtitles["path"] if subtitles else None,
                      "subtitle_sha256": subtitles["data_version"] if subtitles else None})
    if "annotated_lines" in chain:
        a = rec.line(chain["annotated_lines"], line_id) or {}
        entry.update({"text": a.get("text"), "text_source": a.get("text_source"), "character": a.get("character"),
                      "character_source": a.get("character_source"), "status": a.get("status")})
        if a.get("character_source") == "human":
            ann = rec.source_input(chain["annotated_lines"], (".csv",))
            entry["annotation"] = {"file": ann["path"] if ann else None, "row": a.get("annotation_row"),
                                   "sha256": ann["data_version"] if ann else None}
    if "character_predictions" in chain:
        p = rec.line(chain["character_predictions"], line_id) or {}
        ref = rec.table(chain["reference_set"]) if "reference_set" in chain else None
        sources = {(r["episode"], r["line_id"]): r["source"] for r in ref.select(["episode", "line_id", "source"]).to_pylist()} if ref is not None else {}
        entry["prediction"] = {
            "character": p.get("predicted_character"), "status": p.get("status"), "distance": p.get("distance"),
            "margin": p.get("margin"), "runner_up": p.get("runner_up"),
            "neighbours": [{**n, "sample": sources.get((n["episode"], n["line_id"]))} for n in p.get("neighbours") or []],
        }
    return entry


def _version(r: dict) -> dict:
    return {"asset": r["asset"], "partition": r["partition"], "data_version": r["content_hash"], "run_id": r["run_id"],
            "code_version": r["code_version"], "models": r["models"], "parameters": r["parameters"],
            "finished_at": r["finished_at"].isoformat(),
            "inputs": [{"input": i["asset"] or i["path"], "partition": i["partition"], "data_version": i["data_version"]}
                       for i in r["inputs"] if not i["asset"]]}


def _num(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _jsonable(v):
    return v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v)


# -- text for people -----------------------------------------------------------------------------

def format_answer(answer: dict) -> str:
    out = [f"{answer['file']} row {answer['row']}: {answer['asset']} [{answer['partition']}]"]
    for ln in answer["lines"]:
        out.append(f"  {ln['episode']} line {ln['line_id']}  {ln.get('start', 0) or 0:.3f}-{ln.get('end', 0) or 0:.3f} s  "
                   f"{ln.get('character')!s} ({ln.get('character_source')}, {ln.get('status')})")
        out.append(f"    text      {ln.get('text')!r} ({ln.get('text_source')})")
        if ln.get("subtitle_file"):
            out.append(f"    subtitle  {ln.get('raw_text')!r}  cue {ln.get('cue')} of {ln['subtitle_file']}")
        if ln.get("annotation"):
            a = ln["annotation"]
            out.append(f"    labelled  {a['file']} line {a['row']} (sha256 {str(a['sha256'])[:16]} then)")
        p = ln.get("prediction")
        if p:
            out.append(f"    model     {p['character']} {p['status']} distance {_num(p['distance'])} margin {_num(p['margin'])} runner-up {p['runner_up']}")
            for n in p["neighbours"][:5]:
                out.append(f"      near    {n['character']} {n['distance']:.3f} ({n['episode']} line {n['line_id']}, {n['sample']})")
        for f in ln.get("filters", []):
            out.append(f"    {f['asset']}: {json.dumps(f['row'], ensure_ascii=False, default=str)[:160]}")
    out.append("  versions:")
    for v in answer["versions"]:
        out.append(f"    {v['asset']} [{v['partition']}] {v['data_version'][:16]} run {v['run_id'][:8]} code {v['code_version']}"
                   + (f" models {json.dumps(v['models'], ensure_ascii=False)}" if v["models"] else ""))
    return "\n".join(out)

