"""What a speech recogniser is (timed segments with words), its registry, and the decoding guards
every backend shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from animespeech_assets.backends.registry import Registry
from animespeech_assets.core.progress import Progress

SAMPLE_RATE = 16_000
RECOGNIZERS = Registry("speech recognition")


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    words: list[Word] = field(default_factory=list)


class Recognizer(Protocol):
    model_id: str

    def transcribe(self, audio: np.ndarray, language: str, progress: Progress | None = None) -> list[Segment]:
        """Timed segments of ``audio``; ``progress`` is advanced by the seconds of audio done."""
        ...


@dataclass(frozen=True)
class DecodeOptions:
    """Guards against Whisper's known failure modes, shared by both backends."""

    beam_size: int = 5
    no_repeat_ngram_size: int = 0  # 0: off; > 0 forbids repeating n-grams (stops repetition loops)
    compression_ratio_threshold: float = 2.4  # above: a repetition loop, decode again hotter / drop
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6  # with a low log-prob: hallucinated text in silence or music
    max_segment_seconds: float = 12.0  # voice-activity chunks are cut to this length (transformers)


