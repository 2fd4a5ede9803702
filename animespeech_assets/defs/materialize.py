"""The one way an asset finishes: hash its outputs, write the lineage record, return the result.

The content hash is the Dagster ``DataVersion``, so Dagster's staleness and the ledger agree.
"""


from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from animespeech_assets.core.lineage import UNPARTITIONED, InputVersion, LineageRecord, utcnow
from animespeech_assets.core.storage import sha256_file

from .resources import DataResource


def partition_of(context: dg.AssetExecutionContext) -> str:
    return context.partition_key if context.has_partition_key else ""


def require(path: Path, asset: str, partition: str = "") -> Path:
    """``path`` of an upstream asset, or a clear failure saying what to materialize first."""
    if not Path(path).exists():
        where = f" for episode {partition!r}" if partition else ""
        raise dg.Failure(f"{asset}{where} is not materialized yet ({path} is missing): materialize it first")
    return Path(path)


def upstream(asset: str, partition: str, path: Path) -> InputVersion:
    """The version of an upstream asset's primary file that this materialization read."""
    return InputVersion(asset=asset, partition=partition or UNPARTITIONED, data_version=sha256_file(path), path=str(path))


def source_file(path: Path, partition: str, digest: str | None = None) -> InputVersion:
    """A human-owned input file (video, subtitles, annotations)."""
    return InputVersion(asset="", partition=partition, data_version=digest or sha256_file(path), path=str(path))


def finish(
    context: dg.AssetExecutionContext,
    data: DataResource,
    *,
    outputs: Sequence[Path],
    row_count: int,
    started_at: datetime,
    inputs: Sequence[InputVersion] = (),
    parameters: Mapping[str, Any] | None = None,
    models: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    checks: Sequence[dg.AssetCheckResult] = (),
) -> dg.MaterializeResult:
    outputs = [Path(p) for p in outputs]
    # the data version is the hash of the primary output (the first); further outputs are files
    # derived from it (an evaluation report, a preview) and are recorded by path
    content_hash = sha256_file(outputs[0])
    key = context.asset_key
    record = LineageRecord(
        asset=key.to_user_string(),
        partition=partition_of(context),
        run_id=context.run_id,
        code_version=context.assets_def.code_versions_by_key.get(key) or "",
        content_hash=content_hash,
        row_count=row_count,
        outputs=[str(p) for p in outputs],
        started_at=started_at,
        finished_at=utcnow(),
        parameters=dict(parameters or {}),
        models=dict(models or {}),
        inputs=list(inputs),
    )
    data.ledger.write(record)
    meta: dict[str, Any] = {
        "dagster/row_count": row_count,
        "path": dg.MetadataValue.path(str(outputs[0])),
        "content_hash": content_hash,
        "lineage_record": record.record_id,
    }
    if models:
        meta["models"] = dg.MetadataValue.json(dict(models))
    meta.update(metadata or {})
    return dg.MaterializeResult(
        metadata=meta, data_version=dg.DataVersion(content_hash), check_results=list(checks)
    )


def check(name: str, problems: Sequence[str], **metadata: Any) -> dg.AssetCheckResult:
    """An asset check result from a domain function's list of problems (empty: passed)."""
    return dg.AssetCheckResult(
        check_name=name,
        passed=not problems,
        metadata={"problems": dg.MetadataValue.json(list(problems)), **metadata},
    )
