"""GPT-SoVITS: ``gpt_sovits.list`` with ``<absolute wav path>|speaker|ja|text`` rows."""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.datasets.formats.base import pipe_safe


class GptSovitsList:
    name = "gpt_sovits"
    file = "gpt_sovits.list"

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        # paths point at the final folder, not the temporary one being built
        rows = "".join(f"{folder / 'wavs' / (c['id'] + '.wav')}|{character}|ja|{pipe_safe(c['text'])}\n" for c in clips)
        (tmp / self.file).write_text(rows, encoding="utf-8")
