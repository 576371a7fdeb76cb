"""How far long work is, reported as ``(fraction done, what it is doing)``.

The core only calls a ``Progress``; the command line draws it as a bar and a job records it for the API and the
page. A national round spends most of its time inside single OR-Tools calls that report nothing, so a solve
reports its steps by name (``Steps``): each moves the bar part of the way, and only the end reaches 1.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]
Step = Callable[[str], None]  # the solvers' side: the name of the step they start, in words a Hub Lead reads


def silent(fraction: float, stage: str) -> None:
    """A Progress for callers that want none."""


def no_step(stage: str) -> None:
    """A Step for callers that want none."""


def band(progress: Progress, start: float, end: float) -> Progress:
    """``progress`` with 0..1 mapped onto ``start``..``end``: one part of a longer piece of work."""

    def report(fraction: float, stage: str) -> None:
        progress(start + (end - start) * min(max(fraction, 0.0), 1.0), stage)

    return report


class Steps:
    """Named steps of work whose length is not known beforehand, within 0..1 of ``progress``: each new step
    moves the bar a third of the way that is left, so it moves with every step and never claims the end early."""

    SHARE = 1 / 3

    def __init__(self, progress: Progress, prefix: str) -> None:
        self.progress, self.prefix, self.done = progress, prefix, 0.0

    def __call__(self, stage: str) -> None:
        self.progress(self.done, f"{self.prefix}{stage}")
        self.done += (1.0 - self.done) * self.SHARE
