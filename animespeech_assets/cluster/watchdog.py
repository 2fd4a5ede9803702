"""The cluster's watchdog (started by ``cluster up``): every few seconds, finds the workers whose
process is gone, kills what is left of their process group, requeues their steps
(:mod:`recovery`), and keeps each worker's step count for ``cluster status``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from animespeech_assets.cluster import recovery
from animespeech_assets.cluster.services import Proc, kill_group, write_state
from animespeech_assets.cluster.settings import ClusterSettings, load_state


def step_counts(app, names: list[str], timeout: float = 1.0) -> dict[str, int]:
    """Steps each answering worker has run since it started (Celery's own count)."""
    if not names:
        return {}
    stats = app.control.inspect(destination=names, timeout=timeout).stats() or {}
    return {name: int(s.get("total", {}).get("execute_plan", 0)) for name, s in stats.items()}


def watch(home: Path, interval: float = 2.0) -> None:
    from animespeech_assets.cluster.celery_app import app

    counts_file = ClusterSettings(home).root / "steps.json"
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}
    dead_seen: set[str] = set()
    while (state := load_state(home)) is not None:
        workers = [Proc(**p) for p in state["processes"] if p["name"].startswith("worker-")]
        alive = {w.name for w in workers if w.alive()}
        for w in workers:
            if w.name not in alive and w.name not in dead_seen:
                kill_group(w.pid)  # its pool processes, if the leader alone was killed
                dead_seen.add(w.name)
                print(f"{time.strftime('%H:%M:%S')} {w.name} (pid {w.pid}) is gone", flush=True)
        for lost in recovery.requeue_lost(app, alive):
            print(f"{time.strftime('%H:%M:%S')} requeued task {lost.task_id} on {lost.queue!r}: "
                  f"{'started on ' + lost.worker + ', which is gone' if lost.worker else 'delivered, never started'}", flush=True)
        fresh = step_counts(app, sorted(alive))
        if any(counts.get(k) != v for k, v in fresh.items()):
            counts.update(fresh)
            write_state(counts_file, counts)
        time.sleep(interval)


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
