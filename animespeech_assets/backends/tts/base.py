"""What a TTS backend is, and its registry."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from animespeech_assets.backends.registry import Registry

TTS_BACKENDS = Registry("TTS")


class TtsBackend(Protocol):
    model_id: str
    sample_rate: int
    clones: bool  # speaks in the voice of a reference clip given to ``synthesize``

    def choose_voice(self, centre: np.ndarray, encoder) -> tuple[dict, dict]:
        """Settle the voice for a character whose reference clips' mean embedding is ``centre``.
        Returns what was chosen (recorded as parameters) and details shown in the metadata."""
        ...

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        ...
