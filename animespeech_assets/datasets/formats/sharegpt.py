"""ShareGPT: ``sharegpt_{train,validation}.json``, a list of ``{"id", "conversations": [{"from", "value"}]}``."""

from __future__ import annotations

import json
from pathlib import Path

from animespeech_assets.datasets.formats.base import SPLITS

ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(sample: dict) -> dict:
    return {"id": sample["id"], "conversations": [{"from": ROLES[m["role"]], "value": m["content"]} for m in sample["messages"]]}


class ShareGpt:
    name = "sharegpt"

    def write(self, tmp: Path, train: list[dict], validation: list[dict]) -> None:
        for split, part in zip(SPLITS, (train, validation)):
            (tmp / f"sharegpt_{split}.json").write_text(
                json.dumps([to_sharegpt(s) for s in part], ensure_ascii=False, indent=1), encoding="utf-8"
            )
