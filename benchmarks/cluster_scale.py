"""The cluster at scale: the new-episode sensor registering 1,000 episodes, the no-op sensor and
automation ticks with 1,000 partitions (each on SQLite, the one-machine instance, on PostgreSQL
directly, and on PostgreSQL behind PgBouncer as ``cluster up`` runs it), and the throughput of a
backfill with 1 and with 2 Celery workers.

The episodes are the 30 s speech clips of ``benchmarks.scale`` (one file, hard-linked). Targets:
registering 1,000 in under 5 s; a no-op tick with 1,000 in under 2 s.

Run: `python -m benchmarks.cluster_scale [--partitions 1000] [--episodes 5]`; results in
`benchmarks/results/cluster_scale.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from animespeech_assets.cluster.services import group_members
from animespeech_assets.core.lineage import Ledger
from benchmarks.long_episode import PROJECT, use_work_folder
from benchmarks.scale import make_episodes

RESULTS = Path(__file__).parent / "results"
REGISTER_TARGET_S, TICK_TARGET_S = 5.0, 2.0


def _best(fn, times: int = 3) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(times):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def partition_figures(count: int, storage: str, work: Path) -> dict:
    """One tick of the new-episodes sensor that finds ``count`` new episodes (registering them as Dagster
    does with its result), then no-op ticks of it and of the automation conditions, timed."""
    import dagster as dg

    from animespeech_assets.definitions import defs
    from animespeech_assets.defs.resources import DataResource, TracksResource
    from animespeech_assets.defs.sensors import new_episodes_sensor

    instance = dg.DagsterInstance.get()
    resources = {"data": DataResource(), "tracks": TracksResource()}
    start = time.perf_counter()
    result = new_episodes_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    evaluated = time.perf_counter() - start
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    registered = time.perf_counter() - start
    assert len(instance.get_dynamic_partitions("episodes")) >= count
    no_op, skip = _best(lambda: new_episodes_sensor(dg.build_sensor_context(instance=instance, resources=resources)))
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor  # the first tick builds the cursor
    automation, _ = _best(lambda: dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor))
    out = {"storage": storage, "partitions": count, "sensor_finds_and_requests_s": round(evaluated, 3),
           "register_s": round(registered, 3), "run_requests": len(result.run_requests),
           "no_op_sensor_tick_s": round(no_op, 3), "no_op_said": skip.skip_message, "automation_tick_s": round(automation, 3)}
    print(f"{storage}: sensor finds {count} new episodes and registers them in {registered:.2f} s (target < {REGISTER_TARGET_S:g}); "
          f"no-op sensor tick {no_op:.3f} s, automation tick {automation:.3f} s (target < {TICK_TARGET_S:g})", flush=True)
    return out


def daemon_ticks(count: int, timeout: float = 420.0) -> list[float]:
    """Durations of the first ``count`` ticks of ``automation_sensor`` in a real ``dagster-daemon``
    (the first one evaluates every condition from scratch), read from the instance's tick records."""
    import dagster as dg
    from dagster._core.scheduler.instigation import TickStatus

    from animespeech_assets.defs.backfill import remote_repository

    instance = dg.DagsterInstance.get()
    with remote_repository(instance) as repo:
        sensor = repo.get_sensor("automation_sensor")
        origin_id, selector_id = sensor.get_remote_origin_id(), sensor.selector_id
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(PROJECT / "workspace.yaml")],
                              cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [t for t in instance.get_ticks(origin_id, selector_id, limit=count + 2)
                    if t.status in (TickStatus.SKIPPED, TickStatus.SUCCESS) and t.end_timestamp]
            if len(done) >= count:
                return [round(t.end_timestamp - t.timestamp, 3) for t in sorted(done, key=lambda t: t.timestamp)][:count]
            time.sleep(2)
        raise SystemExit(f"the daemon ticked automation_sensor fewer than {count} times in {timeout:.0f} s")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(60)


def throughput(workers: int, episodes: int, seed_inputs: Path) -> dict:
    """A backfill of ``episodes`` clips (decode, transcript, embeddings) on a fresh cluster of ``workers``."""
    home = Path(tempfile.mkdtemp(prefix="animespeech-bench-"))
    home.chmod(0o755)
    layout = use_work_folder(home)
    layout.inputs.mkdir(parents=True)
    for f in sorted(seed_inputs.iterdir())[: 2 * episodes]:
        os.link(f, layout.inputs / f.name)
    cli = [sys.executable, "-m", "animespeech_assets.cli"]
    env = dict(os.environ)
    status: dict = {}
    try:
        subprocess.run([*cli, "cluster", "up", "--workers", str(workers), "--gpu-workers", str(workers)], check=True, env=env, cwd=PROJECT)
        start = time.monotonic()
        done = subprocess.run([*cli, "backfill", "--episodes", "all", "--wait"], env=env, cwd=PROJECT, capture_output=True, text=True)
        seconds = time.monotonic() - start
        status = json.loads(subprocess.run([*cli, "cluster", "status", "--json"], env=env, cwd=PROJECT, capture_output=True, text=True).stdout)
        records = Ledger(layout.lineage).records()
    finally:
        subprocess.run([*cli, "cluster", "down"], env=env, cwd=PROJECT)
        left = [p.pid for proc in status.get("processes", {}).values() for p in group_members(proc["pid"])]
        shutil.rmtree(home, ignore_errors=True)
    if done.returncode:
        raise SystemExit(f"the backfill failed:\n{done.stderr[-3000:]}")
    steps = {w["name"]: w["tasks"] for w in status["workers"]}
    partitions = sorted({r["partition"] for r in records})
    print(f"{workers} worker(s): {episodes} episodes in {seconds:.1f} s ({episodes / seconds * 60:.1f} episodes/min); steps by worker {steps}; "
          f"{len(records)} assets of {len(partitions)} episodes materialized; storage {status['storage']}; processes left after down: {left}", flush=True)
    return {"workers": workers, "episodes": episodes, "seconds": round(seconds, 1), "episodes_per_minute": round(episodes / seconds * 60, 2),
            "steps_by_worker": steps, "storage": status["storage"], "materialized": len(records), "episodes_materialized": len(partitions),
            "processes_left_after_down": left}


def with_postgres(pooled: bool) -> list:
    """A PostgreSQL of the cluster's kind (services.start_postgres), behind PgBouncer if ``pooled`` (as
    ``cluster up`` runs it), for the partition figures; without the daemon, whose sensor would register
    the episodes itself. Returns the processes started."""
    from animespeech_assets.cluster import services
    from animespeech_assets.cluster.settings import ClusterSettings
    from animespeech_assets.core.environment import ensure_dagster_home

    settings = ClusterSettings(Path(os.environ["DAGSTER_HOME"]), postgres_port=15499, pooler_port=16499)
    procs = [services.start_postgres(settings.root, settings.postgres_port, settings.root / "logs")]
    if pooled:
        procs.append(services.start_pgbouncer(settings.root, settings.pooler_port, settings.postgres_port, settings.root / "logs"))
    url = settings.postgres_url if pooled else settings.postgres_url.replace(f":{settings.pooler_port}/", f":{settings.postgres_port}/")
    settings.instance_overlay.write_text(settings.instance_yaml().replace(settings.postgres_url, url), encoding="utf-8")
    ensure_dagster_home()
    return procs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--partitions", type=int, default=1000)
    p.add_argument("--episodes", type=int, default=5, help="episodes in each throughput backfill")
    # under the temporary folder: PostgreSQL (run as the postgres user) must be able to enter every folder above it
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "animespeech-cluster-scale")
    p.add_argument("--output", type=Path, default=RESULTS / "cluster_scale.json")
    p.add_argument("--part", choices=["all", "partitions", "backfill"], default="all")
    args = p.parse_args()
    warnings.filterwarnings("ignore", category=Warning, module="dagster")  # the automation tester's beta notices
    from animespeech_assets.cluster import services

    summary = json.loads(args.output.read_text(encoding="utf-8")) if args.part != "all" and args.output.exists() else {}
    summary["cpus"] = os.cpu_count()
    if args.part in ("all", "partitions"):
        summary["partitions"] = []
        for storage in ("sqlite", "postgres", "postgres+pgbouncer"):
            work = args.work / storage
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            for folder in (args.work, work):
                folder.chmod(0o755)
            layout = use_work_folder(work)
            make_episodes(layout, args.partitions)
            layout.annotation_file("scale000").unlink()  # no labels: the daemon's sensors request no run
            procs = with_postgres(pooled=storage.endswith("pgbouncer")) if storage != "sqlite" else []
            try:
                figures = partition_figures(args.partitions, storage, work)
                if storage != "postgres":
                    figures["daemon_automation_ticks_s"] = ticks = daemon_ticks(3)
                    print(f"{storage}: the daemon's automation ticks took {ticks} s (the first evaluates from scratch)", flush=True)
                summary["partitions"].append(figures)
            finally:
                for proc in reversed(procs):
                    services.stop(proc)
    if args.part in ("all", "backfill"):
        seeds = args.work / "seeds"
        if not (seeds / "data" / "inputs").exists():
            make_episodes(use_work_folder(seeds), args.episodes)
        runs = [throughput(n, args.episodes, seeds / "data" / "inputs") for n in (1, 2)]
        summary.update(backfill=runs, speedup_2_workers=round(runs[0]["seconds"] / runs[1]["seconds"], 2))
        print(f"2 workers: {summary['speedup_2_workers']}x the throughput of 1")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(f"results in {args.output}")
    ok = all(f["register_s"] < REGISTER_TARGET_S and max(f["no_op_sensor_tick_s"], *f["daemon_automation_ticks_s"][1:]) < TICK_TARGET_S
             for f in summary.get("partitions", []) if "daemon_automation_ticks_s" in f)  # direct Postgres: for comparison only
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
