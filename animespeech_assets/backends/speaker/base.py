"""The speaker-encoder protocol, its registry, and the batching every encoder shares."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from animespeech_assets.backends.registry import Registry

SAMPLE_RATE = 16_000
SPEAKER_ENCODERS = Registry("speaker encoder")


PRECISIONS = ("auto", "float32", "bfloat16")


class SpeakerEncoder(Protocol):
    model_id: str  # the weights: vectors of one model_id are comparable, whatever the precision
    precision: str  # what it computes in: "float32" or "bfloat16"
    dim: int
    min_seconds: float  # shorter clips are not embedded (marked ``too_short``)

    def embed(self, clips: list[np.ndarray]) -> np.ndarray:
        """(len(clips), dim) float32, rows L2-normalised. Clips are 16 kHz mono float32."""
        ...


def float32_only(backend: str, precision: str) -> None:
    """For the encoders that compute in float32 only: ``precision`` must be ``auto`` or ``float32``."""
    if precision not in ("auto", "float32"):
        raise ValueError(f"speaker encoder {backend!r} computes in float32 only, not {precision!r} (bfloat16 is CAM++'s)")


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def padded(clips: list[np.ndarray]):
    """(batch, max_len) tensor and the relative lengths SpeechBrain expects.

    Short clips are padded by repeating themselves rather than with zeros: pooling is masked by
    the lengths, but convolutions near a clip's end still see the padding, and silence there
    (log-mel of zeros) pulls the vector much further than more of the same voice does.
    """
    import torch

    longest = max(len(c) for c in clips)
    batch = np.stack([np.resize(np.asarray(c, np.float32), longest) for c in clips])
    lengths = torch.tensor([len(c) / longest for c in clips], dtype=torch.float32)
    return torch.from_numpy(batch), lengths


MAX_PADDING = 0.1  # a batch's shortest clip is at least 90 % of its longest


def batches(n: int, batch_size: int):
    for i in range(0, n, max(1, batch_size)):
        yield slice(i, min(n, i + batch_size))


def length_buckets(lengths: list[int], batch_size: int, max_padding: float = MAX_PADDING) -> list[list[int]]:
    """Batches of clip indices, longest first, where no clip is padded by more than ``max_padding``.

    Convolutional encoders (ECAPA, WavLM's feature extractor) see zero padding near a clip's end
    even when pooling is masked, so batching only clips of similar length keeps a line's vector
    (nearly) the same whether it is embedded alone or in a batch.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and lengths[i] >= (1 - max_padding) * lengths[batches[-1][0]]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def embed_bucketed(clips: list[np.ndarray], batch_size: int, forward) -> np.ndarray:
    """Run ``forward(list_of_clips) -> (b, dim)`` over length buckets; rows in the input order."""
    out: list[np.ndarray | None] = [None] * len(clips)
    for bucket in length_buckets([len(c) for c in clips], batch_size):
        for i, row in zip(bucket, forward([clips[i] for i in bucket])):
            out[i] = row
    return normalise(np.stack(out))


