"""Refreshing predictions after a save when no Dagster daemon does it (``animespeech review --refresh``).

With ``animespeech ui`` running, the annotations sensor and the automation conditions refresh the
reference set and predictions after a save; the review page alone has no daemon, so with
``--refresh`` it runs the same CLI path a person would (``animespeech materialize --episode EP
--select character_predictions,review_sheet``: the planner rebuilds the reference set first), one
run at a time, in a child process so the page stays responsive.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable

REFRESH_SELECT = "character_predictions,review_sheet"


def materialize_command(episode: str) -> list[str]:
    return [sys.executable, "-m", "animespeech_assets.cli", "materialize", "--episode", episode, "--select", REFRESH_SELECT]


class Refresher:
    """Runs the refresh of each saved episode (first) and then of every other episode with predictions."""

    def __init__(self, episodes: Callable[[], list[str]], command: Callable[[str], list[str]] = materialize_command):
        self._episodes = episodes
        self._command = command
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._status = {"enabled": True, "running": "", "pending": [], "last": None}
        threading.Thread(target=self._loop, name="review-refresh", daemon=True).start()

    def request(self, episode: str) -> None:
        with self._lock:
            order = [episode] + [e for e in self._episodes() if e != episode]
            self._pending = order + [e for e in self._pending if e not in order]
            self._status["pending"] = list(self._pending)
        self._wake.set()

    def state(self) -> dict:
        with self._lock:
            return dict(self._status, pending=list(self._pending))

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                if not self._pending:
                    self._wake.clear()
                    continue
                episode = self._pending.pop(0)
                self._status["running"] = episode
            started = time.time()
            proc = subprocess.run(self._command(episode), capture_output=True, text=True)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            with self._lock:
                self._status["running"] = ""
                self._status["last"] = {"episode": episode, "ok": proc.returncode == 0, "seconds": round(time.time() - started, 1),
                                        "finished": time.time(), "message": "\n".join(tail) if proc.returncode else ""}
