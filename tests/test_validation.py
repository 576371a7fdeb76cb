"""Every way ``models.load_problem`` refuses a bad problem: the stable code, the record, the field, the words,
and every fault of a document in one error."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from helpers import Record, adviser, document, employer, haversine_km, school

from models import Problem, ProblemError, load_problem

Triple = tuple[str, str, str]
RANGE_LAT = "Must be greater than or equal to -90 and less than or equal to 90."
RANGE_LON = "Must be greater than or equal to -180 and less than or equal to 180."
NOT_FINITE = "Special numeric values (nan or infinity) are not permitted."
ADVISER_CAPACITY = "Must be greater than or equal to 0 and less than or equal to 10."
EMPLOYER_CAPACITY = "Must be greater than or equal to 0 and less than or equal to 1000."
WEIGHT = "Must be greater than or equal to 0 and less than or equal to 1000."
RADIUS = "Must be greater than 0 and less than or equal to 200."
PRESTON = (53.7632, -2.7031)  # Preston town centre


def base() -> Record:
    """A sound document: two schools, two advisers of one company, one employer with two sites."""
    return document(
        [school("s0", 53.70, -2.60), school("s1", 53.80, -2.70)],
        [adviser("a0", 53.71, -2.61), adviser("a1", 53.79, -2.69, capacity=2)],
        [employer("e0", [(53.75, -2.65), (53.60, -2.50)], capacity=2)],
    )


def faults(raw: Any) -> list[Triple]:
    """The (record, field, message) of every fault ``load_problem`` reports, after checking the error's code."""
    with pytest.raises(ProblemError) as caught:
        load_problem(raw)
    err = caught.value
    assert err.code == "invalid_problem"
    assert err.as_dict()["code"] == "invalid_problem"
    return [(f.record, f.field, f.message) for f in err.faults]


def test_base_document_is_valid() -> None:
    problem = load_problem(base())
    assert isinstance(problem, Problem)
    assert [s.id for s in problem.schools] == ["s0", "s1"]
    assert [a.capacity for a in problem.advisers] == [1, 2]
    assert len(problem.employers[0].sites) == 2


def test_unknown_school_and_partner_ids_in_pairs() -> None:
    raw = base()
    raw["pairs"] = [
        {"school": "nope", "partner": "a0"},
        {"school": "s0", "partner": "ghost", "locked": True},
        {"school": "s1", "partner": "e0", "forbidden": True},
    ]
    assert faults(raw) == [
        ("pairs[0] (nope~a0)", "school", "Unknown school id 'nope'."),
        ("pairs[1] (s0~ghost)", "partner", "Unknown adviser or employer id 'ghost'."),
    ]


def test_duplicate_ids_are_all_reported() -> None:
    raw = base()
    raw["schools"].append(school("s0", 53.9, -2.8))
    raw["advisers"].append(adviser("a1", 53.7, -2.7))
    raw["employers"] += [employer("e0", [(53.7, -2.7)]), employer("a0", [(53.7, -2.7)])]
    assert faults(raw) == [
        ("schools[2] (s0)", "id", "Duplicate id; first used by schools[0]."),
        ("advisers[2] (a1)", "id", "Duplicate id; first used by advisers[1]."),
        ("employers[1] (e0)", "id", "Duplicate id; first used by employers[0]."),
        ("employers[2] (a0)", "id", "Id already used by an adviser; partner ids must be unique."),
    ]


def test_duplicate_pair() -> None:
    raw = base()
    raw["pairs"] = [
        {"school": "s0", "partner": "a0", "cost": 1.0},
        {"school": "s0", "partner": "a0", "forbidden": True},
    ]
    assert faults(raw) == [("pairs[1] (s0~a0)", "partner", "Same pair as pairs[0].")]


def test_coordinates_out_of_range() -> None:
    raw = base()
    raw["schools"][1]["lat"] = 90.5
    raw["advisers"][0]["lon"] = -180.01
    raw["employers"][0]["sites"][1]["lat"] = -91
    assert sorted(faults(raw)) == sorted(
        [
            ("schools[1] (s1)", "lat", RANGE_LAT),
            ("advisers[0] (a0)", "lon", RANGE_LON),
            ("employers[0] (e0).sites[1]", "lat", RANGE_LAT),
        ]
    )


def test_coordinates_on_the_boundary_are_valid() -> None:
    raw = base()
    raw["schools"][1].update(lat=90, lon=-180)
    raw["advisers"][0].update(lat=-90, lon=180)
    assert load_problem(raw).schools[1].lat == 90


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers(bad: float) -> None:
    raw = base()
    raw["schools"][0]["lat"] = bad
    raw["advisers"][1]["lon"] = bad
    raw["employers"][0]["capacity"] = bad
    assert sorted(faults(raw)) == sorted(
        [
            ("schools[0] (s0)", "lat", NOT_FINITE),
            ("advisers[1] (a1)", "lon", NOT_FINITE),
            ("employers[0] (e0)", "capacity", NOT_FINITE),
        ]
    )


def test_nan_from_json_text_is_refused() -> None:
    raw = json.loads(json.dumps(base()).replace('"lat": 53.7,', '"lat": NaN,', 1))
    assert faults(raw) == [("schools[0] (s0)", "lat", NOT_FINITE)]


def test_negative_capacity() -> None:
    raw = base()
    raw["advisers"][0]["capacity"] = -1
    raw["employers"][0]["capacity"] = -0.5
    assert faults(raw) == [
        ("advisers[0] (a0)", "capacity", ADVISER_CAPACITY),
        ("employers[0] (e0)", "capacity", EMPLOYER_CAPACITY),
    ]


def test_pair_both_locked_and_forbidden() -> None:
    raw = base()
    raw["pairs"] = [{"school": "s1", "partner": "a1", "locked": True, "forbidden": True}]
    assert faults(raw) == [("pairs[0] (s1~a1)", "locked", "A pair cannot be both locked and forbidden.")]


def test_locked_pairs_over_adviser_capacity() -> None:
    raw = base()
    raw["pairs"] = [
        {"school": "s0", "partner": "a0", "locked": True},
        {"school": "s1", "partner": "a0", "locked": True},
    ]
    assert faults(raw) == [("pairs[1] (s1~a0)", "locked", "Locked pairs need 2 of 'a0''s capacity of 1.")]


def test_locked_pairs_over_employer_places_count_loads() -> None:
    raw = base()
    raw["schools"][0]["load"] = 1.5
    raw["pairs"] = [
        {"school": "s0", "partner": "e0", "locked": True},
        {"school": "s1", "partner": "e0", "locked": True, "load": 1},
    ]
    assert faults(raw) == [("pairs[1] (s1~e0)", "locked", "Locked pairs need 2.5 of 'e0''s capacity of 2.")]


def test_locked_pairs_within_capacity_are_valid() -> None:
    raw = base()
    raw["pairs"] = [
        {"school": "s0", "partner": "a1", "locked": True},
        {"school": "s1", "partner": "a1", "locked": True},
    ]
    assert [p.locked for p in load_problem(raw).pairs] == [True, True]


def test_more_locked_pairs_than_advisers_per_school() -> None:
    raw = base()
    raw["pairs"] = [
        {"school": "s0", "partner": "a0", "locked": True},
        {"school": "s0", "partner": "a1", "locked": True},
    ]
    assert faults(raw) == [
        ("pairs[1] (s0~a1)", "locked", "The school has 2 locked adviser pairs but policy.advisers_per_school is 1.")
    ]
    raw["policy"]["advisers_per_school"] = 2
    assert len(load_problem(raw).pairs) == 2


def test_more_locked_cornerstones_than_cornerstones_per_school() -> None:
    raw = base()
    raw["employers"].append(employer("e1", [(53.7, -2.6)]))
    raw["policy"]["cornerstones_per_school"] = 0
    raw["pairs"] = [{"school": "s1", "partner": "e1", "locked": True}]
    assert faults(raw) == [
        (
            "pairs[0] (s1~e1)",
            "locked",
            "The school has 1 locked cornerstone pairs but policy.cornerstones_per_school is 0.",
        )
    ]


def test_locked_pair_with_unavailable_adviser() -> None:
    raw = base()
    raw["advisers"][1]["unavailable"] = True
    raw["pairs"] = [{"school": "s0", "partner": "a1", "locked": True}]
    assert faults(raw) == [("pairs[0] (s0~a1)", "locked", "Adviser 'a1' is unavailable this round.")]


def test_missing_coordinates_without_postcode() -> None:
    raw = base()
    raw["schools"][1] = {"id": "s1", "name": "No place"}
    raw["advisers"][0] = {"id": "a0", "company": "Acme", "lat": 53.7}
    assert faults(raw) == [
        ("schools[1] (s1)", "lat", "Missing coordinates: give lat and lon, or a postcode."),
        ("advisers[0] (a0)", "lon", "Give both lat and lon, or neither."),
    ]


def test_unknown_postcode_district() -> None:
    raw = base()
    raw["schools"][1] = {"id": "s1", "name": "Nowhere", "postcode": "ZZ99 9ZZ"}
    assert faults(raw) == [
        ("schools[1] (s1)", "postcode", "Unknown postcode district for 'ZZ99 9ZZ'; give lat and lon.")
    ]


@pytest.mark.parametrize("postcode", ["PR1 8JN", "pr18jn", " PR1  8JN "])
def test_postcode_only_school_is_placed_near_preston(postcode: str) -> None:
    raw = base()
    raw["schools"][1] = {"id": "s1", "name": "Preston school", "postcode": postcode}
    placed = load_problem(raw).schools[1]
    assert placed.lat == pytest.approx(53.76, abs=0.01)
    assert haversine_km(placed.lat, placed.lon, *PRESTON) < 3.0
    assert placed.postcode == "PR1 8JN"  # in its one written form, however typed


def test_postcode_only_adviser_is_placed_and_postcode_not_kept() -> None:
    raw = base()
    raw["advisers"][0] = {"id": "a0", "company": "Acme", "postcode": "PR1 1AA"}
    placed = load_problem(raw).advisers[0]
    assert haversine_km(placed.lat, placed.lon, *PRESTON) < 3.0
    assert not hasattr(placed, "postcode")


def test_coordinates_win_over_postcode() -> None:
    raw = base()
    raw["schools"][0]["postcode"] = "CA1 1AA"  # Carlisle, 120 km away; the given coordinates stand
    assert (load_problem(raw).schools[0].lat, load_problem(raw).schools[0].lon) == (53.70, -2.60)


def test_unknown_fields_in_records() -> None:
    raw = base()
    raw["schools"][0]["colour"] = "blue"
    raw["employers"][0]["sites"][0]["alt"] = 10
    raw["policy"]["max_advisers"] = 3
    raw["pairs"] = [{"school": "s0", "partner": "a0", "weight": 2}]
    assert sorted(faults(raw)) == sorted(
        [
            ("schools[0] (s0)", "colour", "Unknown field."),
            ("employers[0] (e0).sites[0]", "alt", "Unknown field."),
            ("problem", "policy.max_advisers", "Unknown field."),
            ("pairs[0] (s0~a0)", "weight", "Unknown field."),
        ]
    )


def test_top_level_extras_are_ignored() -> None:
    raw = base()
    raw["$schema"] = "https://example.org/problem.json"
    raw["notes"] = "autumn round"
    assert len(load_problem(raw).schools) == 2


@pytest.mark.parametrize("raw", [[], "problem", None, 3])
def test_not_an_object(raw: Any) -> None:
    assert faults(raw) == [("problem", "", "A problem is a JSON object.")]


def test_record_that_is_not_an_object() -> None:
    raw = base()
    raw["schools"][1] = "s1"
    found = faults(raw)
    assert [(r, m) for r, _, m in found] == [("schools[1]", "Invalid input type.")]


def test_missing_required_sections_and_fields() -> None:
    raw = base()
    del raw["schools"]
    del raw["advisers"][0]["company"]
    assert sorted(faults(raw)) == sorted(
        [
            ("problem", "schools", "Missing data for required field."),
            ("advisers[0] (a0)", "company", "Missing data for required field."),
        ]
    )


def test_policy_ranges() -> None:
    raw = base()
    raw["policy"] = {"advisers_per_school": 6, "weights": {"distance": -1}, "default_max_travel_km": 0}
    assert sorted(faults(raw)) == sorted(
        [
            (
                "problem",
                "policy.advisers_per_school",
                "Must be greater than or equal to 0 and less than or equal to 5.",
            ),
            ("problem", "policy.weights.distance", WEIGHT),
            ("problem", "policy.default_max_travel_km", RADIUS),
        ]
    )


def test_stale_history_references_are_accepted() -> None:
    raw = base()
    raw["schools"][0]["current_adviser"] = "left-last-year"  # an old file's one adviser
    raw["advisers"][0]["conflicts"] = ["closed-school"]
    problem = load_problem(raw)
    assert problem.schools[0].current_advisers == ("left-last-year",)
    assert problem.advisers[0].conflicts == ("closed-school",)


def test_every_field_fault_of_a_document_in_one_error() -> None:
    raw = base()
    raw["schools"][0]["lat"] = 123
    raw["schools"][1]["pct_fsm"] = 101
    raw["advisers"][1]["capacity"] = -2
    raw["employers"][0]["sites"] = []
    found = faults(raw)
    assert sorted(found) == sorted(
        [
            ("schools[0] (s0)", "lat", RANGE_LAT),
            ("schools[1] (s1)", "pct_fsm", "Must be greater than or equal to 0 and less than or equal to 100."),
            ("advisers[1] (a1)", "capacity", ADVISER_CAPACITY),
            ("employers[0] (e0)", "sites", "Shorter than minimum length 1."),
        ]
    )


def test_error_message_names_first_fault_and_counts_the_rest() -> None:
    raw = base()
    raw["advisers"][0]["capacity"] = -1
    raw["employers"][0]["capacity"] = -1
    with pytest.raises(ProblemError) as caught:
        load_problem(raw)
    assert str(caught.value) == f"advisers[0] (a0): capacity: {ADVISER_CAPACITY} (and 1 more)"
    assert caught.value.as_dict()["details"][1] == {
        "record": "employers[0] (e0)",
        "field": "capacity",
        "message": EMPLOYER_CAPACITY,
    }


def test_field_faults_and_cross_record_faults_reported_together() -> None:
    """One bad latitude must not hide a duplicate id and a dangling pair: the Hub Lead fixes the file in one go."""
    raw = base()
    raw["schools"][0]["lat"] = 123
    raw["advisers"].append(copy.deepcopy(raw["advisers"][0]))
    raw["pairs"] = [{"school": "gone", "partner": "a1"}]
    assert sorted(faults(raw)) == sorted(
        [
            ("schools[0] (s0)", "lat", RANGE_LAT),
            ("advisers[2] (a0)", "id", "Duplicate id; first used by advisers[0]."),
            ("pairs[0] (gone~a1)", "school", "Unknown school id 'gone'."),
        ]
    )


# --- documented ranges, ids and text (docs/problem-format.md, "Ranges") ---------------------------------------

BIG = 2**70
ID_RULE = "Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."


def test_numbers_beyond_their_ranges_name_record_and_field() -> None:
    raw = base()
    raw["schools"].append(school("s2", 53.72, -2.62, pupils=BIG))
    raw["schools"].append(school("s3", 53.73, -2.63, load=101))
    raw["advisers"][0]["capacity"] = BIG
    raw["employers"][0]["capacity"] = float(BIG)
    raw["employers"][0]["max_travel_km"] = 201
    raw["pairs"] = [{"school": "s0", "partner": "e0", "cost": 1e308}]
    raw["policy"] = {"max_schools_per_company": BIG, "weights": {"distance": 1e308}, "time_limit_s": 1e308}
    assert sorted(faults(raw)) == sorted([
        ("schools[2] (s2)", "pupils", "Must be greater than or equal to 0 and less than or equal to 10000."),
        ("schools[3] (s3)", "load", "Must be greater than 0 and less than or equal to 100."),
        ("advisers[0] (a0)", "capacity", ADVISER_CAPACITY),
        ("employers[0] (e0)", "capacity", EMPLOYER_CAPACITY),
        ("employers[0] (e0)", "max_travel_km", RADIUS),
        ("pairs[0] (s0~e0)", "cost", "Must be greater than or equal to -1000 and less than or equal to 1000."),
        ("problem", "policy.max_schools_per_company",
         "Must be greater than or equal to 0 and less than or equal to 1000."),
        ("problem", "policy.weights.distance", WEIGHT),
        ("problem", "policy.time_limit_s", "Must be greater than 0 and less than or equal to 3600."),
    ])


def test_fractional_and_boolean_integers_are_refused_not_truncated() -> None:
    raw = base()
    raw["schools"][0]["pupils"] = 156.9
    raw["advisers"][0]["capacity"] = True
    raw["policy"] = {"advisers_per_school": 1.5}
    assert sorted(faults(raw)) == sorted([
        ("schools[0] (s0)", "pupils", "Not a valid integer."),
        ("advisers[0] (a0)", "capacity", "Not a valid integer."),
        ("problem", "policy.advisers_per_school", "Not a valid integer."),
    ])


def test_values_at_the_limits_are_accepted() -> None:
    raw = base()
    raw["schools"][0].update(pupils=10_000, load=100)
    raw["advisers"][0].update(capacity=10, max_travel_km=200)
    raw["employers"][0]["capacity"] = 1000
    raw["pairs"] = [{"school": "s1", "partner": "e0", "cost": -1000}]
    raw["policy"] = {"max_schools_per_company": 1000, "weights": {"need": 1000}, "time_limit_s": 3600}
    problem = load_problem(raw)
    assert (problem.schools[0].pupils, problem.advisers[0].capacity, problem.employers[0].capacity) == (10_000, 10,
                                                                                                        1000.0)
    assert problem.policy.time_limit_s == 3600 and problem.pairs[0].cost == -1000


def test_ids_and_references_outside_the_safe_set() -> None:
    raw = base()
    raw["hub"]["id"] = "hub one"
    raw["schools"][0]["id"] = "s/0"
    raw["schools"][1]["current_adviser"] = "a 1"
    raw["advisers"][0]["conflicts"] = ["s1", "../s0"]
    raw["pairs"] = [{"school": "s1", "partner": "e\n0", "forbidden": True}]
    assert sorted(faults(raw)) == sorted([
        ("problem", "hub.id", ID_RULE),
        ("schools[0] (s/0)", "id", ID_RULE),
        ("schools[1] (s1)", "current_adviser", ID_RULE),
        ("advisers[0] (a0)", "conflicts", "Item 1: " + ID_RULE),
        ("pairs[0] (s1~e\n0)", "partner", ID_RULE),
        ("pairs[0] (s1~e\n0)", "partner", "Unknown adviser or employer id 'e\\n0'."),
    ])


def test_control_characters_in_text_fields() -> None:
    raw = base()
    raw["hub"]["name"] = "Hub\x00"
    raw["hub"]["priority_sectors"] = {"digital\t": 1.0}
    raw["schools"][0]["name"] = "Bell\x07School"
    raw["schools"][1]["needs"] = ["send", "\u2028ok", "\x9fbad"]
    raw["advisers"][0]["company"] = "Acme\r\nLtd"
    raw["employers"][0]["sectors"] = ["energy\ud800"]
    assert sorted(faults(raw)) == sorted([
        ("problem", "hub.name", "Must not contain control characters, tabs or line breaks (found U+0000 at "
                                "position 3)."),
        ("problem", "hub.priority_sectors.digital\t.key",
         "Must not contain control characters, tabs or line breaks (found U+0009 at position 7)."),
        ("schools[0] (s0)", "name",
         "Must not contain control characters, tabs or line breaks (found U+0007 at position 4)."),
        ("schools[1] (s1)", "needs",
         "Item 2: must not contain control characters, tabs or line breaks (found U+009F at position 0)."),
        ("advisers[0] (a0)", "company",
         "Must not contain control characters, tabs or line breaks (found U+000D at position 4)."),
        ("employers[0] (e0)", "sectors",
         "Item 0: must not contain control characters, tabs or line breaks (found U+D800 at position 6)."),
    ])


def test_ordinary_unicode_text_is_accepted() -> None:
    raw = base()
    raw["schools"][0]["name"] = "Ysgol Bro Ffestiniog – Café Zoë «Prep» 学校"
    raw["advisers"][0]["sectors"] = ["health & social care"]
    problem = load_problem(raw)
    assert problem.schools[0].name == "Ysgol Bro Ffestiniog – Café Zoë «Prep» 学校"


def test_flow_names_a_partner_whose_capacity_it_cannot_carry() -> None:
    """Domain objects built without ``load_problem`` can still hold any number: the flow names the partner."""
    import dataclasses

    import matcher

    problem = load_problem(base())
    huge = dataclasses.replace(problem.employers[0], capacity=float(BIG))
    with pytest.raises(ValueError) as caught:
        matcher.solve(dataclasses.replace(problem, employers=(huge,)))
    assert str(caught.value) == "The capacity of employer 'e0' (1.18059e+21) is too large for the min-cost flow."
