"""The ``compare`` analysis: a round against a policy change, or against another round of its hub, side by side.

Parameters (validated by the API): ``{"policy": {...}}``, a partial policy merged over the round's
(``models.policies``), both solved here; or ``{"other_round": id}``, the round's current pairings against the other
round's, nothing solved. The result is ``matcher.compare``'s, with the rows of its table.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from matcher import solve
from matcher.compare import compare, table
from matcher.compare import for_reader as coarse
from matcher.progress import band
from models.domain import Problem, Solution
from models.policies import changed_policy
from service.analyses import AnalysisContext, AnalysisError

SOLVE_LIMIT_S = 280.0  # each of the two solves stops by then (or its policy's limit, if shorter)...
TIME_LIMIT_S = 600.0  # ...so that both, and the comparison, end before the supervisor stops the job


def run(ctx: AnalysisContext) -> dict[str, Any]:
    """The comparison the parameters ask for, with its table (see the module docstring)."""
    if "policy" in ctx.params:
        result = _policy_change(ctx, ctx.params["policy"])
    else:
        result = _other_round(ctx, int(ctx.params["other_round"]))
    ctx.progress(0.95, "comparing")
    return {**result, "rows": table(result)}


def for_reader(result: dict[str, Any]) -> dict[str, Any]:
    """What a non-admin reads: advisers' travel as bands of distances from their areas (``matcher.compare``)."""
    if "a" not in result:
        return result
    out = coarse(result)
    return {**out, "rows": table(out)}


def _policy_change(ctx: AnalysisContext, change: dict[str, Any]) -> dict[str, Any]:
    """The round as its policy stands against the round with the change: both solved, from the same records."""
    changed = dataclasses.replace(ctx.problem, policy=changed_policy(ctx.problem.policy, change))
    before = _solved(ctx, ctx.problem, "the round's policy", 0.1)
    after = _solved(ctx, changed, "the policy changed", 0.5)
    return {
        "kind": "policy",
        "change": change,
        **compare((ctx.problem, before), (changed, after), ("round's policy", "policy changed")),
    }


def _solved(ctx: AnalysisContext, problem: Problem, policy: str, start: float) -> Solution:
    """``problem`` solved, its steps shown as the job's progress from ``start`` over the next 0.4, each said with
    the policy it solves under."""
    def progress(fraction: float, stage: str) -> None:
        ctx.progress(fraction, f"solving with {policy}: {stage}")

    limit = min(problem.policy.time_limit_s, SOLVE_LIMIT_S)
    return solve(problem, time_limit_s=limit, progress=band(progress, start, start + 0.4))


def _other_round(ctx: AnalysisContext, other_id: int) -> dict[str, Any]:
    """This round's current pairings against another round's (a draft round has none to compare)."""
    ctx.progress(0.2, "reading the other round")
    other = ctx.load_round(other_id)
    mine: tuple[Problem, Solution | None] = (ctx.problem, ctx.solution)
    for name, (_, solution) in (("this round", mine), (f"round {other_id}", other)):
        if solution is None:
            raise AnalysisError(f"There is nothing to compare: {name} has no pairings yet (solve it first).")
    assert ctx.solution is not None and other[1] is not None
    return {
        "kind": "rounds",
        "other_round": other_id,
        **compare((ctx.problem, ctx.solution), (other[0], other[1]), ("this round", f"round {other_id}")),
    }
