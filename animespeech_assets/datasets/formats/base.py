"""What a dataset writer is: a name and a ``write`` into the folder being built."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

PIPE_FORBIDDEN = ("|", "\n", "\r")


def pipe_safe(text: str) -> str:
    """Text for ``|``-separated list files: separators and line breaks become spaces."""
    for ch in PIPE_FORBIDDEN:
        text = text.replace(ch, " ")
    return text.strip()


class AudioFormat(Protocol):
    name: str

    def write(self, tmp: Path, folder: Path, character: str, clips: list[dict]) -> None:
        """Write into ``tmp`` (swapped in as ``folder`` when every format is written); the clips'
        wavs are already in ``tmp/wavs/<id>.wav``."""
        ...


class DialogueFormat(Protocol):
    name: str

    def write(self, tmp: Path, train: list[dict], validation: list[dict]) -> None:
        ...


SPLITS = ("train", "validation")
