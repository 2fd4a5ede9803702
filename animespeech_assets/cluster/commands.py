"""``animespeech cluster up|status|down`` and ``animespeech backfill``."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from animespeech_assets.cluster import services
from animespeech_assets.cluster.services import Proc, ServiceError
from animespeech_assets.cluster.settings import ClusterSettings, load_state
from animespeech_assets.core.environment import PROJECT_ROOT, ensure_dagster_home
from animespeech_assets.core.layout import DATA_DIR_ENV, DataLayout


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def running(home: Path) -> tuple[ClusterSettings, list[Proc]] | None:
    state = load_state(home)
    if state is None:
        return None
    return ClusterSettings.from_json(state["settings"]), [Proc(**p) for p in state["processes"]]


def _save(settings: ClusterSettings, procs: list[Proc]) -> None:
    services.write_state(settings.state_file, {"settings": settings.to_json(), "processes": [p.to_json() for p in procs]})


def up(settings: ClusterSettings, layout: DataLayout) -> list[Proc]:
    """Start Postgres, Redis, the workers, the daemon, the UI and the watchdog; stop them all if one fails."""
    if (current := running(settings.home)) is not None:
        if any(p.alive() for p in current[1]):
            raise ServiceError(f"a cluster already runs for {settings.home} (animespeech cluster status; cluster down to stop it)")
        down(settings.home)  # left by a machine that went down: clear it
    for port, what in ((settings.postgres_port, "--postgres-port"), (settings.pooler_port, "--pooler-port"),
                       (settings.redis_port, "--redis-port"), (settings.ui_port, "--ui-port")):
        if services.port_in_use(port):
            raise ServiceError(f"port {port} on 127.0.0.1 is in use: choose another with {what}")
    settings.root.mkdir(parents=True, exist_ok=True)
    logs, procs = settings.root / "logs", []
    env = {**settings.environment(), DATA_DIR_ENV: str(layout.root)}
    try:
        _say(f"cluster: PostgreSQL on 127.0.0.1:{settings.postgres_port} ({settings.root / 'postgres'}), PgBouncer on {settings.pooler_port}")
        procs.append(services.start_postgres(settings.root, settings.postgres_port, logs))
        _save(settings, procs)
        procs.append(services.start_pgbouncer(settings.root, settings.pooler_port, settings.postgres_port, logs))
        _save(settings, procs)
        _say(f"cluster: Redis on 127.0.0.1:{settings.redis_port}")
        procs.append(services.start_redis(settings.root, settings.redis_port, logs))
        _save(settings, procs)
        settings.instance_overlay.write_text(settings.instance_yaml(), encoding="utf-8")
        os.environ.update(settings.environment())
        home = ensure_dagster_home()
        if settings.instance_yaml() not in (home / "dagster.yaml").read_text(encoding="utf-8"):
            raise ServiceError(f"{home / 'dagster.yaml'} is your own: add the storage settings of {settings.instance_overlay} to it, "
                               "or use a DAGSTER_HOME the project manages")
        from animespeech_assets import cli
        from animespeech_assets.ingest.episodes import discover

        # creates the Postgres tables, once, before the daemon, the UI and the workers race to; and registers
        # the episodes already there, so that the new-episode sensor runs only those added later (a fresh
        # storage would otherwise make every episode "new" and run it again: backfill runs what is not current)
        known = cli.register_episodes(cli._instance(), sorted(discover(layout.inputs)))
        _say(f"cluster: {len(known)} episode(s) of {layout.inputs} registered; `animespeech backfill --episodes all` runs what is not up to date")
        for i, name in enumerate(settings.worker_names()):
            queues = settings.worker_queues(i)
            _say(f"cluster: Celery {name} on queues {','.join(queues)}")
            procs.append(services.start(name, [sys.executable, "-m", "celery", "-A", "animespeech_assets.cluster.celery_app", "worker",
                                               "-n", name, "-Q", ",".join(queues), "-c", "1", "--prefetch-multiplier=1", "-l", "INFO",
                                               "--without-mingle", "--without-gossip"], logs, env, cwd=PROJECT_ROOT, queues=queues))
        workspace = str(PROJECT_ROOT / "workspace.yaml")
        procs.append(services.start("daemon", [_bin("dagster-daemon"), "run", "-w", workspace], logs, env, cwd=PROJECT_ROOT))
        procs.append(services.start("webserver", [_bin("dagster-webserver"), "-w", workspace, "-h", "127.0.0.1", "-p", str(settings.ui_port)],
                                    logs, env, cwd=PROJECT_ROOT))
        procs.append(services.start("watchdog", [sys.executable, "-m", "animespeech_assets.cluster.watchdog", str(settings.home)],
                                    logs, env, cwd=PROJECT_ROOT))
        _save(settings, procs)
        _wait_ready(settings, procs)
    except BaseException:
        _say("cluster: stopping what started")
        down(settings.home)
        raise
    return procs


def _wait_ready(settings: ClusterSettings, procs: list[Proc]) -> None:
    from animespeech_assets.cluster.celery_app import app

    by_name = {p.name: p for p in procs}
    names = set(settings.worker_names())
    for name in sorted(names):
        services.wait_until(lambda n=name: bool(app.control.ping(destination=[n], timeout=1.0)), name, by_name[name], timeout=120)
    _say("cluster: workers answer")
    services.wait_until(lambda: _http_ok(settings.ui_url + "/server_info"), f"the Dagster UI on {settings.ui_url}", by_name["webserver"], timeout=180)
    services.wait_until(_daemon_beats, "the Dagster daemon", by_name["daemon"], timeout=180)
    _say("cluster: daemon and UI up")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _daemon_beats() -> bool:
    """The daemon's backfill and run-queue loops have reported in the last minute."""
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        beats = instance.get_daemon_heartbeats()
    fresh = {kind for kind, beat in beats.items() if time.time() - beat.timestamp < 60}
    return {"BACKFILL", "QUEUED_RUN_COORDINATOR"} <= fresh


def down(home: Path) -> list[str]:
    """Stop every process the cluster started (watchdog first, Postgres last); the data stays. Returns their names."""
    current = running(home)
    if current is None:
        return []
    settings, procs = current
    first, last = ["watchdog", "webserver", "daemon"], ["redis", "pgbouncer", "postgres"]  # the workers in between
    procs.sort(key=lambda p: first.index(p.name) if p.name in first else len(first) + 1 + last.index(p.name) if p.name in last else len(first))
    for p in procs:
        services.stop(p)
    settings.instance_overlay.unlink(missing_ok=True)
    settings.state_file.unlink(missing_ok=True)
    ensure_dagster_home()  # back to the project's own instance settings
    return [p.name for p in procs]


def status(home: Path) -> dict:
    current = running(home)
    if current is None:
        return {"running": False, "workers": [], "storage": None, "ui": None}
    settings, procs = current
    os.environ.update(settings.environment())  # the broker and the instance, as the cluster's processes have them
    counts = _steps_started() if any(p.name == "redis" and p.alive() for p in procs) else {}
    workers = [{"name": p.name, "queues": p.queues, "tasks": counts.get(p.name), "alive": p.alive(), "pid": p.pid}
               for p in procs if p.name.startswith("worker-")]
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        storage = getattr(instance.run_storage, "postgres_url", None) or type(instance.run_storage).__name__
    return {"running": True, "workers": workers, "storage": storage, "ui": settings.ui_url, "broker": settings.broker_url,
            "processes": {p.name: {"pid": p.pid, "alive": p.alive(), "log": p.log} for p in procs}}


def _steps_started() -> dict[str, int]:
    from animespeech_assets.cluster import steps
    from animespeech_assets.cluster.celery_app import app

    return steps.started(app)


def cmd_cluster(args, layout: DataLayout) -> int:
    home = ensure_dagster_home()
    if args.action == "up":
        if not 1 <= args.gpu_workers <= args.workers:  # someone must take the gpu queue, on a CPU machine too
            raise ServiceError(f"--workers {args.workers} --gpu-workers {args.gpu_workers}: --gpu-workers must be 1 to --workers")
        settings = ClusterSettings(home, workers=args.workers, gpu_workers=args.gpu_workers, postgres_port=args.postgres_port,
                                   pooler_port=args.pooler_port, redis_port=args.redis_port, ui_port=args.ui_port)
        up(settings, layout)
        print(f"cluster up: {args.workers} worker(s), storage {settings.postgres_url}, UI {settings.ui_url}, logs {settings.root / 'logs'}")
        return 0
    if args.action == "down":
        stopped = down(home)
        print(f"cluster down: stopped {', '.join(stopped)}; data kept in {home}" if stopped else f"no cluster runs for {home}")
        return 0
    report = status(home)
    if args.json:
        print(json.dumps(report, indent=2))
    elif not report["running"]:
        print(f"no cluster runs for {home}")
    else:
        for name, p in report["processes"].items():
            print(f"{name:<24} pid {p['pid']:<8} {'up' if p['alive'] else 'GONE'}")
        for w in report["workers"]:
            print(f"{w['name']:<24} queues {','.join(w['queues']):<12} steps run: {w['tasks'] if w['tasks'] is not None else '?'}")
        print(f"storage {report['storage']}\nUI      {report['ui']}")
    return 0


def cmd_backfill(args, layout: DataLayout) -> int:
    from animespeech_assets import cli
    from animespeech_assets.defs import backfill
    from animespeech_assets.defs.planning import plan_episode, split_current

    episodes = cli.episodes_named(args.episodes, layout)
    if not episodes:
        raise cli.CliError(f"no episodes in {layout.inputs}")
    instance = cli._instance()
    cli.register_episodes(instance, episodes)
    keys = cli._selected_keys(args.select)
    plan = plan_episode(layout, keys, can_build_reference=False)
    if plan.waiting:
        _say(f"note: no reference set yet, so {', '.join(k.to_user_string() for k in plan.waiting)} are left out: "
             "label lines and materialize a labelled episode first")
    if not args.force:  # as `materialize` does: what is current or already running is not run again
        busy = backfill.in_flight(instance, episodes)
        for ep, run_id in sorted(busy.items()):
            _say(f"running already: {ep} (run {run_id}); left out")
        current = [ep for ep in episodes if ep not in busy and not split_current(layout, plan.keys, ep)[0]]
        for ep in current:
            print(f"up to date: {ep} (--force runs it anyway)")
        episodes = [ep for ep in episodes if ep not in busy and ep not in current]
        if not episodes:
            return 0
    if not _daemon_beats():
        _say(f"warning: no Dagster daemon reports for {os.environ['DAGSTER_HOME']}: the backfill waits until one runs "
             "(animespeech cluster up, or animespeech ui)")
    selection = None if plan.keys == keys and not args.select else plan.keys
    backfill_id = backfill.submit(instance, episodes, selection, title=f"animespeech backfill {args.episodes}")
    print(f"backfill {backfill_id}: {len(episodes)} episode(s) of {backfill.JOB}"
          f"{' (' + ', '.join(k.to_user_string() for k in selection) + ')' if selection else ''}: {', '.join(episodes)}")
    if not args.wait:
        return 0
    last = None
    while not (p := backfill.progress(instance, backfill_id)).finished:
        if p.line() != last:
            _say(f"backfill {backfill_id}: {p.line()}")
            last = p.line()
        time.sleep(2)
    _say(f"backfill {backfill_id}: {p.line()}")
    if p.failed:
        print(f"error: backfill {backfill_id} failed for {', '.join(p.failed)} (see the runs in the UI)", file=sys.stderr)
        return 1
    return 0


def add_parsers(sub) -> None:
    s = sub.add_parser("cluster", help="a Dagster deployment on this machine: Postgres storage, Celery workers, daemon and UI")
    s.add_argument("action", choices=["up", "status", "down"])
    d = ClusterSettings
    s.add_argument("--workers", type=int, default=d.workers, help=f"Celery workers (up; default {d.workers})")
    s.add_argument("--gpu-workers", type=int, default=d.gpu_workers, help=f"how many of them also take the gpu queue (up; default {d.gpu_workers})")
    s.add_argument("--postgres-port", type=int, default=d.postgres_port, help=f"default {d.postgres_port}")
    s.add_argument("--pooler-port", type=int, default=d.pooler_port, help=f"PgBouncer, which the instance connects through (default {d.pooler_port})")
    s.add_argument("--redis-port", type=int, default=d.redis_port, help=f"default {d.redis_port}")
    s.add_argument("--ui-port", type=int, default=d.ui_port, help=f"default {d.ui_port}")
    s.add_argument("--json", action="store_true", help="status as JSON")
    s.set_defaults(func=cmd_cluster)

    s = sub.add_parser("backfill", help="submit a Dagster backfill of the per-episode job (the daemon runs it)")
    s.add_argument("--episodes", required=True, help="'all' or comma-separated episode keys")
    s.add_argument("--select", help="per-episode assets to run (default: all that can run)")
    s.add_argument("--wait", action="store_true", help="wait for it, with progress; exit 1 naming failed partitions")
    s.add_argument("--force", action="store_true", help="also episodes that are up to date or running")
    s.set_defaults(func=cmd_backfill)
