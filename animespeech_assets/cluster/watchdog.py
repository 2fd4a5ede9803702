"""The cluster's watchdog: every few seconds, finds the workers that are gone and requeues the steps
they had taken (:mod:`recovery`).

``python -m animespeech_assets.cluster.watchdog HOME`` (started by ``cluster up``) knows the workers by
their pids in HOME's state file, and kills what is left of a dead one's process group.
``python -m animespeech_assets.cluster.watchdog --by-ping`` (deploy/docker-compose.yml, workers on other
machines) counts a worker gone once it has missed three pings in a row.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

from animespeech_assets.cluster import recovery
from animespeech_assets.cluster.services import Proc, kill_group
from animespeech_assets.cluster.settings import load_state

MISSES = 3  # pings a worker may miss in a row before it counts as gone (--by-ping)


def _say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)


def local_workers(home: Path, reported: set[str]) -> set[str] | None:
    """Names of the live workers of HOME's cluster; kills the leftovers of dead ones. None: the cluster is down."""
    state = load_state(home)
    if state is None:
        return None
    workers = [Proc(**p) for p in state["processes"] if p["name"].startswith("worker-")]
    alive = {w.name for w in workers if w.alive()}
    for w in workers:
        if w.name not in alive and w.name not in reported:
            kill_group(w.pid)  # its pool processes, if the leader alone was killed
            reported.add(w.name)
            _say(f"{w.name} (pid {w.pid}) is gone")
    return alive


def pinged_workers(app, seen: set[str], misses: Counter) -> set[str]:
    answered = {name for reply in app.control.ping(timeout=2.0) for name in reply}
    seen |= answered
    for name in seen:
        misses[name] = 0 if name in answered else misses[name] + 1
        if misses[name] == MISSES:
            _say(f"{name} has missed {MISSES} pings: counted as gone")
    return {name for name in seen if misses[name] < MISSES}


def watch(home: Path | None, interval: float = 2.0) -> None:
    from animespeech_assets.cluster.celery_app import app

    reported: set[str] = set()
    seen: set[str] = set()
    misses: Counter = Counter()
    while True:
        alive = local_workers(home, reported) if home else pinged_workers(app, seen, misses)
        if alive is None:
            return
        for lost in recovery.requeue_lost(app, alive):
            _say(f"requeued task {lost.task_id} on {lost.queue!r}: "
                 f"{'started on ' + lost.worker + ', which is gone' if lost.worker else 'delivered, never started'}")
        time.sleep(interval)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m animespeech_assets.cluster.watchdog")
    parser.add_argument("home", nargs="?", type=Path, help="the DAGSTER_HOME of an `animespeech cluster up` cluster")
    parser.add_argument("--by-ping", action="store_true", help="know the workers by Celery pings (workers on other machines)")
    args = parser.parse_args()
    if (args.home is None) == (not args.by_ping):
        parser.error("give HOME or --by-ping")
    watch(args.home)
