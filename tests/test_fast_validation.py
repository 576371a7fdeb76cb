"""The fast path of ``load_problem`` (``models.fast_records``) against marshmallow, the path it stands in for:
the same Problem for every document it accepts, and every document it does not accept plainly left to marshmallow,
so the faults and their words are those of the schemas."""

from __future__ import annotations

import copy
import dataclasses
import gc
import math
import pickle
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import fields, validate, validates_schema

import fixtures
from models import Problem, ProblemError, School, fast_records, load_problem
from models import schemas as schemas_module
from models.domain import BENCHMARKS
from models.fast_records import fast_problem
from models.geocode import locate
from models.schemas import AdviserSchema, EmployerSchema, PairSchema, SchoolSchema, SiteSchema, marshmallow_problem
from models.validation import check_problem

Outcome = tuple[str, Any]
SCHEMAS = {"schools": SchoolSchema(), "advisers": AdviserSchema(), "employers": EmployerSchema(), "pairs": PairSchema()}


def marshmallow_load(raw: dict[str, Any]) -> Problem:
    """``load_problem`` as it was before the fast path: marshmallow, then the checks across records."""
    problem = marshmallow_problem(raw)
    check_problem(problem)
    return problem


def assert_same(fast: Problem, slow: Problem) -> None:
    """Equal, and alike to the type of every value (``40 == 40.0``, but a mark is a float)."""
    assert fast == slow
    assert repr(fast) == repr(slow)


def outcome(load: Any, raw: dict[str, Any]) -> Outcome:
    """The Problem, or the faults (record, field, message), a loader makes of a copy of ``raw``."""
    try:
        return "problem", load(copy.deepcopy(raw))
    except ProblemError as err:
        return "faults", err.faults


def small() -> dict[str, Any]:
    """A sound document using every record field somewhere and leaving each optional one out somewhere: a school
    and an adviser placed by postcode, an old file's ``current_adviser``, an employer with two sites, pairs."""
    return {
        "hub": {"id": "h", "name": "Hub", "priority_sectors": {"digital": 0.8}},
        "policy": {"advisers_per_school": 2},
        "schools": [
            {"id": "s0", "name": "School 0", "lat": 53.7, "lon": -2.6, "kind": "send", "postcode": "pr1 8jn",
             "pupils": 900, "pct_fsm": 12.5, "gatsby": {"1": 40, "5": 55.5}, "sectors": ["digital", "digital"],
             "needs": ["autism"], "current_advisers": ["a1", "a1"], "current_cornerstones": ["e0"], "load": 2},
            {"id": "s1", "name": "", "postcode": "BB12 0AB", "pupils": None, "current_adviser": "a0",
             "current_advisers": ["a1", "a0"]},
            {"id": "s2", "name": "School 2", "lat": 54, "lon": -3, "current_adviser": None, "gatsby": {}},
        ],
        "advisers": [
            {"id": "a0", "name": "Ann", "company": "C1", "lat": 53.71, "lon": -2.61, "sectors": ["digital"],
             "skills": ["send"], "max_travel_km": 25, "capacity": 2, "conflicts": ["s2"], "unavailable": False},
            {"id": "a1", "company": "C1", "postcode": "PR1 8JN", "name": None, "max_travel_km": None},
        ],
        "employers": [
            {"id": "e0", "name": "Works", "sites": [{"lat": 53.75, "lon": -2.65}, {"lat": 53, "lon": -2}],
             "capacity": 3, "sectors": ["energy"], "max_travel_km": 40.5},
            {"id": "e1", "name": "Mill", "sites": [{"lat": 53.6, "lon": -2.5}], "capacity": 0.5},
        ],
        "pairs": [
            {"school": "s0", "partner": "a0", "locked": True, "cost": -3.5, "load": None},
            {"school": "s1", "partner": "e0", "forbidden": True, "load": 1.5, "cost": None, "locked": False},
            {"school": "s2", "partner": "e1"},
        ],
    }  # fmt: skip


def test_the_small_document_is_sound_and_taken_by_the_fast_path() -> None:
    raw = small()
    fast = fast_problem(copy.deepcopy(raw))
    assert fast is not None
    assert_same(fast, marshmallow_load(raw))
    assert fast.schools[1].current_advisers == ("a0", "a1")  # the old file's adviser first, no repeat
    assert (fast.schools[1].lat, fast.schools[1].lon) == locate("BB12 0AB")  # placed at its district's centroid
    assert (fast.advisers[1].lat, fast.advisers[1].lon) == locate("PR1 8JN")
    assert fast.schools[0].postcode == "PR1 8JN"
    assert fast.schools[0].gatsby == {"1": 40.0, "5": 55.5}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(fixtures.national_problem(400, 400, 30, max_schools_per_company=3), id="national"),
        pytest.param(fixtures.national_problem(300, 200, 0, seed=3), id="national-advisers-only"),
        pytest.param(fixtures.lancashire_problem(), id="lancashire"),
        pytest.param(fixtures.cumbria_problem(), id="cumbria"),
        pytest.param(fixtures.gap_problem(), id="gap"),
    ],
)
def test_fixtures_are_taken_by_the_fast_path_with_the_same_problem(raw: dict[str, Any]) -> None:
    fast = fast_problem(copy.deepcopy(raw))
    assert fast is not None
    assert_same(fast, marshmallow_load(raw))
    assert load_problem(raw) == fast


def test_load_problem_takes_the_fast_path_on_a_national_round(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = fixtures.national_problem(2000, 2000, 0)

    def refused(_: Any) -> Problem:
        raise AssertionError("the national round went to marshmallow")

    monkeypatch.setattr(schemas_module, "marshmallow_problem", refused)
    assert len(load_problem(raw).schools) == 2000


def test_a_refused_document_goes_to_marshmallow_for_its_faults() -> None:
    raw = small()
    raw["schools"][0]["pupils"] = 10_001
    raw["advisers"][1]["capacity"] = True
    assert fast_problem(raw) is None
    with pytest.raises(ProblemError) as caught:
        load_problem(raw)
    assert [(f.record, f.field, f.message) for f in caught.value.faults] == [
        ("schools[0] (s0)", "pupils", "Must be greater than or equal to 0 and less than or equal to 10000."),
        ("advisers[1] (a1)", "capacity", "Not a valid integer."),
    ]


# Values tried in any field: wrong types, bool for int, special floats, empty, control characters, too long.
COMMON: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, -0.0, 10**400, 2**63, math.nan, math.inf, -math.inf, "", "1", "x", "a b",
    "PR1 8JN", "bb120ab", "ZZ9 9ZZ", "x\ty", "x\n", "\u0085", "\ud800", "é", "a" * 64, "a" * 65, "a" * 128,
    "a" * 129, "a" * 200, "a" * 201, "-a", "a.b_c-d", [], [""], ["x"], ["x", "x"], ["x\x07"], ["a" * 65],
    ["bad id"], [1], ["x", None], {}, {"1": 50}, {"9": 50}, {"1": 100.5}, {"1": True}, {"1": "5"}, {"1": math.nan},
    {"1": 10**400}, {"1": 2**64}, {"lat": 1}, [{"lat": 1, "lon": 2}], [{"lat": 91, "lon": 2}],
    [{"lat": 10**400, "lon": 2}], [{"lat": 1}], [{"lat": 1, "lon": 2, "x": 3}],
    ["mainstream"], "mainstream", "college", "nursery", "SEND",
]  # fmt: skip


DROP = object()  # the field taken out of the record


def boundaries(field: fields.Field) -> list[Any]:
    """Each end of each of the field's ranges, one step inside and outside, as int and float."""
    values: list[Any] = []
    for rule in field.validators:
        if isinstance(rule, validate.Range):
            for end in (rule.min, rule.max):
                if end is not None:
                    values += [end, float(end), end - 1, end + 1, math.nextafter(end, -math.inf),
                               math.nextafter(end, math.inf)]  # fmt: skip
        if isinstance(rule, validate.Length) and rule.max is not None:
            values += ["b" * rule.max, "b" * (rule.max + 1)]
    return values


def record_fields(collection: str) -> list[str]:
    return [*SCHEMAS[collection].load_fields, "unknown_field"]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from([*BENCHMARKS, "lat", "x"]), inner),
    max_leaves=6,
)  # any value a JSON document can hold (NaN and infinities too, as Python's json reads them)


def _sites(record: dict[str, Any]) -> list[dict[str, Any]]:
    sites = record.get("sites")
    return [site for site in sites if isinstance(site, dict)] if isinstance(sites, list) else []


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """The small document with one to three fields of its records changed: a value set, a field dropped, an id
    repeated, coordinates taken away, or a site changed."""
    raw = small()
    for _ in range(draw(st.integers(1, 3))):
        collection = draw(st.sampled_from(sorted(SCHEMAS)))
        record = draw(st.sampled_from(raw[collection]))
        if not isinstance(record, dict):
            continue
        name = draw(st.sampled_from(record_fields(collection)))
        field = SCHEMAS[collection].load_fields.get(name)
        action = draw(st.sampled_from(["set", "set", "set", "drop", "repeat id", "unplace", "site", "record"]))
        if action == "drop":
            record.pop(name, None)
        elif action == "repeat id" and "id" in record:
            record["id"] = draw(st.sampled_from([r for r in raw[collection] if isinstance(r, dict)])).get("id")
        elif action == "unplace":
            record.pop("lat", None)
            record.pop("lon", None)
        elif action == "site" and collection == "employers" and _sites(record):
            site = draw(st.sampled_from(_sites(record)))
            site[draw(st.sampled_from(["lat", "lon", "x"]))] = draw(
                st.sampled_from([*COMMON, *boundaries(SiteSchema().load_fields["lat"])])
            )
        elif action == "record":
            raw[collection][raw[collection].index(record)] = draw(st.sampled_from([None, [], "x", 1]))
        else:
            extra = boundaries(field) if field is not None else []
            record[name] = draw(st.sampled_from(COMMON + extra) | JSON)
    if draw(st.booleans()):
        key = draw(st.sampled_from(["schools", "advisers", "employers", "pairs"]))
        raw[key] = draw(st.sampled_from([raw[key], None, {}, (), "x", [], tuple(raw[key])]))
    return raw


def assert_agree(raw: dict[str, Any]) -> bool:
    """What the fast path accepts, marshmallow accepts as the same records (it raises ProblemError otherwise);
    True when the fast path accepted."""
    accepted = fast_problem(copy.deepcopy(raw))
    if accepted is not None:
        assert_same(accepted, marshmallow_problem(copy.deepcopy(raw)))
    return accepted is not None


@pytest.mark.parametrize("collection", sorted(SCHEMAS))
def test_every_single_change_of_a_record_field_is_refused_or_loaded_alike(collection: str) -> None:
    """Every value of ``COMMON`` and of the field's own boundaries in every field of every record, and every field
    dropped: the fast path refuses it or builds marshmallow's Problem. Some must be accepted, or nothing is tested."""
    accepted = 0
    for index in range(len(small()[collection])):
        for name in record_fields(collection):
            field = SCHEMAS[collection].load_fields.get(name)
            for value in [*COMMON, *(boundaries(field) if field is not None else []), DROP]:
                raw = small()
                if value is DROP:
                    raw[collection][index].pop(name, None)
                else:
                    raw[collection][index][name] = value
                accepted += assert_agree(raw)
    assert accepted > 100


def test_every_single_change_of_a_site_is_refused_or_loaded_alike() -> None:
    accepted = 0
    for name in ("lat", "lon", "x"):
        for value in [
            *COMMON,
            *boundaries(SiteSchema().load_fields["lat"]),
            *boundaries(SiteSchema().load_fields["lon"]),
            DROP,
        ]:
            raw = small()
            site = raw["employers"][0]["sites"][1]
            if value is DROP:
                site.pop(name, None)
            else:
                site[name] = value
            accepted += assert_agree(raw)
    assert accepted > 10


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_both_paths_agree_on_mutated_documents(raw: dict[str, Any]) -> None:
    """Changes in combination (a place and a postcode, a lock and a forbid...): the same Problem or the same
    faults, record, field and words."""
    assert outcome(load_problem, raw) == outcome(marshmallow_load, raw)
    assert_agree(raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(fixtures.lancashire_problem(), id="lancashire"),
        pytest.param(fixtures.national_problem(300, 300, 20), id="national"),
        pytest.param({"hub": {"id": "h", "name": "Hub"}, "schools": []}, id="empty"),
    ],
)
def test_a_problem_pickles_by_columns_to_the_same_problem(raw: dict[str, Any]) -> None:
    problem = marshmallow_load(raw)
    _, args = problem.__reduce__()
    assert isinstance(args[2], dict) and list(args[2]) == [f.name for f in dataclasses.fields(School)]
    again = pickle.loads(pickle.dumps(problem, protocol=pickle.HIGHEST_PROTOCOL))
    assert_same(again, problem)
    assert all(type(record) is School for record in again.schools)


def test_a_schema_rule_the_fast_path_does_not_mirror_stops_it_being_built() -> None:
    """A new hook or validator in a schema cannot be silently skipped by the fast path."""

    class Stricter(PairSchema):
        @validates_schema
        def never_locked(self, data: dict, **_: Any) -> None:
            pass

    with pytest.raises(TypeError, match=r"Stricter has the hooks \{.*'never_locked'.*\}; the fast path mirrors"):
        fast_records._Records(Stricter(), {"not_both", "make"}, fast_records._finish_pairs)
    with pytest.raises(TypeError, match="no fast path for the validator <Email"):
        fast_records._field_loader(fields.String(validate=validate.Email()))
    with pytest.raises(TypeError, match="no fast path for Date fields"):
        fast_records._field_loader(fields.Date())


@pytest.mark.parametrize("enabled", [True, False])
def test_the_collector_is_left_as_it_was_whether_the_fast_path_accepts_or_refuses(enabled: bool) -> None:
    refused = small()
    refused["advisers"][0]["capacity"] = 11
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        for raw in (small(), refused):
            fast_problem(raw)
            assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()
