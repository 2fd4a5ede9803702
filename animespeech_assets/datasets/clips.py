"""Per-character audio clips for TTS training, cut from the episode's ORIGINAL audio track.

The source is decoded once at the dataset's sample rate (not from the 16 kHz analysis copy).
Each clip: the line's voiced part (voice activity, from speaker_embeddings) with a small padding, or
where there is none recorded the cue with silence trimmed; loudness normalised, then checked; every
rejected clip keeps a row with its reason, and every accepted one its place in the episode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from animespeech_assets.core.naming import character_key, clip_id
from animespeech_assets.core.voice import NO_SPEECH
from animespeech_assets.speakers.statuses import DATASET_STATUSES

# rejection reasons (and NO_SPEECH: the line's embedding status says its cue holds no speech)
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


def trim(x: np.ndarray, sr: int, padding: float, threshold_db: float = -40.0) -> tuple[int, int]:
    """(first, end) samples of ``x`` without the leading/trailing frames more than ``-threshold_db``
    below its loudest frame, ``padding`` seconds kept."""
    rms = frame_rms(x, sr)
    if not rms.size or rms.max() <= 0:
        return 0, len(x)
    loud = np.nonzero(20 * np.log10(np.maximum(rms, 1e-10) / rms.max()) > threshold_db)[0]
    n = max(1, int(sr * 0.02))
    pad = int(padding * sr)
    return max(0, loud[0] * n - pad), min(len(x), (loud[-1] + 1) * n + pad)


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


def make_clip(source: np.ndarray, start: float, end: float, text: str, opts: ClipOptions,
              speech: tuple[float, float] | None = None) -> tuple[np.ndarray | None, str | None, dict]:
    """(clip, rejection reason or None, measurements) for one line of the original track.

    ``speech``: the line's voiced part (seconds); the clip is that with ``opts.padding`` each side.
    Without it, the cue with its silence trimmed. ``clip_start``/``clip_end``: where the clip lies
    in the episode."""
    sr = opts.sample_rate
    first, last = max(0, int(start * sr)), min(len(source), int(end * sr))
    raw = source[first:last]
    stats = {"source_peak": float(np.abs(raw).max()) if len(raw) else 0.0}
    if not len(raw):
        return None, TOO_SHORT, stats
    clipped = float(np.mean(np.abs(raw) >= 0.999))
    if speech is not None:
        a, b = max(0, int((speech[0] - opts.padding) * sr)), min(len(source), int((speech[1] + opts.padding) * sr))
    else:
        a, b = trim(raw, sr, opts.padding)
        a, b = first + a, first + b
    trimmed = source[a:b]
    duration = len(trimmed) / sr
    rms_db = _db(float(np.sqrt(np.mean(trimmed**2)))) if len(trimmed) else _db(0.0)
    snr = snr_db(raw, sr)
    cps = len((text or "").replace(" ", "")) / max(duration - 2 * opts.padding, 1e-3)
    stats |= {"duration": duration, "rms_dbfs": rms_db, "snr_db": snr, "chars_per_second": cps, "clipped_share": clipped,
              "clip_start": a / sr, "clip_end": b / sr}
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


MANIFEST_SCHEMA = pa.schema(
    [("id", pa.string()), ("character", pa.string()), ("episode", pa.string()), ("line_id", pa.int32()),
     ("start", pa.float64()), ("end", pa.float64()), ("text", pa.string()), ("status", pa.string()),
     ("accepted", pa.bool_()), ("reason", pa.string()), ("path", pa.string()), ("duration", pa.float64()),
     ("sample_rate", pa.int32()), ("rms_dbfs", pa.float64()), ("snr_db", pa.float64()), ("translation", pa.string()),
     ("clip_start", pa.float64()), ("clip_end", pa.float64())]  # where the exported audio lies in the episode
)


def cut_episode(episode: str, lines: list[dict], source: np.ndarray, opts: ClipOptions, folder: Path, tmp: Path) -> pa.Table:
    """Every usable line's clip as ``tmp/<character>/<clip id>.wav`` (``tmp`` is swapped in as
    ``folder``), and the manifest: one row per line considered, accepted or with its reason."""
    import soundfile as sf

    overlaps = overlapping([r["start"] for r in lines], [r["end"] for r in lines], opts.overlap_tolerance)
    rows = []
    for i, r in enumerate(lines):
        if r["character"] is None or r["status"] not in opts.statuses:
            continue
        cid = clip_id(episode, r["line_id"])
        speech = (r["speech_start"], r["speech_end"]) if r.get("speech_start") is not None else None
        if r.get("embedding_status") == NO_SPEECH:
            clip, reason, stats = None, NO_SPEECH, {}  # a human label on a cue without speech
        else:
            clip, reason, stats = make_clip(source, r["start"], r["end"], r["text"], opts, speech)
        if reason is None and i in overlaps:
            reason = OVERLAP
        path = folder / character_key(r["character"]) / f"{cid}.wav"
        if reason is None:
            (tmp / path.parent.name).mkdir(exist_ok=True)
            sf.write(tmp / path.parent.name / path.name, clip, opts.sample_rate, subtype="PCM_16")
        rows.append({"id": cid, "character": r["character"], "episode": episode, "line_id": r["line_id"],
                     "start": r["start"], "end": r["end"], "text": r["text"], "status": r["status"],
                     "accepted": reason is None, "reason": reason, "path": str(path) if reason is None else None,
                     "duration": stats.get("duration"), "sample_rate": opts.sample_rate,
                     "rms_dbfs": stats.get("rms_dbfs"), "snr_db": stats.get("snr_db"), "translation": r.get("translation"),
                     "clip_start": stats.get("clip_start") if reason is None else None,
                     "clip_end": stats.get("clip_end") if reason is None else None})
    return pa.Table.from_pylist(rows, schema=MANIFEST_SCHEMA)


def manifest_summary(table: pa.Table) -> dict:
    """Accepted and rejected counts, rejections by reason, and seconds of accepted audio per character."""
    rows = table.to_pylist()
    accepted = [r for r in rows if r["accepted"]]
    seconds: Counter = Counter()
    for r in accepted:
        seconds[r["character"]] += r["duration"]
    return {"accepted": len(accepted), "rejected": len(rows) - len(accepted),
            "rejected_by_reason": dict(Counter(r["reason"] for r in rows if r["reason"])),
            "seconds_per_character": {c: round(d, 1) for c, d in sorted(seconds.items())}}


class ClipError(ValueError):
    """Clips of one character that cannot make one dataset."""


def accepted_clips(manifests: list[Path], character: str) -> list[dict]:
    """Every episode's accepted clips of ``character``, as dataset rows (``source_path``: the episode clip)."""
    import pyarrow.parquet as pq

    from animespeech_assets.datasets.formats.provenance import CLIPS_SCHEMA

    clips = [{**{k: r[k] for k in CLIPS_SCHEMA.names if k in r}, "source_path": r["path"]}
             for m in manifests for r in pq.read_table(m).to_pylist() if r["accepted"] and r["character"] == character]
    if not clips:
        raise ClipError(f"no accepted clip of {character!r} in {len(manifests)} episode(s)")
    rates = {c["sample_rate"] for c in clips}
    if len(rates) > 1:
        raise ClipError(f"clips of {character!r} have different sample rates {sorted(rates)}: re-materialize character_clips with one rate")
    return clips
