"""Device selection shared by every backend (``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``), and CPU threads."""

from __future__ import annotations

import os
import re
import time


def resolve_device(device: str = "auto") -> str:
    import torch

    device = (device or "auto").strip().lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if re.fullmatch(r"cuda(:\d+)?", device):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
        return device
    raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N")


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX) rather than emulating it."""
    import torch

    # torch.cpu's checks are private (present since torch 2.1): without them, count the CPU as emulating
    return any(getattr(torch.cpu, check, lambda: False)() for check in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


class ThreadBudget:
    """torch's CPU threads sized to the cores other processes leave free, re-measured as work goes on.

    On a small machine shared with another CPU-bound job, torch's intra-op threads wait for each other
    at every operation whenever one of them is descheduled: two threads on two busy cores ran
    Resemblyzer 3x slower than on a quiet machine, one thread only 5 % slower. ``apply()`` between
    batches measures, over the time since its last measurement (at least ``interval`` seconds), how much
    CPU the rest of the machine used (the system's busy time minus this process's), and sets
    ``torch.set_num_threads`` to the cores left (at least 1, at most the cores this process may use).
    A context manager: on entry it first watches the machine for ``probe`` seconds (so the first
    batch already runs with the right count), and torch's thread count is put back on exit.
    """

    def __init__(self, interval: float = 0.2, probe: float = 0.05):
        import psutil

        self._psutil = psutil
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.interval, self.probe = interval, probe
        self.threads = self.cpus
        self.history: list[int] = []
        self._last = self._sample()

    def __enter__(self) -> ThreadBudget:
        import torch

        self._before = torch.get_num_threads()
        time.sleep(self.probe)
        self.free_cores(min_interval=0.0)
        return self

    def __exit__(self, *exc) -> None:
        import torch

        torch.set_num_threads(self._before)

    def _sample(self) -> tuple[float, float, float]:
        t = self._psutil.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        own = self._psutil.Process().cpu_times()
        return time.monotonic(), busy, own.user + own.system

    def free_cores(self, min_interval: float | None = None) -> float | None:
        """Cores the rest of the machine left free since the last measurement (None: too soon to say);
        sets ``threads`` to them."""
        now = self._sample()
        elapsed = now[0] - self._last[0]
        if elapsed <= 0 or elapsed < (self.interval if min_interval is None else min_interval):
            return None
        others = max(0.0, (now[1] - self._last[1]) - (now[2] - self._last[2])) / elapsed
        self._last = now
        free = max(0.0, self.cpus - others)
        self.threads = max(1, min(self.cpus, int(free + 0.5)))
        return free

    def apply(self) -> int:
        """Set torch's thread count for the next batch (re-measured when ``interval`` has passed)."""
        import torch

        self.free_cores()
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        self.history.append(self.threads)
        return self.threads
