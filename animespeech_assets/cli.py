"""The ``animespeech`` command: scan, materialize, lineage, review, demo, ui, cluster, backfill.

Runs go through Dagster with the project's instance ($DAGSTER_HOME, default .dagster_home/),
so everything done here is visible in the UI as well.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from animespeech_assets.cluster import commands as cluster_commands
from animespeech_assets.core.environment import PROJECT_ROOT, configure_caches, ensure_dagster_home
from animespeech_assets.core.layout import DataLayout
from animespeech_assets.provenance import commands as lineage_commands
from animespeech_assets.review_app import commands as review_commands


class CliError(Exception):
    pass


def _instance():
    """The project's Dagster instance. Its storage is created under a file lock: two processes
    starting on a fresh instance would otherwise race creating the SQLite tables (``table
    secondary_indexes already exists``)."""
    import fcntl

    home = ensure_dagster_home()
    from dagster import DagsterInstance

    with open(home / ".instance.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = DagsterInstance.get()
            instance.get_runs(limit=1)  # creates (or migrates) the run, event and schedule storage now
            instance.get_dynamic_partitions("episodes")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance


def _defs():
    from animespeech_assets.definitions import defs

    return defs


def register_episodes(instance, keys: Sequence[str]) -> list[str]:
    from animespeech_assets.defs.partitions import EPISODES

    known = set(instance.get_dynamic_partitions(EPISODES))
    new = sorted(set(keys) - known)
    if new:
        instance.add_dynamic_partitions(EPISODES, new)
    return new


def cmd_scan(args, layout: DataLayout) -> int:
    from animespeech_assets.core.audio import MediaError
    from animespeech_assets.core.textio import TextFileError
    from animespeech_assets.defs.resources import TracksResource
    from animespeech_assets.ingest.episodes import scan

    found, problems = scan(layout.inputs)
    new = register_episodes(_instance(), list(found))
    for key, ep in sorted(found.items()):
        print(f"{key}\t{ep.media.name}\t{'new' if key in new else 'registered'}")
        try:
            plan = TracksResource().plan(ep)
        except (MediaError, TextFileError) as exc:
            problems.append(str(exc))
            continue
        chosen = {plan.audio.track.index, plan.subtitles.track.index if plan.subtitles.track else None}
        for t in plan.tracks:
            print(f"  {'*' if t.index in chosen else ' '} {t.describe()}")
        print(f"    audio: {plan.audio.rule}\n    subtitles: {plan.subtitles.rule}")
    print(f"{len(found)} episode(s), {len(new)} newly registered", file=sys.stderr)
    for problem in problems:  # last: the lines a person reads
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _selected_keys(select: str | None, job_keys: list | None = None):
    """The keys of ``job_keys`` (default: the per-episode assets) that ``select`` names (default: all)."""
    import dagster as dg

    from animespeech_assets.defs.jobs import EPISODE_ASSET_KEYS

    job_keys = EPISODE_ASSET_KEYS if job_keys is None else job_keys
    if not select:
        return list(job_keys)
    names = [s.strip() for s in select.split(",") if s.strip()]
    if all(n.replace("_", "").replace("/", "").isalnum() for n in names):
        selection = dg.AssetSelection.assets(*names)
    else:  # Dagster's selection syntax, e.g. "key:transcript+"
        selection = dg.AssetSelection.from_string(select)
    graph = _defs().resolve_asset_graph()
    try:
        keys = selection.resolve(graph)
    except Exception as exc:  # Dagster raises on unknown keys
        raise CliError(f"--select {select!r}: {exc}") from exc
    return [k for k in job_keys if k in keys]


def _run(job_name: str, instance, keys, partition: str | None = None, force: bool = False) -> list[str]:
    from animespeech_assets.defs.execute import run_assets

    return run_assets(_defs(), job_name, instance, keys, partition, force)


def prepare_shared(instance, layout: DataLayout) -> set[tuple[str, str]]:
    """Bring the reference set up to date: embed every labelled episode whose embeddings are missing
    or out of date, then rebuild the reference set if its inputs changed. Returns the (asset, episode) pairs done.
    (``--force`` is for the selected assets: these run only when they are not current.)"""
    from animespeech_assets.defs.jobs import SHARED_ASSET_KEYS, UNLABELLED_ASSET_KEYS
    from animespeech_assets.defs.planning import episodes_to_embed_first, reference_is_current
    from animespeech_assets.ingest.episodes import discover

    done: set[tuple[str, str]] = set()
    for episode in episodes_to_embed_first(layout, set(discover(layout.inputs))):
        register_episodes(instance, [episode])
        done |= {(name, episode) for name in _run("episode_job", instance, UNLABELLED_ASSET_KEYS, episode)}
    if not reference_is_current(layout):
        done |= {(name, "") for name in _run("shared_job", instance, SHARED_ASSET_KEYS, force=True)}  # current: decided here
    return done


def episodes_named(spec: str, layout: DataLayout) -> list[str]:
    """``all`` (every episode in data/inputs/) or comma-separated episode keys, each checked."""
    from animespeech_assets.core.naming import check_key
    from animespeech_assets.ingest.episodes import discover, find_episode

    if spec == "all":
        return sorted(discover(layout.inputs))
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in keys:
        check_key(key)
        find_episode(layout.inputs, key)  # clear error before starting a run
    return keys


def materialize_episodes(episodes: Sequence[str], select: str | None = None, force: bool = False) -> None:
    """Register the episodes if needed and run the selected per-episode assets of each, bringing the
    shared (non-partitioned) assets they read up to date first (as the run planner says). What is
    up to date is skipped unless ``force``."""
    from animespeech_assets.defs.planning import plan_episode

    layout = DataLayout.from_env()
    instance = _instance()
    register_episodes(instance, episodes)
    plan = plan_episode(layout, _selected_keys(select), can_build_reference=True)
    if plan.waiting:
        print(
            f"note: no labels yet, so {', '.join(k.to_user_string() for k in plan.waiting)} cannot run: label a few lines per "
            f"character in {layout.annotations}/<episode>.csv (columns start,end,character or line_id,character) and run again",
            file=sys.stderr,
        )
    for episode in episodes:
        done = set(_run("episode_job", instance, plan.first, episode, force)) if plan.first else set()
        if plan.then:
            # other labelled episodes' embeddings and the reference set, then what reads it
            done |= {name for name, ep in prepare_shared(instance, layout) if ep == episode}
            rest = [k for k in plan.then if k.to_user_string() not in done]
            if rest:
                _run("episode_job", instance, rest, episode, force)


def materialize_characters(keys: Sequence[str] | None = None, select: str | None = None, force: bool = False) -> None:
    """Run the per-character assets (datasets, adapter, TTS samples) for ``keys`` (default: every
    registered character)."""
    from animespeech_assets.defs.jobs import CHARACTER_ASSET_KEYS
    from animespeech_assets.defs.partitions import CHARACTERS

    instance = _instance()
    known = instance.get_dynamic_partitions(CHARACTERS)
    selected = _selected_keys(select, CHARACTER_ASSET_KEYS)
    for key in keys or known:
        if key not in known:
            raise CliError(f"unknown character {key!r}; characters of the reference set: {', '.join(known) or 'none yet'}")
        if selected:
            _run("character_job", instance, selected, key, force)


def cmd_materialize(args, layout: DataLayout) -> int:
    if not args.episode and not args.character:
        raise CliError("give --episode EP and/or --character NAME (or --character all)")
    from animespeech_assets.defs.jobs import CHARACTER_ASSET_KEYS, EPISODE_ASSET_KEYS

    if args.select and not _selected_keys(args.select, EPISODE_ASSET_KEYS + CHARACTER_ASSET_KEYS):
        names = ", ".join(k.to_user_string() for k in EPISODE_ASSET_KEYS + CHARACTER_ASSET_KEYS)
        raise CliError(f"--select {args.select!r} names no per-episode or per-character asset ({names})")
    if args.episode:
        materialize_episodes(episodes_named(args.episode, layout), args.select, args.force)
    if args.character:
        materialize_characters(None if args.character == "all" else [args.character], args.select, args.force)
    return 0


def cmd_evaluate(args, layout: DataLayout) -> int:
    """Leave-one-out evaluation of the per-class KNN on the current reference set."""
    import pyarrow.parquet as pq

    from animespeech_assets.speakers import evaluation, knn
    path = layout.asset_file("reference_set")
    if not path.exists():
        raise CliError(f"{path} does not exist: materialize an episode with labels first")
    ks = tuple(int(k) for k in args.k.split(",")) if args.k else evaluation.K_GRID
    report = evaluation.leave_one_out(knn.Reference.from_table(pq.read_table(path)), ks=ks)
    print(evaluation.format_evaluation(report))
    return 0


def start_ui(port: int) -> int:
    cluster = cluster_commands.running(ensure_dagster_home())
    if cluster is not None:  # its daemon and UI already serve this instance
        raise CliError(f"a cluster runs for this DAGSTER_HOME, with its UI on {cluster[0].ui_url} (animespeech cluster down to stop it)")
    cmd = [sys.executable, "-m", "dagster", "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)]
    print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})", flush=True)
    return run_group(cmd, cwd=PROJECT_ROOT)


def run_group(cmd: list[str], cwd: Path) -> int:
    """Run ``cmd`` in its own process group and stop the whole group (``dagster dev`` starts the
    webserver and the daemon as children) when this process is asked to stop, by Ctrl+C or a
    plain ``kill`` of its pid."""
    import signal

    child = subprocess.Popen(cmd, cwd=cwd, start_new_session=True)

    def stop(signum, frame):
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    return child.wait()


def cmd_demo(args, layout: DataLayout) -> int:
    from animespeech_assets.core import install_check

    problems = install_check.problems()
    if problems:
        raise CliError("install check failed:\n  " + "\n  ".join(problems))
    from animespeech_assets.demo.generate import generate_demo
    from animespeech_assets.demo.script import EPISODES

    # on a terminal the progress line redraws; elsewhere (a CI log) a line every 15 s says how far it is
    say = None if sys.stderr.isatty() else (lambda line: print(line, file=sys.stderr, flush=True))
    print(f"demo: making the episodes in {layout.inputs} if missing (Kokoro speech synthesis, a few minutes on a CPU)", file=sys.stderr)
    made = generate_demo(layout, seed=args.seed, force=args.regenerate, log=say)
    print(f"demo episodes in {layout.inputs}: {', '.join(EPISODES)} ({'generated ' + ', '.join(made) if made else 'already there'})")
    materialize_episodes(list(EPISODES))
    materialize_characters()
    if args.no_ui:
        return 0
    return start_ui(args.port)


def cmd_ui(args, layout: DataLayout) -> int:
    return start_ui(args.port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="animespeech", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("scan", help="register the episodes found in data/inputs/ as partitions")
    s.set_defaults(func=cmd_scan)

    s = sub.add_parser("materialize", help="run the per-episode assets of episodes (and of characters)")
    s.add_argument("--episode", help="episode key (the input file's sanitised stem), comma-separated keys, or 'all'")
    s.add_argument("--character", help="also build this character's datasets from all episodes ('all': every character)")
    s.add_argument("--select", help="assets to run: comma-separated names or Dagster selection syntax (default: all of the episode's / character's)")
    s.add_argument("--force", action="store_true", help="run the selected assets even where they are up to date")
    s.set_defaults(func=cmd_materialize)

    lineage_commands.add_parser(sub)
    review_commands.add_parser(sub)
    cluster_commands.add_parsers(sub)

    s = sub.add_parser("evaluate", help="leave-one-out accuracy/precision/coverage of the KNN for a grid of k and thresholds")
    s.add_argument("--k", help="comma-separated k values (default: 1,3,5,7,10,15)")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("demo", help="generate the demo episodes, run every asset on them, start the UI")
    s.add_argument("--no-ui", action="store_true", help="stop after materializing")
    s.add_argument("--port", type=int, default=3000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--regenerate", action="store_true", help="re-make the demo inputs even if present")
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("ui", help="start the Dagster UI (dagster dev) on 127.0.0.1")
    s.add_argument("--port", type=int, default=3000)
    s.set_defaults(func=cmd_ui)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    layout = DataLayout.from_env()
    configure_caches(layout)
    from animespeech_assets.cluster.services import ServiceError
    from animespeech_assets.core.audio import MediaError
    from animespeech_assets.core.naming import EpisodeError
    from animespeech_assets.core.textio import TextFileError
    from animespeech_assets.defs.execute import RunFailed
    from animespeech_assets.provenance.why import WhyError

    try:
        return args.func(args, layout)
    except (CliError, EpisodeError, MediaError, TextFileError, WhyError, RunFailed, ServiceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
