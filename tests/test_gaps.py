"""Where to recruit: every listed place's ``covers`` is what a full ``matcher.solve`` with the recruit added gives,
the best place is as good as the best of a dense grid, and the bounds that prune the search never undercount."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

import fixtures
import models
from matcher import solve
from matcher.gaps import Recruit, _covered, _Search, default_recruit, find_gaps, recruit_partner
from matcher.geo import haversine_km
from matcher.solve import role_input
from matcher.solvers import solve_role
from models import Problem, load_problem
from models.domain import Role
from tests.helpers import CENTRE, adviser, document, east, random_document, school

ROLES: tuple[Role, Role] = ("adviser", "cornerstone")


def covered(problem: Problem, role: Role) -> int:
    """Schools with a partner of the role in a full solve of the problem."""
    return len({a.school for a in solve(problem, time_limit_s=10).assignments if a.role == role})


def with_recruits(problem: Problem, role: Role, recruits: list) -> Problem:
    if role == "adviser":
        return dataclasses.replace(problem, advisers=problem.advisers + tuple(recruits))
    return dataclasses.replace(problem, employers=problem.employers + tuple(recruits))


def check_against_full_solves(problem: Problem, role: Role, recruit: Recruit, sequence: bool) -> int:
    """Assert each place's covers against full solves; the number of places listed."""
    found = find_gaps(problem, role, recruit, top=3, sequence=sequence)
    base = covered(problem, role)
    assert found.covered == base
    added: list = []
    before = base
    for k, place in enumerate(found.places):
        partner = recruit_partner(problem, role, place.lat, place.lon, recruit, k + 1)
        added = [*added, partner] if sequence else [partner]
        after = covered(with_recruits(problem, role, added), role)
        assert place.proven and place.covers == after - before > 0, (k, place)
        assert len(place.newly_covered) >= place.covers
        if sequence:
            before = after
    keys = [p.key() for p in found.places]
    if not sequence:
        assert keys == sorted(keys, reverse=True)
    return len(found.places)


@pytest.mark.parametrize("sequence", [True, False], ids=["sequence", "independent"])
def test_covers_is_what_a_full_solve_with_the_recruit_gives_on_random_rounds(sequence: bool) -> None:
    listed = 0
    for seed in range(40):
        problem = load_problem(random_document(seed, loads=seed % 2 == 1))
        for role in ROLES:
            recruit = default_recruit(problem, role, None, None)
            recruit = dataclasses.replace(recruit, capacity=max(recruit.capacity, 1 + seed % 3))
            listed += check_against_full_solves(problem, role, recruit, sequence)
    assert listed > 60  # the rounds leave schools a recruit can reach, so the check is not vacuous


@pytest.mark.parametrize("hub", ["lancashire", "cumbria"])
def test_covers_is_what_a_full_solve_gives_on_the_bundled_hubs(hub: str) -> None:
    problem = load_problem(fixtures.lancashire_problem() if hub == "lancashire" else fixtures.cumbria_problem())
    for role in ROLES:
        assert check_against_full_solves(problem, role, default_recruit(problem, role, None, None), True) > 0


def grid_best(problem: Problem, role: Role, recruit: Recruit, step_km: float = 0.5) -> int:
    """The best covers over a grid of places around the schools, every distinct reach re-solved in full."""
    lats = np.array([s.lat for s in problem.schools])
    lons = np.array([s.lon for s in problem.schools])
    pad = recruit.radius_km / 111.0
    dlat = step_km / 111.0
    dlon = dlat / math.cos(math.radians(CENTRE[0]))
    glat, glon = np.meshgrid(
        np.arange(lats.min() - pad, lats.max() + pad, dlat), np.arange(lons.min() - 2 * pad, lons.max() + 2 * pad, dlon)
    )
    glat, glon = glat.ravel(), glon.ravel()
    inside = haversine_km(glat[:, None], glon[:, None], lats[None, :], lons[None, :]) <= recruit.radius_km
    _, one_per_reach = np.unique(inside, axis=0, return_index=True)
    base = covered(problem, role)
    best = 0
    for g in one_per_reach:
        if not inside[g].any():
            continue
        partner = recruit_partner(problem, role, float(glat[g]), float(glon[g]), recruit)
        best = max(best, covered(with_recruits(problem, role, [partner]), role) - base)
    return best


@pytest.mark.parametrize("seed", range(0, 16, 2))
def test_the_best_place_is_as_good_as_the_best_of_a_dense_grid(seed: int) -> None:
    problem = load_problem(random_document(seed, loads=False))
    for role in ROLES:
        recruit = Recruit(capacity=3, radius_km=6.0)
        found = find_gaps(problem, role, recruit, top=1, sequence=False)
        best = found.places[0].covers if found.places else 0
        assert best >= grid_best(problem, role, recruit), (seed, role)


def test_a_place_between_schools_is_found_where_no_school_position_reaches_both() -> None:
    """Two schools 18 km apart, a 10 km radius: only places near the midpoint reach both (the circles stage)."""
    far = east(18.0)
    doc = document([school("w", *CENTRE), school("e", *far)], [adviser("a", *east(200.0))])
    problem = load_problem(doc)
    found = find_gaps(problem, "adviser", Recruit(capacity=2, radius_km=10.0), top=1)
    (place,) = found.places
    assert place.covers == 2
    assert sorted(problem.schools[i].id for i in place.schools) == ["e", "w"]
    assert haversine_km(place.lat, place.lon, *CENTRE) <= 10.0
    assert haversine_km(place.lat, place.lon, *far) <= 10.0


def test_a_recruit_can_cover_a_school_it_may_not_serve_by_freeing_an_adviser() -> None:
    """SEND school n needs an adviser with the "send" skill; only a has it, and a covers m today. A recruit (no
    skills) at m frees a for n: covers 1, though the recruit's only school had a partner (an augmenting path)."""
    doc = document(
        [school("m", *CENTRE), school("n", *east(20.0), kind="send")],
        [adviser("a", *east(9.0), capacity=1, skills=["send"])],  # nearer m: it takes m today
        default_max_travel_km=12,
        needs_require_skills=True,
    )
    problem = load_problem(doc)
    found = find_gaps(problem, "adviser", Recruit(capacity=1, radius_km=5.0), top=1)
    (place,) = found.places
    assert place.covers == 1
    assert [problem.schools[i].id for i in place.schools] == ["m"]
    assert [problem.schools[i].id for i in place.newly_covered] == ["n"]


@pytest.mark.parametrize("seed", range(24))
def test_the_bound_never_undercounts_a_full_solve(seed: int) -> None:
    """For a recruit at every open school of a random round, the pruning bound is at least the true covers."""
    problem = load_problem(random_document(seed, loads=seed % 2 == 1))
    for role in ROLES:
        recruit = Recruit(capacity=1 + seed % 3, radius_km=8.0)
        search = _Search(problem, role, recruit, "auto")
        inp = role_input(problem, role)
        res = solve_role(inp)
        cov = _covered(inp, res)
        from matcher.gaps import _open, _reachable

        targets = search.eligible & _open(inp) & _reachable(inp, res, cov)
        most = min(search._most_schools(inp, targets), int((_open(inp) & ~cov).sum()))
        xyz = search.school_xyz.copy()
        c = search._candidates(xyz.copy(), targets, cov, inp, most)
        base = covered(problem, role)
        for k, s in enumerate(problem.schools):
            partner = recruit_partner(problem, role, s.lat, s.lon, recruit)
            truth = covered(with_recruits(problem, role, [partner]), role) - base
            assert c.bound[k] >= truth, (seed, role, s.id)


def test_no_gap_when_every_school_has_a_partner() -> None:
    doc = document([school("s", *CENTRE)], [adviser("a", *east(1.0))])
    found = find_gaps(load_problem(doc), "adviser", Recruit(1, 30.0))
    assert (found.covered, len(found.uncovered), found.places) == (1, 0, ())


def nearest_district_town(lat: float, lon: float) -> str:
    """The town of the nearest postcode district centre, by a haversine scan of the whole table."""
    with open(Path(models.__file__).parent / "data" / "uk_outcodes.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    best = min(rows, key=lambda r: float(haversine_km(lat, lon, float(r["latitude"]), float(r["longitude"]))))
    return best["town"] or best["region"]


def test_the_command_writes_the_places_and_refuses_a_bad_capacity(tmp_path, capsys) -> None:
    from hubmatch.cli import main

    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(document([school("w", *CENTRE), school("e", *east(18.0))])), encoding="utf-8")
    out = tmp_path / "gaps.json"
    assert main(["gaps", str(problem), "-o", str(out), "--capacity", "2", "--radius", "10", "--role", "adviser"]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    (place,) = doc["adviser"]["places"]
    assert (place["covers"], sorted(s["id"] for s in place["schools"])) == (2, ["e", "w"])
    assert place["town"] == nearest_district_town(place["lat"], place["lon"]) == "Darwen"
    assert "Darwen" in capsys.readouterr().out
    assert main(["gaps", str(problem), "-o", str(tmp_path / "x.json"), "--capacity", "1.5"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: gaps: capacity: a recruited adviser takes a whole number of schools, 1 to 10 (got 1.5)."
    )
    assert not (tmp_path / "x.json").exists()
