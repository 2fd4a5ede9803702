"""Hugging Face audiofolder: ``hf/metadata.csv`` (``file_name``, ``text`` and provenance) beside
the wavs, which are hard links to ``wavs/`` (no second copy). ``datasets.load_dataset("audiofolder",
data_dir=...)`` reads it."""

from __future__ import annotations

import csv
import os
from pathlib import Path

COLUMNS = ["file_name", "text", "character", "episode", "line_id", "start", "end", "duration"]


class AudioFolder:
    name = "audiofolder"
    folder = "hf"

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        out = tmp / self.folder
        out.mkdir()
        with open(out / "metadata.csv", "w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            for c in clips:
                name = f"{c['id']}.wav"
                os.link(tmp / "wavs" / name, out / name)
                writer.writerow({**{k: c[k] for k in COLUMNS[3:]}, "file_name": name, "text": c["text"], "character": character})
