"""Starting, checking and stopping the cluster's processes (no Dagster import).

Each process runs in its own process group with its output in ``<cluster>/logs/<name>.log``; the
state file records its pid so that ``status`` and ``down`` find it from any shell. Postgres and Redis
are Debian's (``postgresql``, ``redis-server``); Postgres refuses to run as root, so as root it runs
as the ``postgres`` user, which owns its data folder.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from animespeech_assets.core.processes import process_alive


class ServiceError(Exception):
    """A service that could not start; the message says which and where its log is."""


@dataclass
class Proc:
    name: str
    pid: int
    cmd: list[str]
    log: str
    started: float  # the process's start time: a pid reused by another process does not count as alive
    stop_signal: int = signal.SIGTERM
    queues: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return process_alive(self.pid, self.started)

    def to_json(self) -> dict:
        return asdict(self)


def start(name: str, cmd: list[str], logs: Path, env: dict[str, str], cwd: Path | None = None,
          stop_signal: int = signal.SIGTERM, queues: list[str] | None = None) -> Proc:
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name.split('@')[0]}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 env={**os.environ, **env}, cwd=cwd, start_new_session=True)
    return Proc(name, child.pid, cmd, str(log), psutil.Process(child.pid).create_time(), stop_signal, queues or [])


def stop(proc: Proc, timeout: float = 30.0) -> None:
    """Ask the process group to stop (``stop_signal``), then kill what is left after ``timeout``."""
    if not proc.alive():
        kill_group(proc.pid)  # children left by a killed leader
        return
    try:
        os.killpg(proc.pid, proc.stop_signal)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and group_members(proc.pid):
        time.sleep(0.2)
    kill_group(proc.pid)


def group_members(pgid: int) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except (ProcessLookupError, psutil.NoSuchProcess):
            pass
    return found


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def wait_until(check, what: str, proc: Proc | None, timeout: float) -> None:
    """Poll ``check()`` until true; fail naming ``what`` and the log when the process died or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and not proc.alive():
            raise ServiceError(f"{what} exited while starting; see {proc.log}:\n{tail(proc.log)}")
        time.sleep(0.3)
    raise ServiceError(f"{what} did not come up in {timeout:.0f} s; see {proc.log if proc else 'its log'}:\n{tail(proc.log) if proc else ''}")


def tail(path: str, lines: int = 15) -> str:
    try:
        return "\n".join(Path(path).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---- Postgres ----

def postgres_bin(tool: str) -> str:
    """Debian's ``/usr/lib/postgresql/<version>/bin/<tool>`` (newest version), or one on PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(tool)
    if not path:
        raise ServiceError(f"PostgreSQL's {tool} is not installed: apt-get install postgresql (Debian's package)")
    return path


def _as_postgres_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_postgres(root: Path, port: int, logs: Path) -> Proc:
    data, sockets = root / "postgres", root / "postgres-socket"
    if os.geteuid() == 0:  # postgres (the user) must be able to reach its data through the project's folders
        root.mkdir(parents=True, exist_ok=True)
        closed = [p for p in [root, *root.parents] if not p.stat().st_mode & 0o001]
        if closed:
            raise ServiceError(f"PostgreSQL runs as the postgres user, which cannot enter {closed[0]} (mode "
                               f"{closed[0].stat().st_mode & 0o777:o}) on the way to {data}: chmod o+x it, or use a DAGSTER_HOME under another folder")
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        _chown_postgres(data)
        initdb = _as_postgres_user([postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"])
        done = subprocess.run(initdb, capture_output=True, text=True)
        if done.returncode:
            raise ServiceError(f"initdb {data} failed: {done.stderr.strip() or done.stdout.strip()}")
    sockets.mkdir(parents=True, exist_ok=True)
    _chown_postgres(sockets)
    cmd = _as_postgres_user([postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
                             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200", "-c", "fsync=on"])
    # SIGINT is Postgres's fast shutdown (SIGTERM waits for every client to leave)
    proc = start("postgres", cmd, logs, {}, stop_signal=signal.SIGINT)
    wait_until(lambda: _postgres_ready(port), f"PostgreSQL on 127.0.0.1:{port}", proc, timeout=60)
    _create_database(port, "dagster")
    return proc


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
        path.chmod(0o700)


def _postgres_ready(port: int) -> bool:
    import psycopg2

    try:
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def _create_database(port: int, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


# ---- PgBouncer ----
# Dagster's Postgres storage opens a new connection for every query (SQLAlchemy's NullPool), and a new
# Postgres connection forks a server process (about 4 ms): an automation tick over 1,000 partitions made
# ~900 of them. PgBouncer keeps the server connections open (session pooling), so a connection costs
# a round trip on loopback instead.

def start_pgbouncer(root: Path, port: int, postgres_port: int, logs: Path) -> Proc:
    binary = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)
    if not binary:
        raise ServiceError("pgbouncer is not installed: apt-get install pgbouncer (Debian's package)")
    folder = root / "pgbouncer"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users.txt").write_text('"postgres" ""\n', encoding="utf-8")
    (folder / "pgbouncer.ini").write_text(f"""[databases]
* = host=127.0.0.1 port={postgres_port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {folder / 'users.txt'}
pool_mode = session
max_client_conn = 1000
default_pool_size = 40
""", encoding="utf-8")
    for path in (folder, folder / "users.txt", folder / "pgbouncer.ini"):
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
    proc = start("pgbouncer", _as_postgres_user([binary, str(folder / "pgbouncer.ini")]), logs, {})
    wait_until(lambda: _postgres_ready(port), f"PgBouncer on 127.0.0.1:{port}", proc, timeout=30)
    return proc


# ---- Redis ----

def start_redis(root: Path, port: int, logs: Path) -> Proc:
    server = shutil.which("redis-server")
    if not server:
        raise ServiceError("redis-server is not installed: apt-get install redis-server (Debian's package)")
    data = root / "redis"
    data.mkdir(parents=True, exist_ok=True)
    # nothing kept on disk: a message left from before a restart belongs to a run whose orchestrating
    # process is gone (run monitoring fails it, run retries start it again), so it must not run later
    cmd = [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", "", "--appendonly", "no",
           "--daemonize", "no", "--protected-mode", "yes"]
    proc = start("redis", cmd, logs, {})
    wait_until(lambda: _redis_ready(port), f"Redis on 127.0.0.1:{port}", proc, timeout=30)
    return proc


def _redis_ready(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())
    except redis.exceptions.ConnectionError:
        return False


def port_in_use(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_state(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)
