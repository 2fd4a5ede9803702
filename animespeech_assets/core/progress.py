"""Progress of long work, for people: one line that redraws on a terminal, and a log line (the
Dagster run log) at a sensible rate, each with the share done and the time left.

Domain code takes a :class:`Progress` (or None) and calls :meth:`Progress.advance`; the asset or
command that starts the work decides where it is shown. No Dagster import here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

LOG_EVERY = 15.0  # seconds between log lines
DRAW_EVERY = 0.2  # seconds between redraws of the terminal line


def duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Progress:
    def __init__(self, what: str, total: float, unit: str = "", log: Callable[[str], None] | None = None,
                 every: float = LOG_EVERY, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.what, self.total, self.unit = what, float(total), unit
        self.log, self.every, self.clock = log, every, clock
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0.0
        self.started = clock()
        self._logged = self._drawn = self.started

    def line(self) -> str:
        elapsed = self.clock() - self.started
        amount = f"{self.done:.0f}/{self.total:.0f}{' ' + self.unit if self.unit else ''}"
        if not self.total:
            return f"{self.what}: {amount}, {duration(elapsed)}"
        share = min(1.0, self.done / self.total)
        left = f", about {duration(elapsed * (1 - share) / share)} left" if 0 < share < 1 else ""
        return f"{self.what}: {amount} ({share:.0%}) in {duration(elapsed)}{left}"

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        now = self.clock()
        if self.tty and now - self._drawn >= DRAW_EVERY:
            self._drawn = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()
        if self.log and now - self._logged >= self.every:
            self._logged = now
            self.log(self.line())

    def finish(self) -> None:
        """The last line: what was done and how long it took."""
        line = self.line()
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K\n")
            self.stream.flush()
        if self.log:
            self.log(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif self.tty:
            self.stream.write("\n")


def advance(progress: Progress | None, amount: float = 1) -> None:
    """``progress.advance(amount)`` where there is a progress to report to."""
    if progress is not None:
        progress.advance(amount)
