"""Target 6: the "volunteers engaged" level costs the flow little: each round solved by the flow with the level and
without it (the previous objective, ``RoleInput.engage=False``), alternately in one process, medians over repeats.

Beside the times: how many partners each objective engages, the cost it pays for them, and which way the flow
went (the trial engagement unit certified, no augmenting path engaging more partners, or the fallback to the
proven unit).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from common import Config, Table, median, ratio, timed

import fixtures
from matcher.progress import no_step
from matcher.solve import role_input
from matcher.solvers import RoleInput, solve_flow
from matcher.solvers.flow import PRICING, _engages_the_most, _solve
from models import load_problem

COMPANY_CAP = 3


def rounds(cfg: Config) -> dict[str, RoleInput]:
    """The adviser role of the national round (with and without a company cap) and of the Lancashire hub."""
    n_schools, n_advisers = cfg.national
    out = {}
    for cap in (None, COMPANY_CAP):
        raw = fixtures.national_problem(n_schools, n_advisers, max_schools_per_company=cap)
        raw = {**raw, "employers": [], "policy": {**raw["policy"], "cornerstones_per_school": 0}}
        out[f"national {n_schools}x{n_advisers}" + (f", cap {cap}" if cap else "")] = role_input(
            load_problem(raw), "adviser"
        )
    out["Lancashire advisers"] = role_input(load_problem(fixtures.lancashire_problem()), "adviser")
    return out


def run(cfg: Config) -> tuple[Table, list[dict[str, Any]]]:
    repeats = max(cfg.repeats, 3)
    table = Table(f"6. Volunteers engaged: the flow with the level against the previous objective, median of "
                  f"{repeats} alternating runs",
                  ["round", "candidates", "previous s", "engaged s", "x previous", "engaged before", "engaged now",
                   "idle now", "cost units before", "cost units now", "trial certified"])
    raw = []
    for name, inp in rounds(cfg).items():
        row = _measure(inp, repeats)
        raw.append({"round": name, **row})
        table.add(name, inp.graph.size, row["previous_s"], row["engaged_s"], ratio(row["engaged_s"], row["previous_s"]),
                  row["engaged_before"], row["engaged_now"], row["idle_now"], row["cost_before"], row["cost_now"],
                  row["certified"])
    table.notes.append("both objectives proven optimal by the flow; engaged = distinct advisers with a school; idle = "
                       "available advisers with capacity and no school. Trial certified: the cheap engagement unit "
                       "engaged as many as any matching can (no augmenting path through the partners' first units), "
                       "so no second solve was needed.")
    return table, raw


def _measure(inp: RoleInput, repeats: int) -> dict[str, Any]:
    previous = dataclasses.replace(inp, engage=False)
    times: dict[str, list[float]] = {"previous": [], "engaged": []}
    found = {}
    for _ in range(repeats):
        for key, variant in (("previous", previous), ("engaged", inp)):
            found[key], seconds = timed(lambda v=variant: solve_flow(v))
            times[key].append(seconds)
    g = inp.graph
    willing = (~g.partners.unavailable) & (g.partners.capacity > 0)
    engaged = {k: set(g.partner[r.chosen].tolist()) for k, r in found.items()}
    units = inp.units
    chosen = np.zeros(len(inp.free), dtype=bool)
    flows, net = _solve(inp, units.with_engaged(units.trial), PRICING, chosen, no_step)
    return {
        "previous_s": median(times["previous"]), "engaged_s": median(times["engaged"]),
        "engaged_before": len(engaged["previous"]), "engaged_now": len(engaged["engaged"]),
        "idle_now": int(willing.sum()) - len(engaged["engaged"] & set(willing.nonzero()[0].tolist())),
        "cost_before": found["previous"].cost_units, "cost_now": found["engaged"].cost_units,
        "certified": units.trial >= units.engaged or _engages_the_most(inp, net, flows, no_step),
    }
