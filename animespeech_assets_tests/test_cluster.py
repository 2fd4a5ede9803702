"""The many-worker deployment for real: Debian's PostgreSQL and Redis, two Celery workers, the Dagster
daemon and UI, started by ``animespeech cluster up``; a backfill of three episodes through the daemon
while one worker is killed mid-step (SIGKILL to its whole process group)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from animespeech_assets.cluster.commands import running
from animespeech_assets.cluster.services import group_members
from animespeech_assets.core.lineage import Ledger

from .conftest import free_port, write_tone_episode

EPISODES = ["ep1", "ep2", "ep3"]
UNLABELLED = ["episode_audio", "transcript", "speaker_embeddings"]  # no labels: what a backfill can run


def cli(*args, timeout=300, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "animespeech_assets.cli", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode:
        pytest.fail(f"animespeech {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture
def cluster_home(layout, monkeypatch):
    # PostgreSQL runs as the postgres user, which must be able to enter the home (pytest's tmp_path is 0700)
    home = Path(tempfile.mkdtemp(prefix="animespeech-cluster-"))
    home.chmod(0o755)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home
    cli("cluster", "down", check=False)
    shutil.rmtree(home, ignore_errors=True)


def _step_of(task: dict) -> str | None:
    args = task.get("kwargs", {}).get("execute_step_args_packed", {})
    keys = args.get("step_keys_to_execute") if isinstance(args, dict) else None
    return keys[0] if keys else None


def test_backfill_on_two_workers_survives_killing_one_mid_step(layout, cluster_home):
    for ep in EPISODES:
        write_tone_episode(layout, ep, spoken=True)
    ports = {"--postgres-port": free_port(), "--pooler-port": free_port(), "--redis-port": free_port(), "--ui-port": free_port()}
    cli("cluster", "up", "--workers", "2", "--gpu-workers", "2", *[str(x) for kv in ports.items() for x in kv])
    status = json.loads(cli("cluster", "status", "--json").stdout)
    assert status["storage"].startswith("postgresql") and status["ui"] == f"http://127.0.0.1:{ports['--ui-port']}"
    assert [(w["name"], w["queues"], w["alive"]) for w in status["workers"]] == [
        ("worker-1@animespeech", ["dagster", "gpu"], True), ("worker-2@animespeech", ["dagster", "gpu"], True)]
    pids = {name: p["pid"] for name, p in status["processes"].items()}
    assert set(pids) == {"postgres", "pgbouncer", "redis", "worker-1@animespeech", "worker-2@animespeech", "daemon", "webserver", "watchdog"}

    submitted = cli("backfill", "--episodes", ",".join(EPISODES))
    backfill_id = submitted.stdout.split()[1].rstrip(":")

    # kill the worker that runs a speaker_embeddings step (the longest: it loads the encoder), mid-step
    os.environ.update(running(cluster_home)[0].environment())  # the broker, as the workers have it
    from animespeech_assets.cluster.celery_app import app

    victim, deadline = None, time.time() + 240
    while victim is None and time.time() < deadline:
        for worker, tasks in (app.control.inspect(timeout=0.5).active() or {}).items():
            embedding = [t for t in tasks if _step_of(t) == "speaker_embeddings"]
            if embedding:
                victim, killed_task = worker, embedding[0]["id"]
                os.killpg(pids[worker], signal.SIGKILL)
                break
    assert victim, "no worker ran a speaker_embeddings step within 240 s"

    from dagster import DagsterInstance

    from animespeech_assets.defs import backfill

    with DagsterInstance.get() as instance:
        deadline = time.time() + 360
        while not (progress := backfill.progress(instance, backfill_id)).finished and time.time() < deadline:
            time.sleep(2)
        assert progress.finished, progress.line()
        assert progress.by_partition == dict.fromkeys(EPISODES, "SUCCESS")
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"

    # the watchdog put the dead worker's step back; the other worker ran it to the end
    survivor = next(w for w in pids if w.startswith("worker-") and w != victim)
    watchdog_log = (cluster_home / "cluster" / "logs" / "watchdog.log").read_text()
    assert f"requeued task {killed_task} on 'gpu': started on {victim}, which is gone" in watchdog_log
    assert f"Task execute_plan[{killed_task}] succeeded" in (cluster_home / "cluster" / "logs" / f"{survivor.split('@')[0]}.log").read_text()

    # every asset of every partition materialized exactly once, and the lineage is whole
    counts = Counter((r["asset"], r["partition"]) for r in Ledger(layout.lineage).records())
    assert counts == Counter({(a, ep): 1 for a in UNLABELLED for ep in EPISODES})
    assert "clean" in cli("lineage", "verify").stdout

    status = json.loads(cli("cluster", "status", "--json").stdout)
    by_name = {w["name"]: w for w in status["workers"]}
    assert by_name[victim]["alive"] is False and by_name[victim]["tasks"] >= 1  # it counted the step it died in
    assert by_name[survivor]["alive"] is True and by_name[survivor]["tasks"] >= 2
    assert sum(w["tasks"] for w in status["workers"]) == len(EPISODES) * len(UNLABELLED) + 1  # each step once, the killed one twice

    # a second backfill finds everything up to date and submits nothing
    assert cli("backfill", "--episodes", "all").stdout.count("up to date:") == len(EPISODES)

    cli("cluster", "down")
    left = [p for pid in pids.values() for p in group_members(pid)]
    assert left == [] and all(not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE for pid in pids.values())
    assert not (cluster_home / "cluster" / "cluster.json").exists()
    assert "postgres" not in (cluster_home / "dagster.yaml").read_text()
    assert (cluster_home / "cluster" / "postgres" / "PG_VERSION").exists()  # the data stays
