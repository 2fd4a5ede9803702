"""The lineage ledger: one small Parquet record per materialization, DuckDB views over them.

Records are append-only files (``records/<asset>/<partition>/<time>-<id>.parquet``), so parallel
runs never contend for a database lock; ``lineage.duckdb`` only holds views that read them.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from animespeech_assets.core.storage import atomic_path

UNPARTITIONED = "__all__"

_INPUT_TYPE = pa.struct(
    [("asset", pa.string()), ("partition", pa.string()), ("data_version", pa.string()), ("path", pa.string())]
)
RECORD_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("asset", pa.string()),
        ("partition", pa.string()),
        ("run_id", pa.string()),
        ("code_version", pa.string()),
        ("parameters", pa.string()),  # JSON object
        ("models", pa.string()),  # JSON object: role -> model id
        ("inputs", pa.list_(_INPUT_TYPE)),
        ("outputs", pa.list_(pa.string())),
        ("content_hash", pa.string()),
        ("row_count", pa.int64()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("finished_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True)
class InputVersion:
    asset: str
    partition: str
    data_version: str
    path: str = ""


@dataclass
class LineageRecord:
    asset: str
    partition: str
    run_id: str
    code_version: str
    content_hash: str
    row_count: int
    outputs: list[str]
    started_at: datetime
    finished_at: datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    inputs: list[InputVersion] = field(default_factory=list)
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def utcnow() -> datetime:
    return datetime.now(UTC)


# records read by this process, per records folder: (the record files' paths, their records newest first)
_RECORDS: dict[Path, tuple[frozenset[str], list[dict[str, Any]]]] = {}


class Ledger:
    def __init__(self, lineage_dir: Path):
        self.dir = Path(lineage_dir)
        self.records_dir = self.dir / "records"
        self.db_path = self.dir / "lineage.duckdb"

    # -- writing -----------------------------------------------------------------------------
    def write(self, record: LineageRecord) -> Path:
        partition = record.partition or UNPARTITIONED
        stamp = record.finished_at.strftime("%Y%m%dT%H%M%S%fZ")
        path = self.records_dir / record.asset / partition / f"{stamp}-{record.record_id[:12]}.parquet"
        row = {
            "record_id": record.record_id,
            "asset": record.asset,
            "partition": partition,
            "run_id": record.run_id,
            "code_version": record.code_version,
            "parameters": json.dumps(record.parameters, sort_keys=True, ensure_ascii=False, default=str),
            "models": json.dumps(record.models, sort_keys=True, ensure_ascii=False),
            "inputs": [asdict(i) for i in record.inputs],
            "outputs": [str(o) for o in record.outputs],
            "content_hash": record.content_hash,
            "row_count": int(record.row_count),
            "started_at": record.started_at,
            "finished_at": record.finished_at,
        }
        table = pa.Table.from_pylist([row], schema=RECORD_SCHEMA)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        if not self.db_path.exists():
            self.ensure_views()
        return path

    def ensure_views(self) -> None:
        """Create ``lineage.duckdb`` and its views; skipped when another process holds the file."""
        import duckdb

        try:
            self.connect(in_memory=False).close()
        except duckdb.IOException:
            pass  # another process is creating it; the views read every record file anyway

    # -- reading -----------------------------------------------------------------------------
    def connect(self, in_memory: bool = True):
        """A DuckDB connection with the ``lineage`` and ``lineage_inputs`` views over the record files.

        In memory by default: any number of processes read at once (a connection to the
        ``lineage.duckdb`` file takes its lock, and a second process's would fail with "Could not
        set lock on file"). ``in_memory=False`` (re)defines the views in ``lineage.duckdb`` itself, for
        tools that open that file."""
        import duckdb

        self.dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(":memory:" if in_memory else str(self.db_path))
        pattern = str(self.records_dir / "**" / "*.parquet").replace("'", "''")
        if any(self.records_dir.rglob("*.parquet")):
            con.execute(f"CREATE OR REPLACE VIEW lineage AS SELECT * FROM read_parquet('{pattern}')")
        else:  # an empty view with the right columns, so queries work before the first record
            con.execute(_empty_view_sql())
        con.execute(
            "CREATE OR REPLACE VIEW lineage_inputs AS SELECT record_id, asset AS consumer, partition AS "
            "consumer_partition, finished_at, unnest(inputs, recursive := true) FROM lineage"
        )
        return con

    def records(self, asset: str | None = None, partition: str | None = None) -> list[dict[str, Any]]:
        """Records, newest first, optionally for one asset (and partition). Treat them as read-only.

        Record files are written once, atomically, and never changed, so the set of their names says
        what they hold: every record is read with one DuckDB query and kept for this process until a
        file appears or goes (a no-op run over 100 episodes asks 300 times; it read 800 files each time)."""
        files = frozenset(os.path.join(root, f) for root, _, names in os.walk(self.records_dir) for f in names if f.endswith(".parquet"))
        cached = _RECORDS.get(self.records_dir)
        if cached is None or cached[0] != files:
            cached = _RECORDS[self.records_dir] = (files, self._query_all())
        return [dict(r) for r in cached[1] if (not asset or r["asset"] == asset) and (not partition or r["partition"] == partition)]

    def _query_all(self) -> list[dict[str, Any]]:
        con = self.connect()
        try:
            cur = con.execute("SELECT * FROM lineage ORDER BY finished_at DESC, record_id")
            cols = [d[0] for d in cur.description]
            return [_decode(dict(zip(cols, r))) for r in cur.fetchall()]
        finally:
            con.close()

    def latest(self, asset: str, partition: str | None = None) -> dict[str, Any] | None:
        recs = self.records(asset, partition or UNPARTITIONED)
        return recs[0] if recs else None

    def find_version(self, asset: str, partition: str, data_version: str) -> dict[str, Any] | None:
        """The newest record of ``asset``/``partition`` that produced ``data_version``."""
        for rec in self.records(asset, partition or UNPARTITIONED):
            if rec["content_hash"] == data_version:
                return rec
        return None

    def trace(self, asset: str, partition: str | None = None, depth: int = 20) -> dict[str, Any] | None:
        """The latest record of ``asset`` with, recursively, the records of the exact input versions it used."""
        rec = self.latest(asset, partition)
        return self._expand(rec, depth) if rec else None

    def _expand(self, rec: dict[str, Any], depth: int) -> dict[str, Any]:
        rec = dict(rec)
        expanded = []
        for inp in rec["inputs"]:
            up = None
            if depth > 0 and inp["asset"]:
                up = self.find_version(inp["asset"], inp["partition"], inp["data_version"])
            expanded.append({**inp, "record": self._expand(up, depth - 1) if up else None})
        rec["inputs"] = expanded
        return rec


def _empty_view_sql() -> str:
    cols = ", ".join(f"CAST(NULL AS {_duck_type(f.type)}) AS {f.name}" for f in RECORD_SCHEMA)
    return f"CREATE OR REPLACE VIEW lineage AS SELECT {cols} WHERE FALSE"


def _duck_type(t: pa.DataType) -> str:
    if pa.types.is_list(t) and pa.types.is_struct(t.value_type):
        inner = ", ".join(f"{f.name} VARCHAR" for f in t.value_type)
        return f"STRUCT({inner})[]"
    if pa.types.is_list(t):
        return "VARCHAR[]"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_integer(t):
        return "BIGINT"
    return "VARCHAR"


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["parameters"] = json.loads(row["parameters"] or "{}")
    row["models"] = json.loads(row["models"] or "{}")
    row["inputs"] = list(row["inputs"] or [])
    row["outputs"] = list(row["outputs"] or [])
    return row


def format_trace(rec: dict[str, Any], indent: int = 0) -> str:
    """A human-readable tree of a traced record (``animespeech lineage show``)."""
    pad = "  " * indent
    lines = [
        f"{pad}{rec['asset']} [{rec['partition']}] version {rec['content_hash'][:16]}  rows={rec['row_count']}",
        f"{pad}  run {rec['run_id']}  code {rec['code_version']}  finished {rec['finished_at']:%Y-%m-%d %H:%M:%S %Z}",
    ]
    for out in rec["outputs"]:
        lines.append(f"{pad}  output {out}")
    if rec["models"]:
        lines.append(f"{pad}  models {json.dumps(rec['models'], ensure_ascii=False, sort_keys=True)}")
    if rec["parameters"]:
        lines.append(f"{pad}  parameters {json.dumps(rec['parameters'], ensure_ascii=False, sort_keys=True)}")
    for inp in rec["inputs"]:
        label = inp["asset"] or inp["path"]
        lines.append(f"{pad}  input {label} [{inp['partition']}] version {inp['data_version'][:16]}")
        if inp.get("record"):
            lines.append(format_trace(inp["record"], indent + 2))
        elif inp["asset"]:
            lines.append(f"{pad}    (no record of that version)")
    return "\n".join(lines)


def format_history(records: list[dict[str, Any]]) -> str:
    """One line per record, newest first, with what changed since the previous record of its partition."""
    lines = []
    for i, rec in enumerate(records):
        prev = next((r for r in records[i + 1 :] if r["partition"] == rec["partition"]), None)
        changes = []
        if prev is not None:
            if rec["content_hash"] == prev["content_hash"]:
                changes.append("same content")
            if rec["code_version"] != prev["code_version"]:
                changes.append(f"code {prev['code_version']}->{rec['code_version']}")
            for key in sorted(set(rec["parameters"]) | set(prev["parameters"])):
                if rec["parameters"].get(key) != prev["parameters"].get(key):
                    changes.append(f"{key}: {prev['parameters'].get(key)!r}->{rec['parameters'].get(key)!r}")
            if rec["models"] != prev["models"]:
                changes.append(f"models {prev['models']}->{rec['models']}")
            old_inputs = {(i["asset"] or i["path"], i["partition"]): i["data_version"] for i in prev["inputs"]}
            for i in rec["inputs"]:
                key = (i["asset"] or i["path"], i["partition"])
                if old_inputs.get(key) not in (None, i["data_version"]):
                    changes.append(f"input {key[0]} changed")
        lines.append(
            f"{rec['finished_at']:%Y-%m-%d %H:%M:%S}  {rec['partition']}  {rec['content_hash'][:16]}  "
            f"rows={rec['row_count']}  run={rec['run_id'][:8]}  " + ("; ".join(changes) if changes else "first")
        )
    return "\n".join(lines)
