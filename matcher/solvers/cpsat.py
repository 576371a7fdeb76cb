"""CP-SAT for the rules that break the flow structure: loads against capacity, distinct sectors.

Two solves make the objective lexicographic without giant coefficients: first the best coverage, then the least
cost among the matchings with that coverage, each seeded with the best known choice. Capacities with fractional
loads are scaled to hundredths, the precision the problem format documents for loads.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

from matcher.solvers.base import RoleInput, RoleResult, result
from matcher.solvers.rows import coverage, rows

LOAD_SCALE = 100


def solve_cpsat(
    inp: RoleInput, time_limit_s: float = 60.0, hint: np.ndarray | None = None, workers: int = 2
) -> RoleResult:
    """Lexicographic optimum by CP-SAT within the time limit (status says whether it is proven)."""
    started = time.perf_counter()
    free = inp.free
    model = cp_model.CpModel()
    x = [model.new_bool_var(f"x{i}") for i in range(len(free))]
    for row in rows(inp):
        coef, upper = _integral(row.coef, row.upper)
        model.add(cp_model.LinearExpr.weighted_sum([x[i] for i in row.var], coef.tolist()) <= upper)
    cover = _coverage_expr(model, inp, x)
    if hint is not None:
        for var, value in zip(x, hint[free], strict=True):
            model.add_hint(var, bool(value))

    model.maximize(cover)
    first, status1 = _run(model, time_limit_s, workers)
    if first is None:
        return result(inp, _as_chosen(inp, hint), "unknown", None, "cpsat", time.perf_counter() - started)
    best_cover = int(first.objective_value)
    model.clear_hints()
    for var in x:
        model.add_hint(var, bool(first.value(var)))
    model.add(cover >= best_cover)
    model.minimize(cp_model.LinearExpr.weighted_sum(x, inp.costs.units[free].tolist()))
    left = max(time_limit_s - (time.perf_counter() - started), 0.05 * time_limit_s)
    second, status2 = _run(model, left, workers)
    solver = second if second is not None else first
    chosen = np.zeros(inp.graph.size, dtype=bool)
    chosen[free] = [bool(solver.value(v)) for v in x]
    proven = status1 == cp_model.OPTIMAL and status2 == cp_model.OPTIMAL
    locked_cost = int(inp.costs.units[inp.graph.locked].sum())
    bound = second.best_objective_bound + locked_cost if second is not None else None
    status = "optimal" if proven else "feasible"
    return result(inp, chosen, status, bound, "cpsat", time.perf_counter() - started)


def _integral(coef: np.ndarray, upper: float) -> tuple[np.ndarray, int]:
    """Integer coefficients for a row: as they are when whole, else scaled to hundredths."""
    if np.all(coef == np.round(coef)):
        return coef.astype(np.int64), int(np.floor(upper + 1e-9))
    return np.rint(coef * LOAD_SCALE).astype(np.int64), int(np.floor(upper * LOAD_SCALE + 1e-6))


def _coverage_expr(model: cp_model.CpModel, inp: RoleInput, x: list) -> cp_model.LinearExpr:
    """The coverage value, with y[s] <= the school's chosen pairs (the maximiser sets y = 1 when any is)."""
    cov = coverage(inp)
    ys, y_coef = [], []
    for var, first, extra in zip(cov.school_vars, cov.first, cov.extra_per_school, strict=True):
        if len(var):
            y = model.new_bool_var("")
            model.add(y <= sum(x[i] for i in var))
            ys.append(y)
            y_coef.append(int(first - extra))
    return cp_model.LinearExpr.weighted_sum(x + ys, cov.extra_per_var.tolist() + y_coef)


def _run(
    model: cp_model.CpModel, seconds: float, workers: int
) -> tuple[cp_model.CpSolver | None, cp_model.CpSolverStatus]:
    """Solve deterministically (interleaved workers) and return the solver when it holds a solution."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(seconds)
    solver.parameters.num_workers = workers
    solver.parameters.interleave_search = workers > 1
    solver.parameters.random_seed = 1
    status = solver.solve(model)
    return (solver if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) else None), status


def _as_chosen(inp: RoleInput, hint: np.ndarray | None) -> np.ndarray:
    return np.zeros(inp.graph.size, dtype=bool) if hint is None else hint.copy()
