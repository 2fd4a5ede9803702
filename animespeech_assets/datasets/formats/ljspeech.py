"""LJSpeech / Piper: ``metadata.csv`` with ``id|text`` rows, no header; wavs in ``wavs/``."""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.datasets.formats.base import pipe_safe


class LJSpeechMetadata:
    name = "ljspeech"
    file = "metadata.csv"

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        rows = "".join(f"{c['id']}|{pipe_safe(c['text'])}\n" for c in clips)
        (tmp / self.file).write_text(rows, encoding="utf-8")
