"""Is a process still running: by pid and start time, so that a reused pid does not count."""

from __future__ import annotations

import psutil


def process_alive(pid: int, started: float) -> bool:
    """Whether the process ``pid`` that started at ``started`` (psutil's create time) still runs."""
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < 0.01 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
