"""Per-character audio clips for TTS training, cut from the episode's ORIGINAL audio track.

The source is decoded once at the dataset's sample rate (not from the 16 kHz analysis copy).
Each clip: silence trimmed with a small padding kept, loudness normalised, then checked; every
rejected clip keeps a row with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from animespeech_assets.speakers.identify import DATASET_STATUSES


# rejection reasons
TOO_SHORT, TOO_LONG, CPS, CLIPPING, LOW_LEVEL, LOW_SNR, OVERLAP, STATUS = (
    "too_short", "too_long", "chars_per_second", "clipping", "low_level", "low_snr", "overlap", "status",
)


@dataclass(frozen=True)
class ClipOptions:
    sample_rate: int = 44_100
    padding: float = 0.1  # seconds of silence kept around the trimmed speech
    min_duration: float = 1.0
    max_duration: float = 15.0
    min_chars_per_second: float = 1.5
    max_chars_per_second: float = 20.0
    target_rms_dbfs: float = -20.0
    peak_limit_dbfs: float = -1.0
    max_clipped_share: float = 0.001  # share of samples at full scale in the source
    min_rms_dbfs: float = -45.0
    min_snr_db: float = 10.0
    overlap_tolerance: float = 0.1  # seconds two lines may overlap before both are rejected
    statuses: tuple[str, ...] = DATASET_STATUSES


def _db(x: float) -> float:
    return 20 * np.log10(max(x, 1e-10))


def frame_rms(x: np.ndarray, sr: int, frame: float = 0.02) -> np.ndarray:
    n = max(1, int(sr * frame))
    usable = len(x) // n * n
    if usable == 0:
        return np.array([float(np.sqrt(np.mean(x**2))) if len(x) else 0.0])
    return np.sqrt(np.mean(x[:usable].reshape(-1, n) ** 2, axis=1))


def trim(x: np.ndarray, sr: int, padding: float, threshold_db: float = -40.0) -> np.ndarray:
    """Drop leading/trailing frames more than ``-threshold_db`` below the clip's loudest frame."""
    rms = frame_rms(x, sr)
    if not rms.size or rms.max() <= 0:
        return x
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-10) / rms.max()) > threshold_db)[0]
    n = max(1, int(sr * 0.02))
    pad = int(padding * sr)
    return x[max(0, loud[0] * n - pad) : min(len(x), (loud[-1] + 1) * n + pad)]


def snr_db(x: np.ndarray, sr: int) -> float:
    """Speech-to-noise estimate: loud frames (90th pct) against the quiet floor (10th pct)."""
    rms = frame_rms(x, sr)
    return _db(float(np.percentile(rms, 90))) - _db(float(np.percentile(rms, 10)))


def normalise(x: np.ndarray, opts: ClipOptions) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    if rms <= 0:
        return x
    y = x * (10 ** (opts.target_rms_dbfs / 20) / rms)
    peak = float(np.abs(y).max())
    limit = 10 ** (opts.peak_limit_dbfs / 20)
    return (y * (limit / peak) if peak > limit else y).astype(np.float32)


def overlapping(starts: list[float], ends: list[float], tolerance: float) -> set[int]:
    """Indices of lines overlapping another line by more than ``tolerance`` seconds."""
    order = sorted(range(len(starts)), key=lambda i: starts[i])
    bad = set()
    for a_pos, a in enumerate(order):
        for b in order[a_pos + 1 :]:
            if starts[b] >= ends[a]:
                break
            if min(ends[a], ends[b]) - starts[b] > tolerance:
                bad |= {a, b}
    return bad


def make_clip(source: np.ndarray, start: float, end: float, text: str, opts: ClipOptions) -> tuple[np.ndarray | None, str | None, dict]:
    """(clip, rejection reason or None, measurements) for one line of the original track."""
    sr = opts.sample_rate
    raw = source[max(0, int(start * sr)) : min(len(source), int(end * sr))]
    stats = {"source_peak": float(np.abs(raw).max()) if len(raw) else 0.0}
    if not len(raw):
        return None, TOO_SHORT, stats
    clipped = float(np.mean(np.abs(raw) >= 0.999))
    trimmed = trim(raw, sr, opts.padding)
    duration = len(trimmed) / sr
    rms_db = _db(float(np.sqrt(np.mean(trimmed**2))))
    snr = snr_db(raw, sr)
    cps = len((text or "").replace(" ", "")) / max(duration - 2 * opts.padding, 1e-3)
    stats |= {"duration": duration, "rms_dbfs": rms_db, "snr_db": snr, "chars_per_second": cps, "clipped_share": clipped}
    if duration < opts.min_duration:
        return None, TOO_SHORT, stats
    if duration > opts.max_duration:
        return None, TOO_LONG, stats
    if not opts.min_chars_per_second <= cps <= opts.max_chars_per_second:
        return None, CPS, stats
    if clipped > opts.max_clipped_share:
        return None, CLIPPING, stats
    if rms_db < opts.min_rms_dbfs:
        return None, LOW_LEVEL, stats
    if snr < opts.min_snr_db:
        return None, LOW_SNR, stats
    return normalise(trimmed, opts), None, stats
