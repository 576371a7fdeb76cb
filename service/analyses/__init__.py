"""Analyses of a round that run as jobs on the solve queue: what the web process must not compute itself.

Each kind names the module that runs it. Such a module defines ``run(ctx: AnalysisContext) -> dict`` (the job's
result, JSON-able) and may define ``for_reader(result) -> dict`` (what a reader who is not an admin sees of it:
the privacy rule for advisers' homes is applied there) and ``TIME_LIMIT_S`` (when the supervisor stops it; default
``DEFAULT_TIME_LIMIT_S``). Modules load on first use, so a kind costs nothing until it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from models.domain import Problem, Solution

KINDS: dict[str, str] = {
    "recommend": "service.analyses.recommend",
    "compare": "service.analyses.compare",
    "gaps": "service.analyses.gaps",
}
DEFAULT_TIME_LIMIT_S = 300.0


@dataclass(frozen=True)
class AnalysisContext:
    """What an analysis reads: the round's problem and pairings, its parameters, and a way to say how far it is.

    ``solution``: a published round's kept pairings, a proposed round's proposals that are not rejected (None for
    a round never solved). ``load_round(id)``: another round of the same hub as (problem, solution); LookupError
    for any other. ``progress(fraction, stage)``: 0 to 1, and what it is doing, in words its readers see.
    """

    problem: Problem
    solution: Solution | None
    params: dict[str, Any]
    load_round: Callable[[int], tuple[Problem, Solution | None]] = field(repr=False)
    progress: Callable[[float, str], None] = field(repr=False)


class AnalysisError(Exception):
    """An analysis that cannot answer for this round, with a message meant for the Hub Lead (the job fails with it)."""


class UnknownAnalysis(AnalysisError):
    """A job of a kind this version does not know (a newer server queued it, or the kind was removed)."""


def module(kind: str) -> ModuleType:
    """The module that runs ``kind``."""
    try:
        return importlib.import_module(KINDS[kind])
    except KeyError:
        raise UnknownAnalysis(f"This server has no analysis of kind {kind!r}.") from None


def time_limit_s(kind: str) -> float:
    return float(getattr(module(kind), "TIME_LIMIT_S", DEFAULT_TIME_LIMIT_S))


def for_reader(kind: str, result: dict[str, Any]) -> dict[str, Any]:
    """The result as a reader who is not an admin may see it."""
    redact = getattr(module(kind), "for_reader", None)
    return redact(result) if redact is not None else result
