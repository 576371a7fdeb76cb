"""Naive one-shot baselines for a unit-load role: CP-SAT and HiGHS (scipy's milp) on one boolean per candidate.

They answer "why a flow?": the same candidates, the same integer cost units and the same coverage values as
``matcher``, written as the obvious sparse integer programme. The lexicographic levels become one exact weighted
sum, maximise ``U * coverage - cost`` with ``U = matcher.objective.cost_unit`` (a coverage unit outweighs any
cost difference), so a baseline that finishes proven has the flow's (coverage, cost) exactly; the caller checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from matcher.objective import cost_unit
from matcher.solvers import RoleInput


@dataclass(frozen=True)
class Model:
    """max c @ z subject to A @ z <= upper, z binary; z is the free candidates then one y per multi-slot school."""

    c: np.ndarray
    a: sp.csr_matrix
    upper: np.ndarray
    n_x: int


def build(inp: RoleInput) -> Model:
    """The scalarised model: slots per school, capacity per partner, cap per company, y <= a school's pairs."""
    if not inp.unit_loads():
        raise ValueError("the naive baselines are for unit loads (the flow's case)")
    g, v, free = inp.graph, inp.values, inp.free
    n_x = len(free)
    school, partner = g.school[free], g.partner[free]
    multi = np.flatnonzero(v.first_open & (v.open_slots > 1))
    per_pair = np.where(v.first_open & (v.open_slots == 1), v.first, v.extra)[school]
    unit = cost_unit(inp.costs, v)
    c = np.concatenate([unit * per_pair - inp.costs.units[free], unit * (v.first - v.extra)[multi]])
    blocks = [(school, np.ones(n_x), v.open_slots.astype(float), g.n_schools),
              (partner, np.ones(n_x), np.floor(inp.capacity_left() + 1e-9), g.partners.size)]
    company_left = inp.company_left()
    if company_left is not None:
        blocks.append((g.partners.company[partner], np.ones(n_x), company_left.astype(float), len(company_left)))
    a, upper = _stack(blocks, n_x + len(multi))
    if len(multi):
        a, upper = _with_y_rows(a, upper, school, multi, g.n_schools)
    return Model(c=c.astype(np.int64), a=a, upper=upper, n_x=n_x)


def _stack(blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]], n_cols: int) -> tuple[sp.csr_matrix, Any]:
    """One CSR matrix from blocks of (row per x, coefficient, row upper bounds, row count)."""
    rows, cols, data, upper, offset = [], [], [], [], 0
    for row, coef, up, n_rows in blocks:
        rows.append(row + offset)
        cols.append(np.arange(len(row)))
        data.append(coef)
        upper.append(up)
        offset += n_rows
    a = sp.csr_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(offset, n_cols))
    return a, np.concatenate(upper)


def _with_y_rows(a: sp.csr_matrix, upper: np.ndarray, school: np.ndarray, multi: np.ndarray,
                 n_schools: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """y[k] - (pairs of school multi[k]) <= 0, so y counts only a school that has a partner."""
    n_x = len(school)
    row_of = np.full(n_schools, -1)
    row_of[multi] = np.arange(len(multi))
    mine = np.flatnonzero(row_of[school] >= 0)
    rows = np.concatenate([row_of[school[mine]], np.arange(len(multi))])
    cols = np.concatenate([mine, n_x + np.arange(len(multi))])
    data = np.concatenate([-np.ones(len(mine)), np.ones(len(multi))])
    link = sp.csr_matrix((data, (rows, cols)), shape=(len(multi), a.shape[1]))
    return sp.vstack([a, link], format="csr"), np.concatenate([upper, np.zeros(len(multi))])


def evaluate(inp: RoleInput, model: Model, z: np.ndarray | None) -> dict[str, Any]:
    """Coverage and cost recomputed from the choice (never the solver's objective), and whether it is feasible."""
    if z is None:
        return {"coverage": None, "cost_units": None, "matched": None, "feasible": False}
    x = np.rint(z[: model.n_x]).astype(bool)
    chosen = inp.graph.locked.copy()
    chosen[inp.free[x]] = True
    filled = np.bincount(inp.graph.school[chosen & ~inp.graph.locked], minlength=inp.graph.n_schools)
    feasible = bool(np.all(model.a @ np.rint(z) <= model.upper + 1e-6))
    return {"coverage": inp.values.coverage(filled), "cost_units": int(inp.costs.units[chosen].sum()),
            "matched": int(np.unique(inp.graph.school[chosen]).size), "feasible": feasible}


def solve_cpsat(inp: RoleInput, limit_s: float, workers: int = 2) -> dict[str, Any]:
    """CP-SAT on the scalarised model, with no hint: what one would write first."""
    from ortools.sat.python import cp_model

    started = time.perf_counter()
    model = build(inp)
    cp = cp_model.CpModel()
    z = [cp.new_bool_var("") for _ in range(len(model.c))]
    a = model.a
    for r in range(a.shape[0]):
        idx = a.indices[a.indptr[r]:a.indptr[r + 1]]
        coef = a.data[a.indptr[r]:a.indptr[r + 1]].astype(np.int64)
        cp.add(cp_model.LinearExpr.weighted_sum([z[i] for i in idx], coef.tolist()) <= int(model.upper[r]))
    cp.maximize(cp_model.LinearExpr.weighted_sum(z, model.c.tolist()))
    built = time.perf_counter() - started
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(limit_s)
    solver.parameters.num_workers = workers
    status = solver.solve(cp)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    values = np.array(solver.response_proto.solution, dtype=float)[: len(z)] if found else None
    return {"method": "naive CP-SAT", "status": solver.status_name(status).lower(),
            "proven": status == cp_model.OPTIMAL, "build_s": built, "solve_s": time.perf_counter() - started - built,
            "bound": float(solver.best_objective_bound) if found else None, **evaluate(inp, model, values)}


def solve_highs(inp: RoleInput, limit_s: float) -> dict[str, Any]:
    """HiGHS through scipy.optimize.milp with a zero relative gap, so 'optimal' means proven to the cost unit."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    started = time.perf_counter()
    model = build(inp)
    constraint = LinearConstraint(model.a, -np.inf, model.upper)
    built = time.perf_counter() - started
    res = milp(-model.c.astype(float), integrality=np.ones(len(model.c)), bounds=Bounds(0, 1),
               constraints=constraint, options={"time_limit": float(limit_s), "mip_rel_gap": 0.0, "disp": False})
    bound = getattr(res, "mip_dual_bound", None)
    return {"method": "naive HiGHS (scipy milp)", "status": _MILP_STATUS.get(res.status, str(res.status)),
            "proven": res.status == 0, "build_s": built, "solve_s": time.perf_counter() - started - built,
            "bound": None if bound is None else -float(bound), **evaluate(inp, model, res.x)}


_MILP_STATUS = {0: "optimal", 1: "limit reached", 2: "infeasible", 3: "unbounded", 4: "other"}
