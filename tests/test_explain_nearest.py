"""The nearest distances of the explanations against brute force: haversine (the math module's, tests/helpers.py)
from each school or partner to every site or school, on random rounds and when a whole hub is out of reach.

The search runs in blocks of ``matcher.explain.BLOCK`` pairs; a tiny block makes every case cross many of them.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from helpers import CENTRE, Record, adviser, document, employer, haversine_km, random_document, school

from matcher import explain, solve
from models import Solution, load_problem
from models.privacy import area_of, band_of

BLOCKS = [explain.BLOCK, 7]


def brute_km(point: tuple[float, float], targets: list[tuple[float, float]]) -> float:
    """The great-circle distance from ``point`` to the nearest of ``targets`` (inf without any), one by one."""
    return min((haversine_km(*point, *t) for t in targets), default=math.inf)


def spots(rng: random.Random, n: int, spread: float = 0.5) -> list[tuple[float, float]]:
    return [(CENTRE[0] + rng.uniform(-spread, spread), CENTRE[1] + rng.uniform(-spread, spread)) for _ in range(n)]


def columns(points: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([p[0] for p in points], dtype=np.float64), np.array([p[1] for p in points], dtype=np.float64)


@pytest.mark.parametrize("block", [*BLOCKS, 1])
@pytest.mark.parametrize(("n_points", "n_targets"), [(1, 1), (9, 40), (40, 9), (23, 17), (0, 5), (5, 0)])
def test_nearest_km_is_the_brute_force_minimum(
    block: int, n_points: int, n_targets: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explain, "BLOCK", block)
    rng = random.Random(n_points * 100 + n_targets)
    points, targets = spots(rng, n_points), spots(rng, n_targets)
    shared = min(n_points, n_targets) // 3
    targets[:shared] = points[:shared]  # some points sit on a target: distance 0
    got = explain.nearest_km(*columns(points), *columns(targets))
    assert got.tolist() == pytest.approx([brute_km(p, targets) for p in points], abs=1e-9, rel=1e-12)


def sites_of(raw: Record, role: str) -> dict[str, list[tuple[float, float]]]:
    if role == "adviser":
        return {a["id"]: [(a["lat"], a["lon"])] for a in raw["advisers"]}
    return {e["id"]: [(t["lat"], t["lon"]) for t in e["sites"]] for e in raw["employers"]}


def misstated(raw: Record, solution: Solution) -> tuple[list[tuple], int]:
    """The out-of-reach slots and the partners with no school in reach whose stated distance is not brute
    force's, and how many were checked. A school's nearest partner is stated as a band for an adviser (from the
    advisers' areas, ``models.privacy``), in km for an employer's site; an idle partner's as its exact km and the
    band from the adviser's area (an employer's site is its own area)."""
    schools = {s["id"]: (s["lat"], s["lon"]) for s in raw["schools"]}
    wrong, checked = [], 0
    for u in (u for u in solution.unmatched if u.reason == "out_of_reach"):
        sites = [t for spots in sites_of(raw, u.role).values() for t in spots]
        km = brute_km(schools[u.school], [area_of(*t) for t in sites] if u.role == "adviser" else sites)
        one, where = ("adviser", band_of(km).label) if u.role == "adviser" else ("Cornerstone Employer", f"{km:.1f} km")
        checked += 1
        if u.detail != f"No {one} within travel distance; the nearest is {where} away.":
            wrong.append((u, km))
    for i in (i for i in solution.idle if i.reason == "no_school_in_reach"):
        sites = sites_of(raw, i.role)[i.partner]
        km = min(brute_km(t, list(schools.values())) for t in sites)
        areas = [area_of(*t) for t in sites] if i.role == "adviser" else sites
        shown = min(brute_km(t, list(schools.values())) for t in areas)
        where = band_of(shown).label if i.role == "adviser" else f"{shown:.1f} km"
        checked += 1
        if (i.distance_km, i.distance_band, i.detail) != (
            round(km, 2), band_of(shown).label, f"No school within travel distance; the nearest is {where} away."
        ):
            wrong.append((i, km, shown))
    return wrong, checked


@pytest.mark.parametrize("block", BLOCKS)
def test_stated_distances_are_brute_force_on_random_rounds(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(explain, "BLOCK", block)
    wrong, checked = [], 0
    for seed in range(40):
        raw = random_document(seed, loads=seed % 2 == 1)
        found, n = misstated(raw, solve(load_problem(raw), time_limit_s=10))
        wrong += [(seed, *f) for f in found]
        checked += n
    assert wrong == []
    assert checked >= 60


def far_from(rng: random.Random, schools: list[tuple[float, float]], km: float, spread: float) -> tuple[float, float]:
    """A random spot more than ``km`` from every school."""
    while True:
        spot = spots(rng, 1, spread)[0]
        if brute_km(spot, schools) > km:
            return spot


@pytest.mark.parametrize("block", BLOCKS)
def test_a_whole_hub_out_of_reach(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every partner's radius (1 km) falls short of every school: all slots are out of reach, all partners idle,
    each with the brute-force nearest distance, at distances spread over several bands."""
    monkeypatch.setattr(explain, "BLOCK", block)
    rng = random.Random(5)
    places = spots(rng, 60, 0.3)
    advisers = [adviser(f"a{j}", *far_from(rng, places, 1.2, 1.0), capacity=2) for j in range(45)]
    employers = [
        employer(f"e{j}", [far_from(rng, places, 1.2, 1.0) for _ in range(rng.randint(1, 3))], capacity=2)
        for j in range(20)
    ]
    raw = document([school(f"s{i}", *p) for i, p in enumerate(places)], advisers, employers,
                   default_max_travel_km=1.0)
    solution = solve(load_problem(raw))
    assert solution.assignments == ()
    for role in ("adviser", "cornerstone"):
        assert {u.school for u in solution.unmatched if u.role == role} == {s["id"] for s in raw["schools"]}
    assert {u.reason for u in solution.unmatched} == {"out_of_reach"}
    assert sorted(i.partner for i in solution.idle) == sorted(p["id"] for p in advisers + employers)
    assert {i.reason for i in solution.idle} == {"no_school_in_reach"}
    wrong, checked = misstated(raw, solution)
    assert wrong == []
    assert checked == len(solution.unmatched) + 65
    assert len({i.distance_band for i in solution.idle}) >= 3
