"""Tests of the fixture builders: determinism, real-data fidelity, the problem-format contract, and reach.

Distances are re-checked here with a brute-force haversine, independent of the grid of tiles the fixtures use.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

from fixtures import (
    cumbria_problem,
    gap_problem,
    haversine_km,
    lancashire_problem,
    national_problem,
    reach_summary,
)

SMALL = {"n_schools": 300, "n_advisers": 300, "n_employers": 20}
TOP_KEYS = {"hub", "policy", "schools", "advisers", "employers", "pairs"}
POLICY_KEYS = {"weights", "default_max_travel_km", "advisers_per_school", "cornerstones_per_school",
               "max_schools_per_company", "needs_require_skills", "distinct_sectors", "time_limit_s"}
SCHOOL_KEYS = {"id", "name", "lat", "lon", "postcode", "kind", "pupils", "pct_fsm", "gatsby", "sectors", "needs",
               "current_advisers", "current_cornerstones", "load"}
ADVISER_KEYS = {"id", "name", "company", "sectors", "skills", "lat", "lon", "max_travel_km", "capacity",
                "conflicts", "unavailable"}
EMPLOYER_KEYS = {"id", "name", "sectors", "sites", "capacity", "max_travel_km"}


def _csv_urns(la_code: str) -> set[str]:
    table = resources.files("fixtures").joinpath("data/schools_secondary_nw_staffs.csv")
    with table.open(encoding="utf-8") as handle:
        return {f"URN{row['urn']}" for row in csv.DictReader(handle) if row["la_code"] == la_code}


def _builders() -> list[tuple[str, Any]]:
    return [
        ("lancashire", lancashire_problem),
        ("cumbria", cumbria_problem),
        ("national", lambda seed: national_problem(seed=seed, **SMALL)),
        ("gap", lambda seed: gap_problem(seed=seed)),
    ]


@pytest.fixture(scope="module")
def lancashire() -> dict[str, Any]:
    return lancashire_problem()


@pytest.fixture(scope="module")
def cumbria() -> dict[str, Any]:
    return cumbria_problem()


@pytest.mark.parametrize(("name", "build"), _builders())
def test_same_seed_same_problem_and_json_round_trip(name: str, build: Any) -> None:
    first, second = build(5), build(5)
    assert first == second
    assert json.loads(json.dumps(first)) == first


@pytest.mark.parametrize(("name", "build"), _builders())
def test_different_seed_different_problem(name: str, build: Any) -> None:
    assert build(5) != build(6)


@pytest.mark.parametrize(("name", "build"), _builders())
def test_contract_keys_ids_and_coordinates(name: str, build: Any) -> None:
    problem = build(3)
    assert set(problem) == TOP_KEYS
    assert set(problem["policy"]) == POLICY_KEYS
    for key, allowed in (("schools", SCHOOL_KEYS), ("advisers", ADVISER_KEYS), ("employers", EMPLOYER_KEYS)):
        ids = [record["id"] for record in problem[key]]
        assert len(ids) == len(set(ids)), key
        for record in problem[key]:
            assert set(record) <= allowed, (key, set(record) - allowed)
    partners = [a["id"] for a in problem["advisers"]] + [e["id"] for e in problem["employers"]]
    assert len(partners) == len(set(partners))
    places = problem["schools"] + problem["advisers"] + [s for e in problem["employers"] for s in e["sites"]]
    for place in places:
        assert 49.8 < place["lat"] < 55.9 and -6.5 < place["lon"] < 1.8, place  # England
        assert place["lat"] == round(place["lat"], 5) and place["lon"] == round(place["lon"], 5)


@pytest.mark.parametrize(("name", "build"), _builders())
def test_references_resolve(name: str, build: Any) -> None:
    problem = build(4)
    schools = {s["id"] for s in problem["schools"]}
    advisers = {a["id"] for a in problem["advisers"]}
    employers = {e["id"] for e in problem["employers"]}
    for school in problem["schools"]:
        assert set(school.get("current_advisers", [])) <= advisers
        assert set(school.get("current_cornerstones", [])) <= employers
        assert set(school["gatsby"]) == {str(b) for b in range(1, 9)}
        assert all(isinstance(v, int) and 0 <= v <= 100 for v in school["gatsby"].values())
    for adviser in problem["advisers"]:
        assert set(adviser.get("conflicts", [])) <= schools
    for pair in problem["pairs"]:
        assert pair["school"] in schools and pair["partner"] in advisers | employers


def test_lancashire_is_the_84_real_schools(lancashire: dict[str, Any]) -> None:
    ids = [s["id"] for s in lancashire["schools"]]
    assert len(ids) == 84
    assert set(ids) == _csv_urns("888")
    assert "URN119707" in ids  # Ashton Community Science College, Preston
    assert lancashire["hub"]["id"] == "lancashire"
    assert 80 <= len(lancashire["advisers"]) <= 100 and len(lancashire["employers"]) == 15


def test_lancashire_has_every_rule_on(lancashire: dict[str, Any]) -> None:
    policy = lancashire["policy"]
    assert policy["max_schools_per_company"] == 3 and policy["needs_require_skills"] is True
    assert sum(s.get("needs") == ["send"] for s in lancashire["schools"]) == 6
    assert sum("send" in a.get("skills", []) for a in lancashire["advisers"]) == 8
    assert sum(bool(a.get("conflicts")) for a in lancashire["advisers"]) == 4
    assert sum(bool(a.get("unavailable")) for a in lancashire["advisers"]) == 2
    assert any("current_advisers" in s for s in lancashire["schools"])
    assert any("current_cornerstones" in s for s in lancashire["schools"])
    company_sizes = Counter(a["company"] for a in lancashire["advisers"])
    assert max(company_sizes.values()) > policy["max_schools_per_company"]  # the cap can bind
    assert [bool(p.get("locked")) for p in lancashire["pairs"]] == [True, False]
    assert [bool(p.get("forbidden")) for p in lancashire["pairs"]] == [False, True]


def _distance(problem: dict[str, Any], school_id: str, adviser_id: str) -> tuple[float, float, dict[str, Any]]:
    school = next(s for s in problem["schools"] if s["id"] == school_id)
    adviser = next(a for a in problem["advisers"] if a["id"] == adviser_id)
    reach = adviser.get("max_travel_km", problem["policy"]["default_max_travel_km"])
    return haversine_km(school["lat"], school["lon"], adviser["lat"], adviser["lon"]), reach, adviser


@pytest.mark.parametrize("seed", [2026, 1, 2, 3])
def test_lancashire_locked_pair_is_reachable_and_allowed(seed: int) -> None:
    problem = lancashire_problem(seed)
    locked = next(p for p in problem["pairs"] if p.get("locked"))
    distance, reach, adviser = _distance(problem, locked["school"], locked["partner"])
    assert distance <= reach
    assert not adviser.get("unavailable") and locked["school"] not in adviser.get("conflicts", [])
    forbidden = next(p for p in problem["pairs"] if p.get("forbidden"))
    distance, reach, _ = _distance(problem, forbidden["school"], forbidden["partner"])
    assert distance <= reach  # a forbidden pair out of reach would forbid nothing
    assert forbidden["school"] != locked["school"] and forbidden["partner"] != locked["partner"]


def _brute_force_adviser_pairs(problem: dict[str, Any]) -> tuple[int, int]:
    """(pairs within each adviser's radius, schools no adviser reaches), by plain haversine."""
    default = problem["policy"]["default_max_travel_km"]
    pairs, reached = 0, set()
    for adviser in problem["advisers"]:
        for school in problem["schools"]:
            if haversine_km(school["lat"], school["lon"], adviser["lat"], adviser["lon"]) <= adviser.get(
                    "max_travel_km", default):
                pairs += 1
                reached.add(school["id"])
    return pairs, len(problem["schools"]) - len(reached)


def test_reach_summary_agrees_with_brute_force(lancashire: dict[str, Any], cumbria: dict[str, Any]) -> None:
    for problem in (lancashire, cumbria):
        summary = reach_summary(problem)
        assert (summary["adviser_pairs"], summary["schools_without_adviser"]) == _brute_force_adviser_pairs(problem)


def _reaches(partner: dict[str, Any], school: dict[str, Any], default_km: float) -> bool:
    """Whether the adviser, or an employer's nearest site, is within the partner's radius of the school."""
    sites = partner.get("sites", [partner])
    km = min(haversine_km(school["lat"], school["lon"], site["lat"], site["lon"]) for site in sites)
    return km <= partner.get("max_travel_km", default_km)


@pytest.mark.parametrize("name", ["lancashire", "cumbria", "national"])
def test_every_current_partner_is_in_reach_of_its_school(name: str) -> None:
    """Last year's partners are drawn from those that reach the school, as a real hub's would be."""
    builder = dict(_builders())[name]
    problem = builder(seed=5) if name == "national" else builder()
    default = problem["policy"]["default_max_travel_km"]
    partners = {p["id"]: p for p in problem["advisers"] + problem["employers"]}
    current = [(school, pid) for school in problem["schools"]
               for pid in school.get("current_advisers", []) + school.get("current_cornerstones", [])]
    assert len(current) >= 0.1 * len(problem["schools"])
    assert all(_reaches(partners[pid], school, default) for school, pid in current)


def test_cumbria_is_sparse_with_unreachable_schools(cumbria: dict[str, Any]) -> None:
    assert {s["id"] for s in cumbria["schools"]} == _csv_urns("909")
    assert len(cumbria["schools"]) == 39 and len(cumbria["employers"]) == 6
    assert 25 <= len(cumbria["advisers"]) <= 35
    assert cumbria["policy"]["default_max_travel_km"] == 40.0
    assert _brute_force_adviser_pairs(cumbria)[1] >= 1


def test_national_small_has_requested_counts() -> None:
    problem = national_problem(seed=1, max_schools_per_company=2, radius_km=25.0, **SMALL)
    assert (len(problem["schools"]), len(problem["advisers"]), len(problem["employers"])) == (300, 300, 20)
    assert problem["schools"][0]["id"] == "S00001" and problem["advisers"][-1]["id"] == "A00300"
    assert problem["employers"][-1]["id"] == "E0020"
    assert problem["policy"]["max_schools_per_company"] == 2 and problem["policy"]["default_max_travel_km"] == 25.0
    companies = {a["company"] for a in problem["advisers"]}
    assert 60 <= len(companies) <= 90 and all(c.startswith("C") and len(c) == 5 for c in companies)


@pytest.mark.slow
def test_national_full_size_candidate_count_in_target() -> None:
    problem = national_problem()
    summary = reach_summary(problem)
    assert 500_000 <= summary["adviser_pairs"] <= 700_000
    sizes = sorted(
        (sum(a["company"] == c for a in problem["advisers"]) for c in {a["company"] for a in problem["advisers"]}),
        reverse=True)
    assert sizes[4] >= 24  # a few firms lend dozens of advisers, so a per-company cap bites


def test_gap_capacity_matches_tightness() -> None:
    problem = gap_problem(n_employers=12, n_schools=150, seed=3, tightness=0.8)
    assert problem["advisers"] == [] and problem["policy"]["advisers_per_school"] == 0
    loads = [s["load"] for s in problem["schools"]]
    assert len(loads) == 150 and all(1 <= load <= 6 for load in loads)
    capacities = [e["capacity"] for e in problem["employers"]]
    assert len(capacities) == 12 and min(capacities) >= 1
    assert sum(capacities) == round(0.8 * sum(loads))
    assert reach_summary(problem)["schools_without_employer"] >= 1


def test_gap_more_schools_than_the_csv_still_unique() -> None:
    problem = gap_problem(n_schools=320, n_employers=5)
    assert len({s["id"] for s in problem["schools"]}) == 320
    assert sum(s["name"].endswith("(synthetic twin)") for s in problem["schools"]) == 320 - 281
