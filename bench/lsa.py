"""Target 4: the one-to-one case (n schools x n advisers, capacity 1, everyone in reach) by the flow and by scipy's
dense ``linear_sum_assignment`` on the same integer costs.

It answers "why not the Hungarian method?": with everyone in reach the candidate graph is dense, the case most in
the dense solver's favour. Each measurement runs in a fresh process (bench/worker.py lsa) so the memory figure is
the solver's peak over the process's RSS before it, C++ allocations included.
"""

from __future__ import annotations

from typing import Any

from common import Config, Table, median, ratio, worker


def run(cfg: Config) -> tuple[Table, dict[str, Any]]:
    """Median time and memory over repeats for both methods, their ratio, and whether the objectives agree."""
    n = cfg.lsa_n
    results = {m: [worker("lsa", str(n), m) for _ in range(cfg.repeats)] for m in ("flow", "scipy")}
    agg = {m: _aggregate(rs) for m, rs in results.items()}
    flow, dense = agg["flow"], agg["scipy"]
    same = flow["cost_units"] == dense["cost_units"] and flow["matched"] == dense["matched"] == n
    table = Table(f"4. One-to-one {n} x {n}, everyone in reach: flow vs scipy linear_sum_assignment (dense), "
                  f"median of {cfg.repeats}",
                  ["method", "candidates", "matched", "cost units", "matrix fill s", "solve s", "x flow time",
                   "peak MB +", "x flow memory"])
    for name, res in (("flow (matcher.solvers.solve_flow)", flow), ("scipy linear_sum_assignment", dense)):
        table.add(name, res["candidates"], res["matched"], res["cost_units"], res["fill_s"], res["solve_s"],
                  ratio(res["solve_s"], flow["solve_s"]), res["mem_mb"], ratio(res["mem_mb"], flow["mem_mb"]))
    table.notes.append(f"same objective: {'yes' if same else 'NO'} (cost units of the chosen pairs; every school "
                       "matched in both).")
    table.notes.append("dense matrix: int64 cost units, non-candidates at 1e9 (none here); scipy's solve s excludes "
                       "the fill. peak MB + = peak RSS during the step minus RSS before it (fresh process each).")
    return table, {"same_objective": same, **{m: rs for m, rs in results.items()}}


def _aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    last = runs[-1]
    return {**last, "solve_s": median([r["solve_s"] for r in runs]), "fill_s": median([r["fill_s"] for r in runs]),
            "mem_mb": median([r["peak_mb"] - r["base_mb"] for r in runs])}
