"""Kept versions: every materialization's outputs, content-addressed, so old versions can be
read back (``lineage why`` answers from the versions a row was made from; ``lineage diff``
compares two of them).

``versions/<asset>/<partition>/<content hash>/<output name>``: hard links to the files the
materialization wrote (the pipeline replaces files by renaming new ones into place, so a link
keeps the old content at no cost), copies where links are impossible. Folders (exports, clips)
are linked file by file. The newest ``keep`` versions of each asset and partition stay.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from animespeech_assets.core.lineage import UNPARTITIONED
from animespeech_assets.core.storage import link_or_copy, remove_stale_temporaries, sha256_file

KEEP_ENV = "ANIMESPEECH_KEEP_VERSIONS"
DEFAULT_KEEP = 10


def keep_count() -> int:
    return max(1, int(os.environ.get(KEEP_ENV) or DEFAULT_KEEP))


class VersionStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, asset: str, partition: str, content_hash: str) -> Path:
        return self.root / asset / (partition or UNPARTITIONED) / content_hash[:20]

    def keep(self, asset: str, partition: str, content_hash: str, outputs: Sequence[Path],
             names: Mapping[Path, str] | None = None) -> Path:
        """Link ``outputs`` (files or folders) into the version's folder, each under its name (or the one
        ``names`` gives it: a file staged under a temporary name); a no-op if it is kept already."""
        target = self.folder(asset, partition, content_hash)
        if target.exists():
            return target
        remove_stale_temporaries(target)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.version.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            for out in dict.fromkeys(Path(o) for o in outputs):  # each output once, in order
                if out.is_dir():
                    for f in out.rglob("*"):
                        if f.is_file():
                            dst = tmp / out.name / f.relative_to(out)
                            dst.parent.mkdir(parents=True, exist_ok=True)
                            link_or_copy(f, dst)
                elif out.is_file():
                    link_or_copy(out, tmp / (names or {}).get(out, out.name))
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    def file(self, asset: str, partition: str, content_hash: str, output: Path | str) -> Path | None:
        """The kept copy of ``output`` (a path the materialization wrote, or a path inside one of its folders)."""
        folder = self.folder(asset, partition, content_hash)
        if not folder.exists():
            return None
        output = Path(output)
        for candidate in (folder / output.name, *(folder / p.name / output.relative_to(p) for p in output.parents if p.name)):
            if candidate.is_file():
                return candidate
        return None

    def primary(self, asset: str, partition: str, content_hash: str, output: Path | str) -> Path | None:
        """The kept copy of a version's primary file, only while it still has the version's content
        hash: the copies are hard links, so a file edited in place (not replaced, as the pipeline
        does) changes its kept copy too, and that copy is then no longer the version."""
        kept = self.file(asset, partition, content_hash, output)
        return kept if kept is not None and sha256_file(kept) == content_hash else None

    def kept(self, asset: str, partition: str) -> list[str]:
        """Hash prefixes of the versions kept for ``asset``/``partition``."""
        where = self.root / asset / (partition or UNPARTITIONED)
        return sorted(p.name for p in where.iterdir() if p.is_dir() and not p.name.startswith(".")) if where.exists() else []

    def prune(self, asset: str, partition: str, newest_first: Sequence[str], keep: int | None = None) -> list[str]:
        """Remove kept versions other than the ``keep`` newest of ``newest_first`` (content hashes)."""
        keep = keep or keep_count()
        wanted = []
        for h in newest_first:
            if h[:20] not in wanted:
                wanted.append(h[:20])
        wanted = wanted[:keep]
        removed = [name for name in self.kept(asset, partition) if name not in wanted]
        for name in removed:
            shutil.rmtree(self.root / asset / (partition or UNPARTITIONED) / name, ignore_errors=True)
        return removed
