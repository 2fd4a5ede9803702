"""The registry of base-model sources for the adapters: each resolves a model setting to what
``from_pretrained`` loads (a folder or a Hugging Face id in the local cache)."""

from __future__ import annotations

from animespeech_assets.backends.registry import Registry

LLM_BASES = Registry("LLM base")
