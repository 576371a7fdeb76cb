"""A plain reference matcher: what a competent engineer writes in a day, to compare wall clocks with.

    python bench/reference.py PROBLEM.json SOLUTION.json

Radius candidates from a KD-tree, an OR-Tools min-cost flow built from arrays, distance-only costs (metres),
maximum coverage first; the hard rules that shape the candidate graph (unavailable advisers, capacities, conflicts,
needs that require skills, the company cap) and nothing else: no validation, no lexicographic need level, no
continuity, no explanations. The adviser role only. It writes the pairs it chose and prints one JSON line
(candidates, pairs, seconds) for the benchmark.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from ortools.graph.python import min_cost_flow
from scipy.spatial import cKDTree

EARTH_KM = 6371.0088


def unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def candidates(doc: dict) -> tuple[list, list, np.ndarray, np.ndarray, np.ndarray]:
    """Schools and available advisers, and every pair within the adviser's radius that no rule removes."""
    policy = doc.get("policy", {})
    schools = doc["schools"]
    advisers = [a for a in doc["advisers"] if not a.get("unavailable") and a.get("capacity", 1) > 0]
    xs = unit(np.array([s["lat"] for s in schools]), np.array([s["lon"] for s in schools]))
    xa = unit(np.array([a["lat"] for a in advisers]), np.array([a["lon"] for a in advisers]))
    radius = np.array([a.get("max_travel_km") or policy.get("default_max_travel_km", 30.0) for a in advisers])
    chord = 2 * np.sin(radius / EARTH_KM / 2)
    hits = cKDTree(xs).query_ball_point(xa, chord)
    counts = np.fromiter((len(h) for h in hits), dtype=np.int64, count=len(hits))
    school = np.fromiter((i for h in hits for i in h), dtype=np.int64, count=int(counts.sum()))
    adviser = np.repeat(np.arange(len(advisers)), counts)
    keep = np.ones(len(school), dtype=bool)
    if policy.get("needs_require_skills"):
        needs = [set(s.get("needs", ())) | ({"send"} if s.get("kind") == "send" else set()) for s in schools]
        skills = [set(a.get("skills", ())) for a in advisers]
        needy = np.flatnonzero([bool(needs[i]) for i in school])
        keep[needy] = [needs[school[k]] <= skills[adviser[k]] for k in needy]
    index = {s["id"]: i for i, s in enumerate(schools)}
    banned = {(index[c], j) for j, a in enumerate(advisers) for c in a.get("conflicts", ()) if c in index}
    if banned:
        keep &= [(int(s), int(a)) not in banned for s, a in zip(school, adviser, strict=True)]
    school, adviser = school[keep], adviser[keep]
    metres = np.rint(EARTH_KM * 1000 * 2 * np.arcsin(np.linalg.norm(xs[school] - xa[adviser], axis=1) / 2))
    return schools, advisers, school, adviser, metres.astype(np.int64)


def match(doc: dict, schools: list, advisers: list, school: np.ndarray, adviser: np.ndarray,
          metres: np.ndarray) -> np.ndarray:
    """The cheapest maximum flow: source -> school (slots) -> adviser (1) -> company (cap) -> sink."""
    policy = doc.get("policy", {})
    n_s, n_a = len(schools), len(advisers)
    companies = {c: k for k, c in enumerate(sorted({a["company"] for a in advisers}))}
    cap = policy.get("max_schools_per_company")
    n_c = len(companies) if cap else 0
    source, sink = n_s + n_a + n_c, n_s + n_a + n_c + 1
    company = np.array([companies[a["company"]] for a in advisers])
    after = n_s + n_a + company if cap else np.full(n_a, sink)
    tails = np.concatenate([np.full(n_s, source), school, n_s + np.arange(n_a),
                            n_s + n_a + np.arange(n_c)])
    heads = np.concatenate([np.arange(n_s), n_s + adviser, after, np.full(n_c, sink)])
    caps = np.concatenate([np.full(n_s, policy.get("advisers_per_school", 1)), np.ones(len(school)),
                           [a.get("capacity", 1) for a in advisers], np.full(n_c, cap or 0)])
    costs = np.concatenate([np.zeros(n_s), metres, np.zeros(n_a + n_c)])
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(tails.astype(np.int32), heads.astype(np.int32),
                                              caps.astype(np.int64), costs.astype(np.int64))
    flow.set_node_supply(source, int(caps[:n_s].sum()))
    flow.set_node_supply(sink, -int(caps[:n_s].sum()))
    if flow.solve_max_flow_with_min_cost() != flow.OPTIMAL:
        raise RuntimeError("the reference flow did not solve")
    return flow.flows(np.arange(n_s, n_s + len(school), dtype=np.int32)) > 0


def main(problem: str, out: str) -> None:
    started = time.perf_counter()
    with open(problem, encoding="utf-8") as f:
        doc = json.load(f)
    schools, advisers, school, adviser, metres = candidates(doc)
    chosen = match(doc, schools, advisers, school, adviser, metres)
    pairs = [{"school": schools[s]["id"], "partner": advisers[a]["id"], "metres": int(m)}
             for s, a, m in zip(school[chosen], adviser[chosen], metres[chosen], strict=True)]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"assignments": pairs}, f)
    print(json.dumps({"candidates": len(school), "pairs": len(pairs),
                      "seconds": round(time.perf_counter() - started, 3)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
