"""CAM++ after speech recognition, with CTranslate2 loaded after torch or before it (the code location's order).

Each trial is a fresh process: it loads the libraries in the given order, recognises 30 s of a
generated episode with faster-whisper (so CTranslate2's OpenMP threads have run), then embeds the
episode's lines with CAM++ and times that. The two orders alternate, so a host whose speed drifts
between runs (shared vCPUs) moves both alike; medians are printed with their ratio.

    .venv/bin/python -m benchmarks.openmp_order [--minutes 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ORDERS = ("torch_first", "ctranslate2_first")


def trial(order: str, audio_path: Path, lines_path: Path, cache: Path) -> dict:
    if order == "ctranslate2_first":
        from animespeech_assets.core.environment import load_ctranslate2_before_torch

        load_ctranslate2_before_torch()
    else:
        import torch  # noqa: F401
    import pyarrow.parquet as pq

    from animespeech_assets.backends.asr import DecodeOptions, load_recognizer
    from animespeech_assets.backends.speaker import load_speaker_encoder
    from animespeech_assets.core.audio import load_audio
    from animespeech_assets.speakers.embeddings import embed_lines

    audio, lines = load_audio(audio_path), pq.read_table(lines_path)
    recognizer = load_recognizer("faster_whisper", "", "cpu", "auto", None, DecodeOptions(), str(cache / "models"))
    t0 = time.perf_counter()
    recognizer.transcribe(audio[: 16000 * 30], "ja")
    recognition_s = time.perf_counter() - t0
    encoder = load_speaker_encoder("campplus", "", "cpu")
    embed_lines(audio[: 16000 * 30], 16000, lines.slice(0, 5), encoder)  # warm-up
    t0 = time.perf_counter()
    embed_lines(audio, 16000, lines, encoder)
    return {"order": order, "recognition_30s_seconds": round(recognition_s, 2), "embed_seconds": round(time.perf_counter() - t0, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trial", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from animespeech_assets.core.environment import configure_caches
    from animespeech_assets.core.layout import DataLayout

    layout = DataLayout(ROOT / "data")
    configure_caches(layout)
    if args.trial:
        print(json.dumps(trial(args.trial[0], Path(args.trial[1]), Path(args.trial[2]), layout.cache)))
        return
    from benchmarks.embedding_throughput import in_fresh_process, prepare

    audio_path, lines_path = prepare(args.minutes, layout.cache / "bench")
    trials = []
    for round_ in range(args.rounds):
        for order in ORDERS:
            trials.append(in_fresh_process("benchmarks.openmp_order", "--trial", order, str(audio_path), str(lines_path)))
            print(f"round {round_ + 1}: {order:<18} CAM++ {trials[-1]['embed_seconds']:6.2f} s")
    median = {o: statistics.median(t["embed_seconds"] for t in trials if t["order"] == o) for o in ORDERS}
    ratio = median["torch_first"] / median["ctranslate2_first"]
    print(f"CAM++ on {args.minutes:g} minutes after recognition, median: torch first {median['torch_first']:.2f} s, "
          f"CTranslate2 first {median['ctranslate2_first']:.2f} s: {ratio:.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"episode_minutes": args.minutes, "median_embed_seconds": median, "torch_first_over_ctranslate2_first": round(ratio, 2), "trials": trials}
    (RESULTS / "openmp_order.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
