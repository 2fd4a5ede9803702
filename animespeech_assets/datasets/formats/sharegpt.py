"""ShareGPT: ``sharegpt_{train,validation}.json``, a list of ``{"id", "conversations": [{"from", "value"[, "translation"]}]}``."""

from __future__ import annotations

import json
from pathlib import Path

from animespeech_assets.datasets.formats.base import SPLITS

ROLES = {"system": "system", "user": "human", "assistant": "gpt"}


def to_sharegpt(sample: dict) -> dict:
    """One conversation; a turn whose text was recognised under foreign subtitles also gets their ``translation``."""
    translations = [None, *(sample.get("translations") or [])]  # the first message is the system prompt
    turns = []
    for i, m in enumerate(sample["messages"]):
        turn = {"from": ROLES[m["role"]], "value": m["content"]}
        if i < len(translations) and translations[i]:
            turn["translation"] = translations[i]
        turns.append(turn)
    return {"id": sample["id"], "conversations": turns}


class ShareGpt:
    name = "sharegpt"

    def write(self, tmp: Path, train: list[dict], validation: list[dict]) -> None:
        for split, part in zip(SPLITS, (train, validation)):
            (tmp / f"sharegpt_{split}.json").write_text(
                json.dumps([to_sharegpt(s) for s in part], ensure_ascii=False, indent=1), encoding="utf-8"
            )
