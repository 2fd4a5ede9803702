"""Speaker-embedding throughput on a long generated episode (20+ minutes), with peak memory.

Generates (once, cached under data/cache/bench/) a long episode from the demo cast, then embeds
every line in a fresh process so the peak RSS is the embedding stage's own.

    .venv/bin/python -m benchmarks.embedding_throughput [--minutes 21] [--backend resemblyzer]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def prepare(minutes: float, cache: Path) -> tuple[Path, Path]:
    import pyarrow as pa

    from animespeech_assets.core.audio import resample
    from animespeech_assets.core.storage import write_npy, write_parquet
    from animespeech_assets.demo.generate import SAMPLE_RATE, long_scenes, render

    audio_path, lines_path = cache / f"long_{minutes:g}min.npy", cache / f"long_{minutes:g}min.parquet"
    if audio_path.exists() and lines_path.exists():
        return audio_path, lines_path
    stereo, lines, _ = render(long_scenes(minutes), seed=0)
    mono16k = resample(stereo.mean(axis=1), SAMPLE_RATE, 16000)
    write_npy(mono16k, audio_path)
    write_parquet(pa.table({"line_id": pa.array([ln.cue for ln in lines], pa.int32()),
                            "start": [ln.start for ln in lines], "end": [ln.end for ln in lines]}), lines_path)
    return audio_path, lines_path


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def in_fresh_process(module: str, *args: str) -> dict:
    """Run ``python -m module args`` in a new process (its own imports, threads and peak RSS) and
    return the JSON object its last line of output holds."""
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(audio_path: Path, lines_path: Path, backend: str, device: str, batch_size: int) -> dict:
    import pyarrow.parquet as pq

    from animespeech_assets.backends.speaker import load_speaker_encoder
    from animespeech_assets.core.audio import load_audio
    from animespeech_assets.speakers.embeddings import embed_lines

    audio, lines = load_audio(audio_path), pq.read_table(lines_path)
    t0 = time.perf_counter()
    encoder = load_speaker_encoder(backend, "", device, batch_size)
    embed_lines(audio[: 16000 * 30], 16000, lines.slice(0, 5), encoder)  # warm-up (lazy imports, kernels)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    table = embed_lines(audio, 16000, lines, encoder)
    seconds = time.perf_counter() - t0
    speech = float(sum(e - s for s, e in zip(lines.column("start").to_pylist(), lines.column("end").to_pylist())))
    duration = len(audio) / 16000
    return {
        "backend": encoder.model_id, "device": device, "batch_size": batch_size,
        "episode_minutes": round(duration / 60, 2), "lines": table.num_rows, "speech_seconds": round(speech, 1),
        "embed_seconds": round(seconds, 2), "load_and_warmup_seconds": round(load_s, 2),
        "episode_seconds_per_second": round(duration / seconds, 1),
        "speech_seconds_per_second": round(speech / seconds, 1),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=21)
    ap.add_argument("--backend", default="resemblyzer")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    from animespeech_assets.core.environment import configure_caches
    from animespeech_assets.core.layout import DataLayout

    layout = DataLayout(ROOT / "data")
    configure_caches(layout)
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]), args.backend, args.device, args.batch_size)))
        return
    audio_path, lines_path = prepare(args.minutes, layout.cache / "bench")
    result = in_fresh_process("benchmarks.embedding_throughput", "--backend", args.backend, "--device", args.device,
                              "--batch-size", str(args.batch_size), "--measure", str(audio_path), str(lines_path))
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"embedding_throughput.{args.backend}.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
