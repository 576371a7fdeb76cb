"""The command line's progress bar: a ``matcher.progress.Progress`` drawn on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """A progress bar on stderr, drawn once the command has run a second (a hub's round rarely shows one):
    redrawn in place on a terminal, otherwise a line per stage and, within a long one (an import's rows), a line
    each tenth of the way further (a log keeps every step and its time, and shows a long step moving).

    It is itself a Progress: ``bar(fraction, stage)``; ``stage(what)`` gives one that prefixes ``what``. Used as
    a context manager it ends its line however the work ends, so that an error is told on a line of its own.
    """

    DELAY_S = 1.0
    WIDTH = 24
    LOG_STEP = 0.1

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.drawn = False
        self.last = ""
        self.logged = 0.0  # the fraction of the last line written to a log

    def __call__(self, fraction: float, stage: str) -> None:
        self.draw(stage, fraction)

    def stage(self, what: str) -> Callable[[float, str], None]:
        def report(fraction: float, stage: str) -> None:
            self.draw(f"{what}: {stage}", fraction)

        return report

    def draw(self, label: str, fraction: float) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed < self.DELAY_S:
            return
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(self.WIDTH * fraction)
        line = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * fraction:3.0f}% {elapsed:5.1f} s  {label}"
        if self.terminal:
            self.stream.write("\r" + line.ljust(len(self.last)))
            self.last = line
        elif label != self.last or fraction >= self.logged + self.LOG_STEP:
            self.stream.write(line + "\n")
            self.last, self.logged = label, fraction
        self.stream.flush()
        self.drawn = True

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the bar's line on a terminal (nothing to do elsewhere)."""
        if self.drawn and self.terminal:
            self.stream.write("\n")
            self.stream.flush()
