"""Style-Bert-VITS2: ``esd.list`` with ``<id>.wav|speaker|JP|text`` rows."""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.datasets.formats.base import pipe_safe


class EsdList:
    name = "style_bert_vits2"
    file = "esd.list"

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        rows = "".join(f"{c['id']}.wav|{character}|JP|{pipe_safe(c['text'])}\n" for c in clips)
        (tmp / self.file).write_text(rows, encoding="utf-8")
