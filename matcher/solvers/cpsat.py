"""CP-SAT for the rules that break the flow structure: loads against capacity, distinct sectors.

The objective is lexicographic without giant coefficients: one solve per level of ``rows.levels`` (coverage
counts, need, then cost), each seeded with the best choice so far. Capacities with fractional
loads are scaled to hundredths, the precision the problem format documents for loads.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

from matcher.solvers.base import RoleInput, RoleResult, staged_result, time_left
from matcher.solvers.rows import levels, rows

LOAD_SCALE = 100


def solve_cpsat(
    inp: RoleInput, time_limit_s: float = 60.0, hint: np.ndarray | None = None, workers: int = 2
) -> RoleResult:
    """Lexicographic optimum by CP-SAT within the time limit (status says whether it is proven).

    Each level of ``rows.levels`` is optimised in turn from the best choice so far, then held at the value found;
    the answer is proven only when every stage is.
    """
    started = time.perf_counter()
    free = inp.free
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{i}") for i in range(len(free))]
    for row in rows(inp):
        coef, upper = _integral(row.coef, row.upper)
        model.add(cp_model.LinearExpr.weighted_sum([x[i] for i in row.var], coef.tolist()) <= upper)
    lv = levels(inp)
    y = _at_least_one(model, x, lv.school_vars) + _at_least_one(model, x, lv.partner_vars)
    choice = None if hint is None else hint[free]
    proven, bound = True, None
    for stage in lv.stages:
        level = cp_model.LinearExpr.weighted_sum(x + y, stage.coef.tolist())
        model.maximize(level) if stage.maximise else model.minimize(level)
        solver, status = _run(model, x, choice, time_left(time_limit_s, started), workers)
        if solver is None:
            proven = False
            break
        proven &= status == cp_model.OPTIMAL
        choice = np.array([bool(solver.value(v)) for v in x])
        if stage.maximise:
            model.add(level >= round(solver.objective_value))
        else:
            bound = solver.best_objective_bound + int(inp.costs.units[inp.graph.locked].sum())
    return staged_result(inp, hint, choice, proven, bound, "cpsat", started)


def _integral(coef: np.ndarray, upper: float) -> tuple[np.ndarray, int]:
    """Integer coefficients for a row: as they are when whole, else scaled to hundredths."""
    if np.all(coef == np.round(coef)):
        return coef.astype(np.int64), int(np.floor(upper + 1e-9))
    return np.rint(coef * LOAD_SCALE).astype(np.int64), int(np.floor(upper * LOAD_SCALE + 1e-6))


def _at_least_one(model: cp_model.CpModel, x: list, groups: list[np.ndarray]) -> list:
    """y <= the group's chosen pairs, one y per group (a school covered, a partner engaged; the maximiser sets
    y = 1 when any is)."""
    ys = [model.new_bool_var("") for _ in groups]
    for y, var in zip(ys, groups, strict=True):
        model.add(y <= sum(x[i] for i in var))
    return ys


def _run(
    model: cp_model.CpModel, x: list, choice: np.ndarray | None, seconds: float, workers: int
) -> tuple[cp_model.CpSolver | None, cp_model.CpSolverStatus]:
    """Solve deterministically (interleaved workers) from ``choice`` and return the solver when it holds a
    solution."""
    model.clear_hints()
    if choice is not None:
        for var, value in zip(x, choice, strict=True):
            model.add_hint(var, bool(value))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(seconds)
    solver.parameters.num_workers = workers
    solver.parameters.interleave_search = workers > 1
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    return (solver if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None), status
