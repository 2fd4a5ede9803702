"""Many episodes: the first materialization, a no-op run over all of them, and the automation ticks.

Makes ``--episodes`` short episodes (30 s cut from the generated demo scene, its subtitles, labels on
the first episode only), materializes every per-episode asset of all of them in one CLI process, then
times, each in a fresh process or call as Dagster makes it:

- ``animespeech materialize --episode all`` when everything is up to date (target: under 30 s for 100);
- one tick of the nightly schedule (``nightly_refinement``), of the new-episodes sensor and of the
  annotations sensor, with every episode registered.

Run: `python -m benchmarks.scale [--episodes 100] [--work DIR]`; results in `benchmarks/results/scale.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.long_episode import LONG_EPISODES, PROJECT, SEED_EPISODE, peak_rss, seed_scene, use_work_folder

RESULTS = Path(__file__).parent / "results"
CLIP_SECONDS = 30.0
NO_OP_TARGET_S = 30.0


def make_episodes(layout, count: int) -> list[str]:
    """``scale000`` ... : the seed scene's first 30 s (one file, hard-linked), its cues; labels on the first.
    The seed scene is the long-episode benchmarks' (made there when missing)."""
    import pysubs2

    from animespeech_assets.core.layout import DataLayout

    seed_layout = DataLayout(LONG_EPISODES / "data")
    seed = seed_scene(seed_layout)
    names = [f"scale{i:03d}" for i in range(count)]
    clip = layout.root / "scale_clip.mkv"
    if not clip.exists():
        clip.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(seed), "-map", "0", "-c", "copy", "-t", f"{CLIP_SECONDS}", str(clip)],
                       check=True)
    subs = pysubs2.load(str(seed.with_suffix(".srt")))
    subs.events = [e for e in subs.events if e.end <= CLIP_SECONDS * 1000]
    layout.inputs.mkdir(parents=True, exist_ok=True)
    for name in names:
        if not (layout.inputs / f"{name}.mkv").exists():
            os.link(clip, layout.inputs / f"{name}.mkv")
            subs.save(str(layout.inputs / f"{name}.srt"), format_="srt")
    labels = layout.annotation_file(names[0])
    if not labels.exists():
        labels.parent.mkdir(parents=True, exist_ok=True)
        rows = [line for line in seed_layout.annotation_file(SEED_EPISODE).read_text(encoding="utf-8").splitlines()
                if line.startswith("start") or float(line.split(",")[1]) <= CLIP_SECONDS]
        labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return names


def tick_seconds() -> dict[str, float]:
    """One evaluation of the nightly schedule and of the sensors, each timed (best of 3)."""
    import dagster as dg

    from animespeech_assets.defs.automation import annotations_sensor, nightly_refinement
    from animespeech_assets.defs.resources import DataResource, TracksResource
    from animespeech_assets.defs.sensors import new_episodes_sensor

    instance = dg.DagsterInstance.get()
    resources = {"data": DataResource(), "tracks": TracksResource()}
    ticks = {
        "nightly_refinement": lambda: nightly_refinement(dg.build_schedule_context(instance=instance, resources=resources)),
        "new_episodes_sensor": lambda: new_episodes_sensor(dg.build_sensor_context(instance=instance, resources=resources)),
        "annotations_sensor": lambda: annotations_sensor(dg.build_sensor_context(instance=instance, resources=resources)),
    }
    out = {}
    for name, tick in ticks.items():
        times, result = [], None
        for _ in range(3):
            start = time.perf_counter()
            result = tick()
            times.append(time.perf_counter() - start)
        out[name] = {"seconds": round(min(times), 3), "result": type(result).__name__,
                     "said": getattr(result, "skip_message", None) or ""}
        print(f"{name}: {min(times):.3f} s ({type(result).__name__}: {out[name]['said'][:90]})", flush=True)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--work", type=Path, default=PROJECT / "data" / "cache" / "benchmarks" / "scale")
    p.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = p.parse_args()
    if args.work.exists() and not (args.work / "data" / "inputs").exists():
        shutil.rmtree(args.work)
    layout = use_work_folder(args.work)
    names = make_episodes(layout, args.episodes)
    cli = [sys.executable, "-m", "animespeech_assets.cli", "materialize", "--episode", "all"]
    print(f"{len(names)} episodes of {CLIP_SECONDS:g} s; materializing what is not up to date ...", flush=True)
    start = time.monotonic()
    proc = subprocess.run(cli, cwd=PROJECT, capture_output=True, text=True)
    first = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"materialize --episode all failed:\n{proc.stderr[-3000:]}")
    ran = proc.stdout.count("materialized ")
    print(f"first run: {first:.1f} s, {ran} assets materialized", flush=True)
    rc, no_op, rss, err = peak_rss(cli, dict(os.environ))
    if rc:
        raise SystemExit(f"the no-op run failed:\n{err}")
    again = subprocess.run(cli, cwd=PROJECT, capture_output=True, text=True)
    up_to_date = again.stdout.count("up to date: ")
    rerun = again.stdout.count("materialized ")
    print(f"no-op run over {len(names)} episodes: {no_op:.1f} s (target < {NO_OP_TARGET_S:g} s), peak RSS {rss / 2**30:.2f} GB; "
          f"{up_to_date} assets up to date, {rerun} run again", flush=True)
    ticks = tick_seconds()
    first_run = {"first_run_seconds": round(first, 1), "first_run_assets": ran}
    if not ran and args.output.exists():  # the episodes were made by an earlier run: keep its figure
        earlier = json.loads(args.output.read_text(encoding="utf-8"))
        first_run = {k: earlier[k] for k in first_run if k in earlier}
    summary = {"episodes": len(names), "episode_seconds": CLIP_SECONDS, "cpus": os.cpu_count(), **first_run,
               "no_op_seconds": round(no_op, 2), "no_op_peak_rss_gb": round(rss / 2**30, 3), "no_op_up_to_date": up_to_date,
               "no_op_rerun": rerun, "ticks": ticks}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"results in {args.output}")
    return 0 if rerun == 0 and no_op < NO_OP_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
