"""Which policy: the side-by-side comparison, by hand on a round small enough to work out, against the solves'
own figures on the bundled hub, what a non-admin reads of it, policy changes, the command line and the job."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import CENTRE, Record, adviser, document, employer, haversine_km, need, north, school

import fixtures
from hubmatch.cli import main
from matcher import solve
from matcher.compare import compare, for_reader, table
from models import Problem, ProblemError, load_problem
from models.domain import Policy
from models.policies import changed_policy, merged
from models.privacy import area_of, band_of
from service.analyses import AnalysisContext, AnalysisError
from service.analyses import compare as job


def small() -> Record:
    """S1 (X's school last term) and S2, low on Gatsby 5, 20 km north; advisers X and Y 2 km and 8 km north; an
    employer beside S2. At 30 km X takes S1 and Y S2 (2 + 12 km beats 18 + 8); at 10 km nobody reaches S2."""
    schools = [
        school("S1", *CENTRE, current_advisers=["X"]),
        school("S2", *north(20), gatsby={"5": 20, "6": 80, "1": 40}),
    ]
    return document(
        schools,
        [adviser("X", *north(2)), adviser("Y", *north(8))],
        [employer("E", [north(19)])],
        default_max_travel_km=30,
    )


def sides(raw: Record, change: dict[str, Any]) -> tuple[tuple[Problem, Any], tuple[Problem, Any]]:
    a = load_problem(raw)
    b = dataclasses.replace(a, policy=changed_policy(a.policy, change))
    return (a, solve(a)), (b, solve(b))


def test_a_policy_change_side_by_side_by_hand() -> None:
    raw = small()
    result = compare(*sides(raw, {"default_max_travel_km": 10}), ("30 km", "10 km"))
    a, b = result["a"], result["b"]
    assert (a["covered"], b["covered"]) == ({"adviser": 2, "cornerstone": 1}, {"adviser": 1, "cornerstone": 1})
    assert (a["slots_filled"], a["slots"]) == ({"adviser": 2, "cornerstone": 1}, {"adviser": 2, "cornerstone": 2})
    assert [
        (s["advisers_engaged"], s["advisers_idle"], s["employers_engaged"], s["employers_idle"]) for s in (a, b)
    ] == [(2, 0, 1, 0), (1, 1, 1, 0)]
    assert a["mean_travel_km"]["adviser"] == pytest.approx(7.0, abs=0.01)
    assert (a["worst_travel_km"]["adviser"], b["worst_travel_km"]["adviser"]) == pytest.approx((12.0, 2.0), abs=0.01)
    assert a["worst_travel_km"]["cornerstone"] == pytest.approx(1.0, abs=0.01)
    assert [(s["gatsby_low"], s["gatsby_low_covered"]) for s in (a, b)] == [(1, 1), (1, 1)]
    records = {s["id"]: s for s in raw["schools"]}
    assert a["need_covered"]["adviser"] == pytest.approx(
        need(records["S1"], "adviser") + need(records["S2"], "adviser"), abs=0.01
    )
    assert b["need_covered"]["adviser"] == pytest.approx(need(records["S1"], "adviser"), abs=0.01)
    assert (a["current"], b["current"]) == ({"kept": 1, "changed": 0, "new": 2}, {"kept": 1, "changed": 0, "new": 1})
    assert result["gained"] == []
    assert result["lost"] == [{"school": "S2", "name": "School S2", "role": "adviser"}]
    assert (result["pairings_only_in_a"], result["pairings_only_in_b"]) == (1, 0)
    rows = {r["label"]: (r["a"], r["b"], r["change"]) for r in table(result)}
    assert rows["Schools with an adviser"] == ("2", "1", "-1")
    assert rows["Adviser slots filled"] == ("2 of 2", "1 of 2", "-1")
    assert rows["Advisers idle"] == ("0", "1", "+1")
    assert rows["Worst adviser travel"] == ("12.0 km", "2.0 km", None)


def test_gains_and_losses_are_each_others_mirror_and_match_the_solutions(lancashire: Problem) -> None:
    """40 km instead of the fixture's 25 on the bundled hub: the figures are the solves' own, and the schools
    listed are exactly those whose partner of a role appears or disappears."""
    a = (lancashire, solve(lancashire))
    wider = dataclasses.replace(lancashire, policy=changed_policy(lancashire.policy, {"default_max_travel_km": 40}))
    b = (wider, solve(wider))
    forward, backward = compare(a, b), compare(b, a)
    assert forward["gained"] == backward["lost"] and forward["lost"] == backward["gained"]
    has = [{(x.school, x.role) for x in side[1].assignments} for side in (a, b)]
    assert {(x["school"], x["role"]) for x in forward["gained"]} == has[1] - has[0]
    assert {(x["school"], x["role"]) for x in forward["lost"]} == has[0] - has[1]
    assert forward["gained"] or forward["lost"]
    for side, (_, solution) in zip((forward["a"], forward["b"]), (a, b), strict=True):
        stats = solution.stats
        assert side["covered"] == {**{"adviser": 0, "cornerstone": 0}, **stats["matched"]}
        assert side["mean_travel_km"] == pytest.approx(stats["mean_travel_km"], abs=0.01)
        assert side["current"] == {
            "kept": stats["kept_pairings"],
            "changed": stats["changed_pairings"],
            "new": stats["new_pairings"],
        }
        assert sum(side["slots_filled"].values()) == len(solution.assignments)


def test_a_reader_sees_advisers_travel_as_bands_from_their_areas() -> None:
    raw = small()
    result = compare(*sides(raw, {"default_max_travel_km": 10}))
    reader = for_reader(result)
    homes = {a["id"]: area_of(a["lat"], a["lon"]) for a in raw["advisers"]}
    places = {s["id"]: (s["lat"], s["lon"]) for s in raw["schools"]}
    area_km = [haversine_km(*homes[p], *places[s]) for s, p in (("S1", "X"), ("S2", "Y"))]
    assert reader["a"]["worst_travel_km"]["adviser"] == band_of(max(area_km)).label
    assert reader["a"]["mean_travel_km"]["adviser"] == band_of(sum(area_km) / 2).label
    assert reader["b"]["worst_travel_km"]["adviser"] == band_of(area_km[0]).label
    assert "adviser_area_km" not in reader["a"] and "adviser_area_km" not in reader["b"]
    assert reader["a"]["worst_travel_km"]["cornerstone"] == result["a"]["worst_travel_km"]["cornerstone"]
    served = job.for_reader({**result, "rows": table(result)})
    row = next(r for r in served["rows"] if r["label"] == "Worst adviser travel")
    assert row["a"] == band_of(max(area_km)).label
    assert "adviser_area_km" not in served["a"]


def test_a_partial_policy_is_merged_key_by_key() -> None:
    base = {
        "default_max_travel_km": 30,
        "weights": {"distance": 1.0, "need": 0.5},
        "kinds": {"college": {"advisers_per_school": 2, "max_travel_km": 20}},
    }
    change = {"weights": {"need": 2.0}, "kinds": {"college": {"max_travel_km": 25}, "ap": {"required_skills": ["ap"]}}}
    assert merged(base, change) == {
        "default_max_travel_km": 30,
        "weights": {"distance": 1.0, "need": 2.0},
        "kinds": {"college": {"advisers_per_school": 2, "max_travel_km": 25}, "ap": {"required_skills": ["ap"]}},
    }
    policy = changed_policy(Policy(), {"max_schools_per_company": 3, "kinds": {"college": {"advisers_per_school": 2}}})
    assert (policy.max_schools_per_company, policy.slots("adviser", "college"), policy.slots("adviser", "ap")) == (
        3,
        2,
        1,
    )
    assert changed_policy(policy, {}) == policy


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"default_max_travel_km": 0},
            "policy.default_max_travel_km",
            "Must be greater than 0 and less than or equal to 200.",
        ),
        ({"radius": 40}, "policy.radius", "Unknown field."),
        (
            {"kinds": {"school": {}}},
            "policy.kinds.school",
            "Unknown kind of school; the kinds are mainstream, send, ap, college.",
        ),
        ({"weights": {"distance": "far"}}, "policy.weights.distance", "Not a valid number."),
    ],
)
def test_a_bad_policy_change_names_the_field(change: dict, field: str, message: str) -> None:
    with pytest.raises(ProblemError) as caught:
        changed_policy(Policy(), change)
    assert [(f.field, f.message) for f in caught.value.faults] == [(field, message)]


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_the_command_prints_the_table_and_writes_the_comparison(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = write(tmp_path / "round.json", small())
    narrow = write(tmp_path / "narrow.json", {"default_max_travel_km": 10})
    out = tmp_path / "cmp.json"
    assert main(["compare", str(problem), "--policy", str(narrow), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].split() == ["round.json", "as", "it", "is", "narrow.json", "change"]
    assert next(x for x in lines if x.startswith("Schools with an adviser")).split()[-3:] == ["2", "1", "-1"]
    assert "Schools that lose a partner with narrow.json: 1" in printed.out
    assert "  School S2 (S2): an adviser" in lines
    assert printed.err == ""  # a hub's comparison is over within the progress bar's delay
    written = json.loads(out.read_text())
    expected = compare(*sides(small(), {"default_max_travel_km": 10}), ("round.json as it is", "narrow.json"))
    assert {k: written[k] for k in ("a", "b", "gained", "lost")} == json.loads(
        json.dumps({k: expected[k] for k in ("a", "b", "gained", "lost")})
    )
    assert written["rows"] == table(expected)


def test_the_command_compares_two_policy_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = write(tmp_path / "round.json", small())
    policies = [str(write(tmp_path / f"{km}km.json", {"default_max_travel_km": km})) for km in (10, 30)]
    assert main(["compare", str(problem), "--policy", policies[0], "--policy", policies[1]]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["10km.json", "30km.json", "change"]
    assert "Schools that gain a partner with 30km.json: 1" in out


def test_the_command_refuses_a_bad_policy_file_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = write(tmp_path / "round.json", small())
    bad = write(tmp_path / "bad.json", {"kinds": {"college": {"advisers_per_school": 9}}})
    out = tmp_path / "cmp.json"
    assert main(["compare", str(problem), "--policy", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        f"  {bad}: policy.kinds.college.advisers_per_school: Must be greater than or equal to 0 and less than or "
        "equal to 5." in err
    )
    assert not out.exists()
    assert main(["compare", str(problem)] + ["--policy", str(bad)] * 3) == 2
    assert "give one --policy" in capsys.readouterr().err


def context(
    problem: Problem, solution: Any, params: dict, rounds: dict[int, tuple] | None = None, seen: list | None = None
) -> AnalysisContext:
    def load_round(round_id: int) -> tuple:
        if round_id not in (rounds or {}):
            raise LookupError(round_id)
        return (rounds or {})[round_id]

    return AnalysisContext(
        problem, solution, params, load_round, lambda f, s: (seen if seen is not None else []).append((f, s))
    )


def test_the_job_solves_the_round_and_the_policy_change() -> None:
    raw = small()
    problem = load_problem(raw)
    seen: list = []
    result = job.run(context(problem, None, {"policy": {"default_max_travel_km": 10}}, seen=seen))
    expected = compare(*sides(raw, {"default_max_travel_km": 10}), ("round's policy", "policy changed"))
    assert {k: result[k] for k in expected} == expected
    assert result["rows"] == table(expected) and result["change"] == {"default_max_travel_km": 10}
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and len(fractions) >= 3


def test_the_job_compares_two_rounds_pairings_without_solving() -> None:
    problem = load_problem(small())
    mine, theirs = (
        solve(problem),
        solve(dataclasses.replace(problem, policy=changed_policy(problem.policy, {"default_max_travel_km": 10}))),
    )
    result = job.run(context(problem, mine, {"other_round": 7}, {7: (problem, theirs)}))
    assert result["lost"] == [{"school": "S2", "name": "School S2", "role": "adviser"}]
    assert (result["a"]["label"], result["b"]["label"]) == ("this round", "round 7")
    with pytest.raises(AnalysisError, match=r"^There is nothing to compare: round 8 has no pairings yet"):
        job.run(context(problem, mine, {"other_round": 8}, {8: (problem, None)}))
    with pytest.raises(AnalysisError, match=r"^There is nothing to compare: this round has no pairings yet"):
        job.run(context(problem, None, {"other_round": 7}, {7: (problem, theirs)}))


def test_bundled_lancashire_company_cap_shows_in_one_table() -> None:
    """A company cap of 1 instead of 3 on the bundled hub costs schools their adviser: the table says how many,
    and exactly as many schools are listed as losing one."""
    raw = fixtures.lancashire_problem()
    result = compare(*sides(raw, {"max_schools_per_company": 1}))
    rows = {r["label"]: r for r in table(result)}
    lost = sum(x["role"] == "adviser" for x in result["lost"]) - sum(x["role"] == "adviser" for x in result["gained"])
    assert int(rows["Schools with an adviser"]["change"]) == -lost < 0
