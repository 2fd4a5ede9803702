"""TRL conversational: ``train.jsonl`` / ``validation.jsonl``, one ``{"messages": [...]}`` per line."""

from __future__ import annotations

import json
from pathlib import Path

from animespeech_assets.datasets.formats.base import SPLITS


class TrlConversational:
    name = "trl"

    def write(self, tmp: Path, train: list[dict], validation: list[dict]) -> None:
        for split, part in zip(SPLITS, (train, validation)):
            with open(tmp / f"{split}.jsonl", "w", encoding="utf-8") as fh:
                for s in part:
                    fh.write(json.dumps({"messages": s["messages"]}, ensure_ascii=False) + "\n")


def read_conversations(folder: Path, split: str) -> list[list[dict]]:
    """The ``messages`` of every sample of a split, as written above (what the adapter trains on)."""
    path = Path(folder) / f"{split}.jsonl"
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line]
