"""``animespeech lineage verify``: do the files on disk match what the lineage says?

Every current record (the newest per asset and partition) must find its outputs: the primary file
with the recorded content hash, every extra output present. Files in the pipeline-owned folders
(``assets/``, ``exports/``, ``review/``) that no current record names are orphans; ``.*.tmp``
files and ``.*.old-<pid>`` folders are what a killed run left behind. ``--fix`` removes orphans and
temporary files, never a human-owned file (``inputs/``, ``annotations/`` other than temporary files
of an interrupted save) and never a kept version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from animespeech_assets.core.layout import EXPORT_FOLDERS, DataLayout
from animespeech_assets.core.lineage import Ledger
from animespeech_assets.core.storage import remove, sha256_file
from animespeech_assets.provenance.freshness import newest_records

PIPELINE_FOLDERS = ("assets", "exports", "review")
_TEMP = re.compile(r"^\..+(\.tmp|\.old-\d+)$")


@dataclass
class VerifyReport:
    records: int = 0
    missing: list[str] = field(default_factory=list)  # "asset [partition]: path"
    changed: list[str] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)
    temporary: list[Path] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.orphans or self.temporary)

    def as_dict(self) -> dict:
        return {"records": self.records, "missing": self.missing, "changed": self.changed,
                "orphans": [str(p) for p in self.orphans], "temporary": [str(p) for p in self.temporary], "clean": self.clean}


def verify(layout: DataLayout) -> VerifyReport:
    report = VerifyReport()
    named: set[Path] = set()
    folders: list[Path] = []
    for rec in newest_records(Ledger(layout.lineage)).values():
        report.records += 1
        where = f"{rec['asset']} [{rec['partition']}]"
        if rec["asset"] in EXPORT_FOLDERS:  # a character's export folder: everything in it is the asset's (kept as one version)
            folders.append(layout.folder(rec["asset"], rec["partition"]))
        for i, out in enumerate(Path(o) for o in rec["outputs"]):
            named.add(out)
            if out.is_dir():
                folders.append(out)
            elif not out.exists():
                report.missing.append(f"{where}: {out}")
            elif i == 0 and sha256_file(out) != rec["content_hash"]:
                report.changed.append(f"{where}: {out} (recorded {rec['content_hash'][:12]}, on disk {sha256_file(out)[:12]})")
    for top in [layout.root / f for f in PIPELINE_FOLDERS] + [layout.annotations, layout.lineage]:
        for path in sorted(top.rglob("*")) if top.exists() else []:
            if _TEMP.match(path.name):
                if not any(t in path.parents for t in report.temporary):
                    report.temporary.append(path)
                continue
            hidden = any(part.startswith(".") for part in path.relative_to(top).parts[:-1])  # inside a temporary folder
            if top in (layout.annotations, layout.lineage) or path.is_dir() or hidden:
                continue
            if path not in named and not any(f in path.parents for f in folders):
                report.orphans.append(path)
    return report


def fix(report: VerifyReport) -> list[Path]:
    """Remove the orphans and temporary files of ``report``; returns what was removed."""
    removed = []
    for path in report.orphans + report.temporary:
        remove(path)
        removed.append(path)
    return removed


def format_report(report: VerifyReport) -> str:
    lines = [f"{report.records} current lineage records checked"]
    for title, items in (("missing", report.missing), ("changed since recorded", report.changed),
                         ("orphans (no current record names them)", report.orphans), ("temporary files of killed runs", report.temporary)):
        if items:
            lines.append(f"{title}: {len(items)}")
            lines += [f"  {x}" for x in items[:50]] + ([f"  ... and {len(items) - 50} more"] if len(items) > 50 else [])
    lines.append("clean" if report.clean else "not clean")
    return "\n".join(lines)
