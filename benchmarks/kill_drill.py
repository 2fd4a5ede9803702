"""Kill drill: `kill -9` a `materialize` run at random moments; nothing partial, nothing lost.

With the project's `dagster.yaml` in force (its `gpu` pool limit included), one generated episode with
labels is materialized once through the CLI to time a whole run; then, N times, a fresh
`animespeech materialize --episode drill` is killed with SIGKILL at a random moment of such a run,
and the drill checks:

- nothing at a final path is partial: every Parquet, WAV/FLAC, JSON/JSONL, NPY, CSV and PNG file in
  the pipeline's folders reads back whole;
- no current lineage record points to a missing file or one with another content hash;
- the next run completes (the killed run's `gpu` slot does not block it; it is marked failed) and
  afterwards `lineage verify` is clean: no temporary file the killed run left, no orphan.

Run: `python -m benchmarks.kill_drill [--kills 20] [--seed 0] [--work DIR]`; results in
`benchmarks/results/kill_drill.json`. Exit status 1 when any kill broke a promise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
EPISODE = "drill"


def unreadable(path: Path) -> str | None:
    """Why ``path`` does not read back whole (None when it does)."""
    import numpy as np
    import pyarrow.parquet as pq
    import soundfile as sf

    try:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            pq.read_table(path)
        elif suffix in (".wav", ".flac"):
            sf.read(path)
        elif suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                json.loads(line)
        elif suffix == ".npy":
            np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
        elif suffix == ".png":
            data = path.read_bytes()
            if not (data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")):
                return "not a whole PNG"
    except Exception as exc:  # any failure to read is the finding
        return f"{type(exc).__name__}: {exc}"
    return None


def check(layout) -> dict:
    """Partial files and lineage problems in ``layout`` (a run may have been killed)."""
    from animespeech_assets.provenance.verify import PIPELINE_FOLDERS, verify

    report = verify(layout)
    partial, checked = [], 0
    temporary = set(report.temporary)
    for folder in PIPELINE_FOLDERS:
        for path in sorted((layout.root / folder).rglob("*")):
            if not path.is_file() or any(t == path or t in path.parents for t in temporary):
                continue
            checked += 1
            why = unreadable(path)
            if why:
                partial.append(f"{path}: {why}")
    return {"files_checked": checked, "partial": partial, "missing": report.missing, "changed": report.changed,
            "temporary_left": len(report.temporary), "orphans": [str(p) for p in report.orphans], "records": report.records}


def runs(home: Path) -> list:
    import dagster as dg

    return dg.DagsterInstance.from_config(str(home)).get_runs()  # newest first


def running_step(home: Path, before: set[str]) -> str:
    """What the killed process was doing: the steps its newest run had started and not ended."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    new = [r for r in instance.get_runs() if r.run_id not in before]
    if not new:
        return "start-up (no run yet)"
    started, ended = [], set()
    for event in instance.all_logs(new[0].run_id):
        kind = event.dagster_event.event_type_value if event.dagster_event else None
        if kind == "STEP_START":
            started.append(event.step_key)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            ended.add(event.step_key)
    open_steps = [s for s in started if s not in ended]
    return f"{new[0].job_name}: {', '.join(open_steps) or 'between steps'}"


def step_started(home: Path, before: set[str], step: str) -> bool:
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    return any(e.step_key == step for r in instance.get_runs() if r.run_id not in before
               for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.STEP_START))


def materialize(env: dict, kill_after: float | None = None, during: str | None = None, home: Path | None = None,
                before: set[str] = frozenset()) -> tuple[int, float, str]:
    """Run `materialize`; SIGKILL it ``kill_after`` seconds in, or just after step ``during`` started."""
    cmd = [sys.executable, "-m", "animespeech_assets.cli", "materialize", "--episode", EPISODE, "--force"]  # every run does all the work
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    while during and proc.poll() is None:
        if step_started(home, before, during):
            time.sleep(0.3)  # inside the step's work
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.1)
    _, err = proc.communicate()
    return proc.returncode, time.monotonic() - start, err


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--during", help="comma-separated steps: kill each run just after that step started (instead of at random moments)")
    p.add_argument("--work", type=Path, help="working folder (default: a new temporary one, removed afterwards)")
    p.add_argument("--output", type=Path, default=RESULTS / "kill_drill.json")
    args = p.parse_args()

    from animespeech_assets.core.environment import configure_caches
    from animespeech_assets.core.layout import DataLayout
    from animespeech_assets.demo.generate import generate_episode
    from animespeech_assets.demo.script import EPISODES

    work = args.work or Path(tempfile.mkdtemp(prefix="kill_drill."))
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT / "dagster.yaml", home / "dagster.yaml")  # the project's pool limits in force
    configure_caches(DataLayout(PROJECT / "data"))  # the project's model caches, shared with the drill's runs
    os.environ.update({"ANIMESPEECH_DATA_DIR": str(work / "data"), "DAGSTER_HOME": str(home)})
    env = dict(os.environ)
    layout = DataLayout.from_env()
    if not (layout.inputs / f"{EPISODE}.mkv").exists():
        print("generating the drill episode (one scene, labels) ...", flush=True)
        generate_episode(layout, EPISODE, EPISODES["demo_ep01"][:1], seed=args.seed, labels=3)
    for _ in range(2):  # the second run is the one timed: the first one also fills model caches
        rc, whole, err = materialize(env)
        if rc != 0:
            print(err[-3000:], file=sys.stderr)
            raise SystemExit(f"an unkilled run failed with exit status {rc}")
    rng = random.Random(args.seed)
    # each kill: (seconds after the start, None) or (None, the step whose start triggers it)
    plan = [(None, step) for step in args.during.split(",")] if args.during else [(rng.uniform(0.5, whole), None) for _ in range(args.kills)]
    print(f"a whole run takes {whole:.1f} s; killing {len(plan)} runs", flush=True)
    kills = []
    for n, (at, during) in enumerate(plan):
        before = {r.run_id for r in runs(home)}
        rc_killed, at, _ = materialize(env, kill_after=at, during=during, home=home, before=before)
        step = running_step(home, before)
        after_kill = check(layout)
        rc_next, took, err = materialize(env)
        after_next = check(layout)
        left_started = [r.run_id for r in runs(home) if r.run_id not in before and r.status.value in ("STARTED", "STARTING", "NOT_STARTED")]
        ok = (not after_kill["partial"] and not after_kill["missing"] and not after_kill["changed"] and rc_next == 0 and not left_started
              and not any(after_next[k] for k in ("partial", "missing", "changed", "temporary_left", "orphans")))
        kills.append({"kill_at_s": round(at, 2), "killed": rc_killed == -signal.SIGKILL, "running": step, "after_kill": after_kill,
                      "next_run_exit": rc_next, "next_run_s": round(took, 1), "after_next_run": after_next,
                      "killed_runs_left_started": left_started, "ok": ok, **({"next_run_error": err[-2000:]} if rc_next else {})})
        print(f"kill {n + 1:2d}/{len(plan)} at {at:5.1f} s ({step}): {after_kill['files_checked']} files, "
              f"{len(after_kill['partial'])} partial, {len(after_kill['missing']) + len(after_kill['changed'])} lineage problems, "
              f"{after_kill['temporary_left']} temporaries left; next run exit {rc_next} in {took:.1f} s, "
              f"verify {'clean' if not any(after_next[k] for k in ('missing', 'changed', 'temporary_left', 'orphans')) else 'NOT clean'}"
              f" -> {'ok' if ok else 'BROKEN'}", flush=True)
    summary = {"kills": len(kills), "ok": sum(k["ok"] for k in kills), "killed_mid_run": sum(k["killed"] for k in kills),
               "whole_run_s": round(whole, 1), "seed": args.seed, "cpus": os.cpu_count(), "runs": kills}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{summary['ok']}/{summary['kills']} kills with nothing partial, nothing lost and a clean verify after the next run "
          f"({summary['killed_mid_run']} killed mid-run); results in {args.output}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if summary["ok"] == summary["kills"] else 1


if __name__ == "__main__":
    sys.exit(main())
