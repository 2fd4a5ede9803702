"""Where the speech is: frame-level voice activity of an episode's analysis audio, and each line's
voiced part within its cue.

Subtitle cues start before the speech and end after it (and in anime the gap holds music or effects),
so embeddings and clips use the voiced part. The detector is Silero VAD (v6, ONNX), which ships
inside faster-whisper; it runs once over the whole track in 32 ms frames, batched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

FRAME = 512  # samples at 16 kHz: Silero's window, 32 ms
VAD_SAMPLE_RATE = 16_000
NO_SPEECH = "no_speech"  # a cue without a voiced part (an embedding status and a clip's rejection reason)


@dataclass(frozen=True)
class VoiceOptions:
    threshold: float = 0.5  # speech probability of a voiced frame
    min_speech: float = 0.1  # seconds of voiced frames a cue needs to hold speech
    min_run: int = 2  # a line's speech starts (ends) at its first (last) run of this many voiced frames
    padding: float = 0.03  # seconds kept around the voiced frames (a frame's worth of onset)


@lru_cache(maxsize=4)
def _vad_model(threads: int):
    """faster-whisper's Silero model, its ONNX session on ``threads`` intra-op threads (faster-whisper
    itself uses one: a 24-minute track took 1.85 s on one core of this CPU, 1.37 s on two, with the
    same probabilities)."""
    import onnxruntime
    from faster_whisper.utils import get_assets_path
    from faster_whisper.vad import SileroVADModel

    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    model = SileroVADModel(path)
    if threads > 1:
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads, opts.intra_op_num_threads = 1, threads
        opts.enable_cpu_mem_arena, opts.log_severity_level = False, 4
        model.session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)
    return model


def speech_probabilities(audio: np.ndarray, sample_rate: int = VAD_SAMPLE_RATE, threads: int = 1) -> np.ndarray:
    """Silero's speech probability per 32 ms frame of the mono 16 kHz ``audio``, on ``threads`` cores."""
    if sample_rate != VAD_SAMPLE_RATE:
        raise ValueError(f"voice activity needs {VAD_SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
    if len(audio) == 0:
        return np.zeros(0, np.float32)
    padded = np.pad(np.asarray(audio, np.float32), (0, -len(audio) % FRAME))
    return np.asarray(_vad_model(max(1, int(threads)))(padded), np.float32).reshape(-1)


def silences(probs: np.ndarray, min_seconds: float, threshold: float = VoiceOptions.threshold) -> list[tuple[float, float]]:
    """(start, end) in seconds of every run of unvoiced frames at least ``min_seconds`` long."""
    seconds = FRAME / VAD_SAMPLE_RATE
    quiet = np.concatenate([[False], np.asarray(probs) < threshold, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    starts, ends = edges[::2], edges[1::2]  # frame indices: [start, end)
    keep = (ends - starts) * seconds >= min_seconds
    return [(round(a * seconds, 3), round(b * seconds, 3)) for a, b in zip(starts[keep], ends[keep])]


def voiced_span(probs: np.ndarray, start: float, end: float, opts: VoiceOptions = VoiceOptions()) -> tuple[float, float] | None:
    """The voiced part of the cue [start, end] in seconds (padded, within the cue), or None when the
    cue holds less than ``opts.min_speech`` of speech."""
    seconds = FRAME / VAD_SAMPLE_RATE
    first, last = max(0, int(np.floor(start / seconds))), min(len(probs), int(np.ceil(end / seconds)))
    voiced = probs[first:last] >= opts.threshold
    if voiced.sum() * seconds < opts.min_speech:
        return None
    runs = np.convolve(voiced, np.ones(opts.min_run), "valid") >= opts.min_run  # run of min_run starting here
    starts = np.nonzero(runs)[0]
    if not starts.size:
        return None
    s = (first + starts[0]) * seconds - opts.padding
    e = (first + starts[-1] + opts.min_run) * seconds + opts.padding
    return round(max(start, s), 3), round(min(end, e), 3)
