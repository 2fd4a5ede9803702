"""Peak memory of each per-episode asset on a 24-minute episode, and on a 2-hour input.

The long inputs are one generated demo scene looped to 24 minutes and to 2 hours
(`benchmarks/long_episode.py`). Each asset is then materialized through the CLI in a fresh process
(`animespeech materialize --episode E --select ASSET`, as a user runs it), and the process's peak
resident memory is read from the kernel (`wait4`'s `ru_maxrss`: it includes Python, torch and Dagster
themselves). Target: every per-episode asset under 3 GB on the 24-minute episode; the 2-hour input
must not exhaust memory. Run: `python -m benchmarks.episode_memory [--work DIR]`; results in
`benchmarks/results/episode_memory.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmarks.long_episode import LONG_EPISODES, long_episode, peak_rss, use_work_folder

RESULTS = Path(__file__).parent / "results"
TARGET_GB = 3.0
LONG_INPUTS = {"long24": 24 * 60, "long120": 120 * 60}
# the 2-hour input: the assets whose memory grows with the audio's length (the rest read Parquet tables)
LONG120_ASSETS = ("episode_audio", "transcript", "speaker_embeddings")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=LONG_EPISODES)
    p.add_argument("--output", type=Path, default=RESULTS / "episode_memory.json")
    p.add_argument("--skip-2h", action="store_true", help="only the 24-minute episode")
    args = p.parse_args()

    layout = use_work_folder(args.work)
    from animespeech_assets.definitions import defs
    from animespeech_assets.defs.jobs import EPISODE_ASSET_KEYS

    inputs = {name: secs for name, secs in LONG_INPUTS.items() if not (args.skip_2h and name == "long120")}
    for name, seconds in inputs.items():
        long_episode(layout, name, seconds)
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
