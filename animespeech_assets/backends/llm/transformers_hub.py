"""Any causal LM that transformers loads: a local folder, or a Hugging Face id already in the cache
(the hub is offline by default)."""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.backends.llm.base import LLM_BASES


@LLM_BASES.register("transformers")
def load(model: str, cache: Path) -> str:
    return model
