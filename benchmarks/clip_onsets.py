"""Where clips start and end against where the speech really is, on the demo episodes (the generator
records each line's true speech onset and end), clean and with the music bed under the speech.

Compares three ways of placing a clip: the subtitle cue as it is, the cue with its silence trimmed
by energy (the clips' fallback), and the voiced part found by voice activity (what speaker_embeddings
records and character_clips cuts); the last two with the clips' 0.1 s padding. Prints the share of clips
that start (end) within 150 ms of the true onset (end), the median error, and the voice-activity
time per minute of audio; writes benchmarks/results/clip_onsets.json.

    .venv/bin/python -m benchmarks.clip_onsets
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from animespeech_assets.core.audio import ANALYSIS_SAMPLE_RATE, decode_audio
from animespeech_assets.core.environment import configure_caches
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.core.voice import speech_probabilities, voiced_span
from animespeech_assets.datasets.clips import ClipOptions, trim
from animespeech_assets.demo.generate import generate_demo, read_truth
from animespeech_assets.demo.music import with_music

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TOLERANCE = 0.150
PADDING = ClipOptions().padding


def placements(audio: np.ndarray, truth: list[dict]) -> tuple[dict[str, list[tuple[float, float] | None]], float]:
    """Clip (start, end) per line for each method, and the voice-activity seconds."""
    sr = ANALYSIS_SAMPLE_RATE
    cues = [(float(r["start"]), float(r["end"])) for r in truth]
    t0 = time.perf_counter()
    probs = speech_probabilities(audio, sr)
    vad_seconds = time.perf_counter() - t0
    out: dict[str, list] = {"cue": [], "energy trim": [], "voice activity": []}
    for start, end in cues:
        out["cue"].append((start, end))
        a, b = trim(audio[int(start * sr) : int(end * sr)], sr, PADDING)
        out["energy trim"].append((start + a / sr, start + b / sr))
        span = voiced_span(probs, start, end)
        out["voice activity"].append(None if span is None else (span[0] - PADDING, span[1] + PADDING))
    return out, vad_seconds


def errors(spans: list[tuple[float, float] | None], truth: list[dict]) -> dict:
    found = [(s, r) for s, r in zip(spans, truth) if s is not None]
    onset = np.array([s[0] - float(r["speech_start"]) for s, r in found])
    offset = np.array([s[1] - float(r["speech_end"]) for s, r in found])
    return {
        "lines": len(truth),
        "no_speech": len(truth) - len(found),
        "start_within_150ms": float(np.mean(np.abs(onset) <= TOLERANCE)) if found else None,
        "end_within_150ms": float(np.mean(np.abs(offset) <= TOLERANCE)) if found else None,
        "median_start_error_ms": round(float(np.median(onset)) * 1000, 1) if found else None,
        "median_end_error_ms": round(float(np.median(offset)) * 1000, 1) if found else None,
    }


def main() -> None:
    layout = DataLayout(ROOT / "data")
    configure_caches(layout)
    generate_demo(layout)
    report: dict = {"tolerance_s": TOLERANCE, "padding_s": PADDING, "conditions": {}}
    audio_seconds = vad_seconds = 0.0
    print(f"{'condition':<18} {'method':<16} {'lines':>5} {'start ok':>9} {'end ok':>7} {'median start':>13} {'median end':>11}")
    for condition, snr in (("clean", None), ("music 10 dB under", 10.0), ("music 5 dB under", 5.0)):
        spans: dict[str, list] = {}
        truth_all: list[dict] = []
        for i, ep in enumerate(("demo_ep01", "demo_ep02")):
            audio, _ = decode_audio(layout.inputs / f"{ep}.mkv")
            truth = read_truth(layout.demo / f"{ep}.truth.csv")
            if snr is not None:
                cues = [(float(r["start"]), float(r["end"])) for r in truth]
                audio = with_music(audio, ANALYSIS_SAMPLE_RATE, snr, cues, seed=i + 1)
            placed, seconds = placements(audio, truth)
            audio_seconds += len(audio) / ANALYSIS_SAMPLE_RATE
            vad_seconds += seconds
            for method, s in placed.items():
                spans.setdefault(method, []).extend(s)
            truth_all += truth
        report["conditions"][condition] = {}
        for method, s in spans.items():
            e = errors(s, truth_all)
            report["conditions"][condition][method] = e
            print(f"{condition:<18} {method:<16} {e['lines']:>5} {e['start_within_150ms']:>9.3f} {e['end_within_150ms']:>7.3f} "
                  f"{e['median_start_error_ms']:>10.0f} ms {e['median_end_error_ms']:>8.0f} ms")
    report["voice_activity_x_real_time"] = round(audio_seconds / vad_seconds, 1)
    print(f"voice activity: {report['voice_activity_x_real_time']}x real time")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "clip_onsets.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"written {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
