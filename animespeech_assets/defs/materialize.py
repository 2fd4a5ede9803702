"""The one way an asset materializes: read declared inputs, write outputs, record lineage.

An asset body is then a few lines::

    m = Materialization(context, data)
    lines = pq.read_table(m.read("transcript"))       # fails unless the asset declares transcript
    table = domain_function(lines)
    write_parquet(table, m.output())                  # staged beside the path derived from asset key + partition
    return m.done(row_count=table.num_rows, metadata={...})

``done`` hashes the primary output, writes the lineage record (inputs with the exact versions
read, parameters, models), renames the output into place and returns the ``MaterializeResult``
whose ``DataVersion`` is that hash, so Dagster's staleness and the ledger agree, and the file on
disk is never one its record does not describe.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from animespeech_assets.core import diffs
from animespeech_assets.core.layout import EXPORT_FOLDERS
from animespeech_assets.core.lineage import UNPARTITIONED, InputVersion, LineageRecord, utcnow
from animespeech_assets.core.storage import remove_stale_temporaries, sha256_file
from animespeech_assets.core.versions import VersionStore

from .resources import DataResource

# Which of the episode's human-owned files an asset reads (an asset tag, kinds joined by "."): a file
# of such a kind that appears after the asset ran makes it out of date (defs/planning.split_current)
READS = "animespeech/reads"
READS_AUDIO = {READS: "media.settings"}  # the media file and <stem>.episode.json
READS_SUBTITLES = {READS: "media.subtitles.settings"}  # and an external subtitle file
READS_ANNOTATIONS = {READS: "annotations"}  # data/annotations/<episode>.csv


class Materialization:
    def __init__(self, context: dg.AssetExecutionContext, data: DataResource):
        self.context = context
        self.data = data
        self.layout = data.layout
        self.asset = context.asset_key.to_user_string()
        self.partition = context.partition_key if context.has_partition_key else ""
        self.started_at = utcnow()
        self.inputs: list[InputVersion] = []
        self._declared = {k.to_user_string() for k in context.assets_def.asset_deps[context.asset_key]}

    # -- inputs ------------------------------------------------------------------------------------
    def read(self, asset: str, partition: str | None = None) -> Path:
        """The primary file of a declared upstream asset (default: this partition; ``""`` for an
        unpartitioned one), recorded with the version read; a clear failure if it is missing."""
        self._check_declared(asset)
        partition = self.partition if partition is None else partition
        path = self.layout.output(asset, partition)
        if not path.exists():
            where = f" for {partition!r}" if partition else ""
            raise dg.Failure(f"{asset}{where} is not materialized yet ({path} is missing): materialize it first")
        self.inputs.append(InputVersion(asset, partition or UNPARTITIONED, sha256_file(path), str(path)))
        return path

    def read_all(self, asset: str) -> list[Path]:
        """The primary files of every materialized partition of a declared upstream asset (an
        ``AllPartitionMapping`` dependency), sorted by partition."""
        self._check_declared(asset)
        pattern = self.layout.output(asset, "*")
        paths = sorted(pattern.parent.glob(pattern.name))
        for path in paths:
            self.inputs.append(InputVersion(asset, path.stem, sha256_file(path), str(path)))
        return paths

    def source(self, path: Path) -> str:
        """A human-owned input file (video, subtitles, annotations), recorded by its sha256 (returned)."""
        digest = sha256_file(path)
        self.inputs.append(InputVersion("", self.partition, digest, str(path)))
        return digest

    def record(self, inputs: Sequence[InputVersion]) -> None:
        """Input versions a domain function computed itself (the reference set's sources)."""
        self.inputs.extend(inputs)

    def _check_declared(self, asset: str) -> None:
        if asset not in self._declared:
            raise dg.Failure(
                f"{self.asset} reads {asset}, which it does not declare as a dependency "
                f"(declared: {', '.join(sorted(self._declared)) or 'none'}): add it to the asset's deps"
            )

    # -- outputs -----------------------------------------------------------------------------------
    def output(self) -> Path:
        """Where the asset writes its primary file: a staging name (``.<name>.<pid>.staged.tmp``) beside
        the path derived from the asset key and partition, which :meth:`done` renames into place right
        after the lineage record is written. So a run killed between writing the file and recording it
        leaves the previous version in place, consistent with its record (the next write of the path
        removes the staged file of a dead process)."""
        final = self.final_output()
        return final.with_name(f".{final.name}.{os.getpid()}.staged.tmp")

    def final_output(self) -> Path:
        return self.layout.output(self.asset, self.partition)

    def folder(self) -> Path:
        """The folder this materialization writes beside (or as) its primary file."""
        return self.layout.folder(self.asset, self.partition)

    def done(
        self,
        *,
        row_count: int,
        extra_outputs: Sequence[Path] = (),
        parameters: Mapping[str, Any] | None = None,
        models: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        checks: Sequence[dg.AssetCheckResult] = (),
    ) -> dg.MaterializeResult:
        """Hash the primary output, keep the version, write the lineage record, put the output in place
        and return the result."""
        primary, staged = self.final_output(), self.output()
        written = staged if staged.exists() else primary  # export folders are written whole, in place
        content_hash = sha256_file(written)
        history = self.data.ledger.records(self.asset, self.partition or UNPARTITIONED)  # newest first
        previous = history[0] if history else None
        key = self.context.asset_key
        record = LineageRecord(
            asset=self.asset,
            partition=self.partition,
            run_id=self.context.run.run_id,
            code_version=self.context.assets_def.code_versions_by_key.get(key) or "",
            content_hash=content_hash,
            row_count=row_count,
            outputs=[str(primary), *(str(p) for p in extra_outputs)],
            started_at=self.started_at,
            finished_at=utcnow(),
            parameters=dict(parameters or {}),
            models=dict(models or {}),
            inputs=list(self.inputs),
        )
        # keep the version before the record names it, so no record points at a version that is not kept
        kept = [written, *extra_outputs] + ([self.folder()] if self.asset in EXPORT_FOLDERS else [])
        versions = VersionStore(self.layout.versions)
        versions.keep(self.asset, self.partition, content_hash, kept, names={written: primary.name})
        self.data.ledger.write(record)
        if written == staged:
            os.replace(staged, primary)  # the commit: nothing slow between the record and this
            remove_stale_temporaries(primary)
        versions.prune(self.asset, self.partition, [content_hash, *(r["content_hash"] for r in history)])
        meta: dict[str, Any] = {
            "dagster/row_count": row_count,
            "path": dg.MetadataValue.path(str(primary)),
            "content_hash": content_hash,
            "lineage_record": record.record_id,
        }
        if models:
            meta["models"] = dg.MetadataValue.json(dict(models))
        meta.update(self._changes(previous, primary, versions))
        meta.update(metadata or {})
        return dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(content_hash), check_results=list(checks))

    def _changes(self, previous: dict | None, primary: Path, versions: VersionStore) -> dict[str, Any]:
        """What changed since the previous version (rows added/removed/changed, characters that gained
        or lost lines), and the commands that say why a row is here and what changed."""
        where = f" --{'character' if self.asset in EXPORT_FOLDERS else 'episode'} {self.partition}" if self.partition else ""
        meta: dict[str, Any] = {"lineage": dg.MetadataValue.md(
            f"`animespeech lineage why {primary} --row N` · `animespeech lineage diff {self.asset}{where}`")}
        key = diffs.ROW_KEYS.get(self.asset)
        old = versions.primary(self.asset, self.partition, previous["content_hash"], primary) if previous else None
        if key and old is not None and primary.suffix == ".parquet":
            before, after = pq.read_table(old), pq.read_table(primary)
            if all(k in before.column_names and k in after.column_names for k in key):
                meta["changes_since_previous"] = dg.MetadataValue.json(diffs.summary(diffs.table_diff(before, after, key), before, after))
        return meta


def check(name: str, problems: Sequence[str], **metadata: Any) -> dg.AssetCheckResult:
    """An asset check result from a domain function's list of problems (empty: passed)."""
    return dg.AssetCheckResult(
        check_name=name, passed=not problems, metadata={"problems": dg.MetadataValue.json(list(problems)), **metadata}
    )


def png(image: bytes, alt: str) -> dg.MetadataValue:
    """A PNG shown inline in the Dagster UI (Markdown metadata with a data URL)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(image).decode()})")


def table_preview(rows: list[dict], columns: Sequence[str]) -> dg.MetadataValue:
    """The first rows of a table as Markdown metadata."""
    import pandas as pd

    return dg.MetadataValue.md(pd.DataFrame(rows, columns=list(columns)).to_markdown(index=False) if rows else "")
