"""Peak memory of each per-episode asset on a 24-minute episode, and on a 2-hour input.

The long inputs are made from one generated demo scene (Kokoro voices, labels), looped with FFmpeg
without re-encoding to 24 minutes and to 2 hours, its subtitles repeated at each loop's offset and its
labels kept for the first loop. Each asset is then materialized through the CLI in a fresh process
(`animespeech materialize --episode E --select ASSET`, as a user runs it), and the process's peak
resident memory is read from the kernel (`wait4`'s `ru_maxrss`: it includes Python, torch and Dagster
themselves). Target: every per-episode asset under 3 GB on the 24-minute episode; the 2-hour input
must not exhaust memory. Run: `python -m benchmarks.episode_memory [--work DIR]`; results in
`benchmarks/results/episode_memory.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
TARGET_GB = 3.0
SEED_EPISODE = "seed"
LONG_INPUTS = {"long24": 24 * 60, "long120": 120 * 60}
# the 2-hour input: the assets whose memory grows with the audio's length (the rest read Parquet tables)
LONG120_ASSETS = ("episode_audio", "transcript", "speaker_embeddings")


def loop_episode(layout, name: str, seconds: float) -> None:
    """``inputs/<name>.mkv`` + ``.srt`` + annotations: the seed episode looped to ``seconds``."""
    import av
    import pysubs2

    src = layout.inputs / f"{SEED_EPISODE}.mkv"
    with av.open(str(src)) as container:
        period = container.duration / 1_000_000
    loops = math.ceil(seconds / period)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(src), "-map", "0", "-c", "copy",
                    "-t", f"{seconds:.3f}", str(layout.inputs / f"{name}.mkv")], check=True)
    seed = pysubs2.load(str(layout.inputs / f"{SEED_EPISODE}.srt"))
    long = pysubs2.SSAFile()
    for n in range(loops):
        for ev in seed.events:
            start, end = ev.start + int(n * period * 1000), ev.end + int(n * period * 1000)
            if end <= seconds * 1000:
                long.events.append(pysubs2.SSAEvent(start=start, end=end, text=ev.text))
    long.save(str(layout.inputs / f"{name}.srt"), format_="srt")
    shutil.copyfile(layout.annotation_file(SEED_EPISODE), layout.annotation_file(name))


def peak_rss(cmd: list[str], env: dict) -> tuple[int, float, int, str]:
    """(exit status, seconds, peak RSS in bytes, stderr tail) of a fresh process."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.monotonic() - start, usage.ru_maxrss * 1024, err[-1500:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=PROJECT / "data" / "cache" / "benchmarks" / "episode_memory")
    p.add_argument("--output", type=Path, default=RESULTS / "episode_memory.json")
    p.add_argument("--skip-2h", action="store_true", help="only the 24-minute episode")
    args = p.parse_args()

    from animespeech_assets.core.environment import configure_caches
    from animespeech_assets.core.layout import DataLayout
    from animespeech_assets.definitions import defs
    from animespeech_assets.defs.jobs import EPISODE_ASSET_KEYS
    from animespeech_assets.demo.generate import generate_episode
    from animespeech_assets.demo.script import EPISODES

    configure_caches(DataLayout(PROJECT / "data"))
    home = args.work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")
    os.environ.update({"ANIMESPEECH_DATA_DIR": str(args.work / "data"), "DAGSTER_HOME": str(home)})
    layout = DataLayout.from_env()
    if not (layout.inputs / f"{SEED_EPISODE}.mkv").exists():
        print("generating the seed scene (Kokoro voices) ...", flush=True)
        generate_episode(layout, SEED_EPISODE, EPISODES["demo_ep01"][:2], seed=0, labels=3)
    inputs = {name: secs for name, secs in LONG_INPUTS.items() if not (args.skip_2h and name == "long120")}
    for name, seconds in inputs.items():
        if not (layout.inputs / f"{name}.mkv").exists():
            loop_episode(layout, name, seconds)
    env = dict(os.environ)
    cli = [sys.executable, "-m", "animespeech_assets.cli"]
    results = {}
    for name, seconds in inputs.items():
        graph_order = defs.resolve_asset_graph().toposorted_asset_keys
        assets = [k.to_user_string() for k in graph_order if k in EPISODE_ASSET_KEYS]  # each asset's inputs made by an earlier process
        if name == "long120":
            assets = [a for a in assets if a in LONG120_ASSETS]
        rows = []
        for asset in assets:
            rc, took, rss, err = peak_rss(cli + ["materialize", "--episode", name, "--select", asset, "--force"], env)
            rows.append({"asset": asset, "exit": rc, "seconds": round(took, 1), "peak_rss_gb": round(rss / 2**30, 3),
                         **({"error": err} if rc else {})})
            print(f"{name:8s} {asset:22s} exit {rc}  {took:6.1f} s  peak RSS {rss / 2**30:5.2f} GB", flush=True)
        worst = max(rows, key=lambda r: r["peak_rss_gb"])
        results[name] = {"audio_minutes": seconds / 60, "assets": rows, "heaviest": worst["asset"], "heaviest_peak_rss_gb": worst["peak_rss_gb"],
                         "all_ok": all(r["exit"] == 0 for r in rows)}
        print(f"{name}: heaviest {worst['asset']} at {worst['peak_rss_gb']:.2f} GB (target < {TARGET_GB} GB)", flush=True)
    summary = {"target_gb": TARGET_GB, "cpus": os.cpu_count(), "inputs": results,
               "note": "peak RSS of the whole CLI process (Python, torch, Dagster included), one asset per process"}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    ok = all(r["all_ok"] and r["heaviest_peak_rss_gb"] < TARGET_GB for r in results.values())
    print(f"{'within' if ok else 'NOT within'} the {TARGET_GB} GB budget; results in {args.output}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
