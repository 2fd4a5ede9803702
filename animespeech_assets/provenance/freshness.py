"""Is an asset's partition up to date? Then a run can skip it (the CLI does, unless ``--force``).

Up to date means the newest lineage record was made by the current code version, its outputs are on
disk with the recorded content hash, every input it read is still the version it read (a human file
with the same sha256, an upstream asset whose newest record has the same content hash), no human
file of the episode appeared since it ran (a new annotation or settings file), and an asset that
combines the partitions of another (a character's dataset over every episode) has read them all. Run configuration
chosen in the launchpad is not compared: ``--force`` reruns what was made with other settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.storage import sha256_file


def newest_records(ledger: Ledger) -> dict[tuple[str, str], dict]:
    """The newest record of every (asset, partition), read once."""
    newest: dict[tuple[str, str], dict] = {}
    for rec in ledger.records():  # newest first
        newest.setdefault((rec["asset"], rec["partition"]), rec)
    return newest


def stale_reason(record: dict | None, code_version: str, newest: Mapping[tuple[str, str], dict],
                 human_files: Iterable[Path] = ()) -> str | None:
    """Why the partition that ``record`` (its newest record, or None) describes must run again; None
    when it is up to date."""
    if record is None:
        return "never materialized"
    if record["code_version"] != code_version:
        return f"code version {record['code_version'] or '-'} -> {code_version}"
    outputs = [Path(o) for o in record["outputs"]]
    missing = [o for o in outputs if not o.exists()]
    if missing:
        return f"{missing[0]} is missing"
    if sha256_file(outputs[0]) != record["content_hash"]:
        return f"{outputs[0]} changed since it was written"
    read = set()
    for inp in record["inputs"]:
        path = Path(inp["path"])
        read.add(path)
        if not inp["asset"]:  # a human-owned file
            if not path.exists():
                return f"{path} is gone"
            if sha256_file(path) != inp["data_version"]:
                return f"{path} changed"
            continue
        upstream = newest.get((inp["asset"], inp["partition"]))
        if upstream is None or upstream["content_hash"] != inp["data_version"]:
            return f"{inp['asset']} [{inp['partition']}] has a newer version"
    # an asset that combines partitions of another (a character's dataset: every episode's turns)
    # is out of date when that asset has a partition it did not read
    combined: dict[str, set[str]] = {}
    for inp in record["inputs"]:
        if inp["asset"] and inp["partition"] != record["partition"]:
            combined.setdefault(inp["asset"], set()).add(inp["partition"])
    for asset, partitions in combined.items():
        new = sorted(p for (a, p) in newest if a == asset and p not in partitions)
        if new:
            return f"{asset} [{new[0]}] is new"
    started = record["started_at"]
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    for path in human_files:  # a file it did not read that is newer than the run (ctime: copies and renames count)
        if path.exists() and path not in read and datetime.fromtimestamp(path.stat().st_ctime, UTC) >= started:
            return f"{path} is new"
    return None
