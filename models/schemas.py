"""Marshmallow schemas of the problem and solution formats (the contract in docs/problem-format.md).

Field checks live here; checks across records (duplicate ids, references, locked pairs against capacity) live in
``models.validation``. ``load_problem`` runs both, so a Problem that exists is a valid one.
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from models.domain import (
    BENCHMARKS,
    SCHOOL_KINDS,
    Adviser,
    Assignment,
    CornerstoneEmployer,
    Hub,
    Idle,
    KindRules,
    Pair,
    Policy,
    Problem,
    School,
    Site,
    Solution,
    Weights,
)
from models.errors import Fault, ProblemError, faults_from_marshmallow
from models.geocode import locate
from models.postcodes import RULE as POSTCODE_RULE
from models.postcodes import normalise as normalise_postcode

LAT = validate.Range(min=-90, max=90)
LON = validate.Range(min=-180, max=180)
PERCENT = validate.Range(min=0, max=100)

# The documented range of every number of the problem format and the API (docs/problem-format.md, "Ranges"), in
# one place. Each is far beyond what a real hub could need and small enough that no value can overflow the
# database's integer columns or the solvers' 64-bit arithmetic, so a bad number is refused at the edge, naming
# its record and field, instead of failing every later solve of the hub.
MAX_PUPILS = 10_000  # the largest English schools have about 4,000
MAX_ADVISER_CAPACITY = 10  # schools one volunteer takes (advisers give about 8 hours a month to each)
MAX_EMPLOYER_CAPACITY = 1_000  # schools, or encounter places when pairs carry loads
MAX_LOAD = 100  # places one school (or one pair) takes of an employer's capacity
MAX_TRAVEL_KM = 200  # radii: a day's return journey
MAX_WEIGHT = 1_000  # each cost component's weight
MAX_PARTNERS_PER_SCHOOL = 5  # advisers_per_school, cornerstones_per_school
MAX_SCHOOLS_PER_COMPANY = 1_000
MAX_TIME_LIMIT_S = 3_600  # an hour: a solve is a background job, never an overnight batch
MAX_PAIR_COST = 1_000  # an imported pair cost lies in [-MAX_PAIR_COST, MAX_PAIR_COST]
MAX_ROW_ID = 2**31 - 1  # proposal and round ids, versions: 32-bit integer columns (PostgreSQL INTEGER)
MAX_PAGE = 1_000_000  # page numbers: (page - 1) * per_page stays far inside 64 bits
MAX_PER_PAGE = 500  # records per page
MAX_PROPOSALS_PER_PAGE = 1_000
MAX_WAIT_S = 120  # ?wait= seconds for a solve
MAX_GAP_PLACES = 20  # places per role a gap search lists (each one a re-solve)
MAX_ID_LENGTH = 64
MAX_LIST_ITEM_LENGTH = 64  # each sector, need, skill or referenced id of a record's lists
MAX_NAME_LENGTH = 200
MAX_POSTCODE_LENGTH = 16
MAX_REASON_LENGTH = 1_000

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # hub and record ids: safe in a URL path, a file name, a CSV cell
ID_RULE = "Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."
_ID = re.compile(ID_PATTERN)
# Characters no text field may hold: C0 controls (tab and newline too: every field is one line), DEL, C1 controls,
# lone surrogates and the two non-characters XML cannot carry. One such character in a school's name would make
# the hub's map SVG ill-formed for every user, and an exported CSV ragged.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

WEIGHT = validate.Range(0, MAX_WEIGHT)
RADIUS = validate.Range(0, MAX_TRAVEL_KM, min_inclusive=False)
LOAD = validate.Range(0, MAX_LOAD, min_inclusive=False)
ROW_ID = validate.Range(1, MAX_ROW_ID)


def control_character(text: str) -> str | None:
    """``"U+0007 at position 3"`` for the first character no text field may hold, or None for clean text."""
    found = _CONTROL.search(text)
    return None if found is None else f"U+{ord(found.group()):04X} at position {found.start()}"


class OneLine(validate.Validator):
    """The validator of every text field: one line of printable text, no control characters (see ``_CONTROL``)."""

    error = "Must not contain control characters, tabs or line breaks (found {found})."

    def __call__(self, value: str) -> str:
        found = control_character(value)
        if found is not None:
            raise ValidationError(self.error.format(found=found))
        return value


def text(max_length: int = MAX_NAME_LENGTH, min_length: int | None = None, **kwargs: Any) -> fields.String:
    """A one-line text field of ``min_length`` (if given) to ``max_length`` characters."""
    return fields.String(validate=[validate.Length(min=min_length, max=max_length), OneLine()], **kwargs)


class Postcode(fields.String):
    """A UK postcode in its one written form (``bb120ab`` is stored as ``BB12 0AB``), so a search finds it however
    it was typed; text that is not a full postcode is refused."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text_ = OneLine()(super()._deserialize(value, attr, data, **kwargs))
        found = normalise_postcode(text_)
        if found is None:
            raise ValidationError(f"Not a UK postcode: {text_!r}. {POSTCODE_RULE}")
        return found


def record_id(**kwargs: Any) -> fields.String:
    """An id of a hub or a record (also a reference to one), in the URL-safe character set of ``ID_PATTERN``."""
    return fields.String(validate=validate.Regexp(ID_PATTERN, error=ID_RULE), **kwargs)


def integer(low: int, high: int, **kwargs: Any) -> fields.Integer:
    """A strict integer in [low, high]: 156.9 or "156" is refused, not truncated to 156."""
    return fields.Integer(strict=True, validate=validate.Range(low, high), **kwargs)


def _finite(**kwargs: Any) -> fields.Float:
    """A float that refuses NaN and infinities, which would silently poison distances and costs."""
    return fields.Float(allow_nan=False, **kwargs)


def _id() -> fields.String:
    return record_id(required=True)


class Names(fields.Field):
    """A list of short one-line strings (sectors, skills) or of ids (``ids=True``), checked in one pass.

    A plain ``fields.List(fields.String(validate=...))`` runs a field and a validator per element; at 10,000
    records that alone cost a national round most of a second.
    """

    default_error_messages: ClassVar[dict[str, str]] = {  # type: ignore[misc,assignment]  # marshmallow's own idiom
        "invalid": "Must be a list of non-empty strings of at most 64 characters.",
        "control": "Item {index}: must not contain control characters, tabs or line breaks (found {found}).",
        "id": "Item {index}: " + ID_RULE,
    }

    def __init__(self, *, ids: bool = False, **kwargs: Any):
        self.ids = ids
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list) or not all(
            isinstance(v, str) and 0 < len(v) <= MAX_LIST_ITEM_LENGTH for v in value
        ):
            raise self.make_error("invalid")
        for index, item in enumerate(value):
            if self.ids and not _ID.match(item):
                raise self.make_error("id", index=index)
            if not self.ids and (found := control_character(item)) is not None:
                raise self.make_error("control", index=index, found=found)
        return value


class Marks(fields.Field):
    """Compass self-assessment marks: {"1".."8": percent}, checked in one pass for the same reason as Names."""

    default_error_messages: ClassVar[dict[str, str]] = {  # type: ignore[misc,assignment]  # marshmallow's own idiom
        "invalid": 'Must map benchmarks "1" to "8" to finite numbers from 0 to 100.'
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, float]:
        if not isinstance(value, dict) or not all(
            k in BENCHMARKS
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and PERCENT.min <= v <= PERCENT.max
            for k, v in value.items()
        ):
            raise self.make_error("invalid")
        return {k: float(v) for k, v in value.items()}


def _names(**kwargs: Any) -> Names:
    """Sectors, needs, skills: short one-line names."""
    return Names(**kwargs)


def _ids(**kwargs: Any) -> Names:
    """References to records by id (conflicts, current Cornerstone Employers)."""
    return Names(ids=True, **kwargs)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class HubSchema(_Strict):
    id = _id()
    name = text(required=True)
    priority_sectors = fields.Dict(
        keys=text(MAX_ID_LENGTH), values=_finite(validate=validate.Range(0, 1)), load_default=dict
    )

    @post_load
    def make(self, data: dict, **_: Any) -> Hub:
        return Hub(**data)


class WeightsSchema(_Strict):
    distance = _finite(validate=WEIGHT, load_default=Weights.distance)
    sector = _finite(validate=WEIGHT, load_default=Weights.sector)
    need = _finite(validate=WEIGHT, load_default=Weights.need)
    continuity = _finite(validate=WEIGHT, load_default=Weights.continuity)

    @post_load
    def make(self, data: dict, **_: Any) -> Weights:
        return Weights(**data)


class KindRulesSchema(_Strict):
    """One kind's rules (docs/problem-format.md, "Rules per kind of school"); every key optional, null = the
    policy's own."""

    advisers_per_school = integer(0, MAX_PARTNERS_PER_SCHOOL, allow_none=True, load_default=None)
    cornerstones_per_school = integer(0, MAX_PARTNERS_PER_SCHOOL, allow_none=True, load_default=None)
    required_skills = _names(load_default=list)
    max_travel_km = _finite(validate=RADIUS, allow_none=True, load_default=None)

    @post_load
    def make(self, data: dict, **_: Any) -> KindRules:
        return KindRules(**{**data, "required_skills": tuple(dict.fromkeys(data["required_skills"]))})


class Kinds(fields.Field):
    """``{kind: rules}``; an unknown kind is refused by name, and a fault in its rules names the kind and the key
    (``policy.kinds.college.max_travel_km``), where a ``fields.Dict`` would report an anonymous "value"."""

    default_error_messages: ClassVar[dict[str, str]] = {  # type: ignore[misc,assignment]  # marshmallow's own idiom
        "invalid": "Must map kinds of school to their rules.",
        "kind": f"Unknown kind of school; the kinds are {', '.join(SCHOOL_KINDS)}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, KindRules]:
        if not isinstance(value, dict):
            raise self.make_error("invalid")
        errors: dict[str, Any] = {}
        rules: dict[str, KindRules] = {}
        for kind, raw in value.items():
            if kind not in SCHOOL_KINDS:
                errors[str(kind)] = [self.error_messages["kind"]]
                continue
            if not isinstance(raw, dict):
                errors[kind] = ["Must be an object of rules."]
                continue
            try:
                rules[kind] = KindRulesSchema().load(raw)
            except ValidationError as error:
                errors[kind] = error.messages
        if errors:
            raise ValidationError(errors)
        return rules


class PolicySchema(_Strict):
    weights = fields.Nested(WeightsSchema, load_default=Weights)
    default_max_travel_km = _finite(validate=RADIUS, load_default=Policy.default_max_travel_km)
    advisers_per_school = integer(0, MAX_PARTNERS_PER_SCHOOL, load_default=Policy.advisers_per_school)
    cornerstones_per_school = integer(0, MAX_PARTNERS_PER_SCHOOL, load_default=Policy.cornerstones_per_school)
    max_schools_per_company = integer(0, MAX_SCHOOLS_PER_COMPANY, allow_none=True, load_default=None)
    needs_require_skills = fields.Boolean(load_default=Policy.needs_require_skills)
    distinct_sectors = fields.Boolean(load_default=Policy.distinct_sectors)
    time_limit_s = _finite(
        validate=validate.Range(0, MAX_TIME_LIMIT_S, min_inclusive=False), load_default=Policy.time_limit_s
    )
    kinds = Kinds(load_default=dict)

    @post_load
    def make(self, data: dict, **_: Any) -> Policy:
        return Policy(**data)


class _Located(_Strict):
    """Records with a place: coordinates, or a postcode placed at its district centroid."""

    lat = _finite(validate=LAT, allow_none=True, load_default=None)
    lon = _finite(validate=LON, allow_none=True, load_default=None)

    @validates_schema
    def place(self, data: dict, **_: Any) -> None:
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ValidationError("Give both lat and lon, or neither.", "lat" if data.get("lat") is None else "lon")
        if data.get("lat") is None:
            postcode = data.get("postcode")
            if not postcode:
                raise ValidationError("Missing coordinates: give lat and lon, or a postcode.", "lat")
            if locate(postcode) is None:
                raise ValidationError(f"Unknown postcode district for {postcode!r}; give lat and lon.", "postcode")

    @staticmethod
    def placed(data: dict) -> dict:
        if data.get("lat") is None:
            data["lat"], data["lon"] = locate(data["postcode"])  # type: ignore[misc]
        return data


class SchoolSchema(_Located):
    id = _id()
    name = text(required=True)
    postcode = Postcode(validate=validate.Length(max=MAX_POSTCODE_LENGTH), allow_none=True, load_default=None)
    kind = fields.String(validate=validate.OneOf(SCHOOL_KINDS), load_default="mainstream")
    pupils = integer(0, MAX_PUPILS, allow_none=True, load_default=None)
    pct_fsm = _finite(validate=PERCENT, allow_none=True, load_default=None)
    gatsby = Marks(load_default=dict)
    sectors = _names(load_default=list)
    needs = _names(load_default=list)
    current_advisers = _ids(load_default=list)
    current_adviser = record_id(allow_none=True, load_only=True, metadata={"description": "old files' one adviser"})
    current_cornerstones = _ids(load_default=list)
    load = _finite(validate=LOAD, load_default=1.0)  # type: ignore[assignment]  # the metaclass takes fields off the class

    @post_load
    def make(self, data: dict, **_: Any) -> School:
        data = self.placed(data)
        legacy = data.pop("current_adviser", None)  # a file from before two advisers: a one-element list
        data["current_advisers"] = ([legacy] if legacy else []) + list(data["current_advisers"])
        for key in ("sectors", "needs", "current_advisers", "current_cornerstones"):
            data[key] = tuple(dict.fromkeys(data[key])) if key.startswith("current") else tuple(data[key])
        return School(**data)


class AdviserSchema(_Located):
    id = _id()
    name = text(allow_none=True, load_default=None)
    company = fields.String(required=True, validate=[validate.Length(min=1, max=128), OneLine()])
    postcode = Postcode(
        validate=validate.Length(max=MAX_POSTCODE_LENGTH), allow_none=True, load_default=None, load_only=True
    )
    sectors = _names(load_default=list)
    skills = _names(load_default=list)
    max_travel_km = _finite(validate=RADIUS, allow_none=True, load_default=None)
    capacity = integer(0, MAX_ADVISER_CAPACITY, load_default=1)
    conflicts = _ids(load_default=list)
    unavailable = fields.Boolean(load_default=False)

    @post_load
    def make(self, data: dict, **_: Any) -> Adviser:
        data = self.placed(data)
        data.pop("postcode", None)
        for key in ("sectors", "skills", "conflicts"):
            data[key] = tuple(data[key])
        return Adviser(**data)


class SiteSchema(_Strict):
    lat = _finite(required=True, validate=LAT)
    lon = _finite(required=True, validate=LON)

    @post_load
    def make(self, data: dict, **_: Any) -> Site:
        return Site(**data)


class EmployerSchema(_Strict):
    id = _id()
    name = text(required=True)
    sectors = _names(load_default=list)
    sites = fields.List(fields.Nested(SiteSchema), required=True, validate=validate.Length(min=1))
    capacity = _finite(required=True, validate=validate.Range(0, MAX_EMPLOYER_CAPACITY))
    max_travel_km = _finite(validate=RADIUS, allow_none=True, load_default=None)

    @post_load
    def make(self, data: dict, **_: Any) -> CornerstoneEmployer:
        data["sites"], data["sectors"] = tuple(data["sites"]), tuple(data["sectors"])
        return CornerstoneEmployer(**data)


class PairSchema(_Strict):
    school = _id()
    partner = _id()
    cost = _finite(validate=validate.Range(-MAX_PAIR_COST, MAX_PAIR_COST), allow_none=True, load_default=None)
    load = _finite(validate=LOAD, allow_none=True, load_default=None)  # type: ignore[assignment]  # as above
    forbidden = fields.Boolean(load_default=False)
    locked = fields.Boolean(load_default=False)

    @validates_schema
    def not_both(self, data: dict, **_: Any) -> None:
        if data.get("locked") and data.get("forbidden"):
            raise ValidationError("A pair cannot be both locked and forbidden.", "locked")

    @post_load
    def make(self, data: dict, **_: Any) -> Pair:
        return Pair(**data)


def _records(schema: type[Schema], **kwargs: Any) -> fields.Nested:
    """A list of records: ``Nested(many=True)`` loads them in one schema pass (a sixth faster than
    ``List(Nested)`` at 10,000 records), with the list's own message for a value that is not a list."""
    return fields.Nested(schema, many=True, error_messages={"type": "Not a valid list."}, **kwargs)


class ProblemSchema(_Strict):
    hub = fields.Nested(HubSchema, required=True)
    policy = fields.Nested(PolicySchema, load_default=Policy)
    schools = _records(SchoolSchema, required=True)
    advisers = _records(AdviserSchema, load_default=list)
    employers = _records(EmployerSchema, load_default=list)
    pairs = _records(PairSchema, load_default=list)

    class Meta:
        unknown = EXCLUDE  # top-level extras (a "$schema", a "notes") are harmless; records stay strict

    @post_load
    def make(self, data: dict, **_: Any) -> Problem:
        records = {k: tuple(data[k]) for k in ("schools", "advisers", "employers", "pairs")}
        return Problem(hub=data["hub"], policy=data["policy"], **records)


def load_problem(raw: Any) -> Problem:
    """Validate a problem document (already parsed JSON) and build the Problem, or raise ProblemError.

    A document whose records the fast path (``models.fast_records``) accepts plainly is built by it, several times
    faster at national scale; any other is loaded by ``ProblemSchema``, which words every fault.
    """
    from models.fast_records import fast_problem
    from models.validation import check_problem

    if not isinstance(raw, dict):
        raise ProblemError([Fault("problem", "", "A problem is a JSON object.")])
    problem = fast_problem(raw)
    if problem is None:
        problem = marshmallow_problem(raw)
    check_problem(problem)
    return problem


def marshmallow_problem(raw: dict) -> Problem:
    """The Problem of a document loaded field by field by ``ProblemSchema``, before the checks across records;
    ProblemError with every field fault (and the reference faults the raw records show) when it fails."""
    from models.validation import RecordIds, reference_faults

    try:
        return ProblemSchema().load(raw)
    except ValidationError as err:
        field_faults = faults_from_marshmallow(err.messages, raw)
        raise ProblemError(field_faults + reference_faults(RecordIds.of_raw(raw))) from None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def dump_solution(solution: Solution) -> dict:
    """The solution as a JSON-able dict in the documented format (docs/problem-format.md).

    Written out by hand rather than by a marshmallow schema: output needs no validation, and a national round's
    10,000 assignments took 0.17 s through the schema against 0.03 s here.
    """
    return {
        "status": solution.status,
        "objective": _round(solution.objective),
        "bound": _round(solution.bound),
        "gap": _round(solution.gap, 6),
        "assignments": [_assignment(a) for a in solution.assignments],
        "unmatched": [
            {"school": u.school, "role": u.role, "reason": u.reason, "detail": u.detail} for u in solution.unmatched
        ],
        "idle": [_idle(i) for i in solution.idle],
        "stats": solution.stats,
    }


def _idle(i: Idle) -> dict:
    return {
        "partner": i.partner,
        "role": i.role,
        "reason": i.reason,
        "detail": i.detail,
        "distance_km": _round(i.distance_km, 2),
        "distance_band": i.distance_band,
    }


def _assignment(a: Assignment) -> dict:
    return {
        "school": a.school,
        "partner": a.partner,
        "role": a.role,
        "cost": _round(a.cost),
        "components": {k: _round(v) for k, v in a.components.items()},
        "distance_km": _round(a.distance_km, 2),
        "locked": a.locked,
        "alternatives": [dict(x) for x in a.alternatives],
    }


class _PreviousAssignmentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    school = _id()
    partner = _id()
    role = fields.String(required=True, validate=validate.OneOf(["adviser", "cornerstone"]))


class _PreviousSolutionSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    assignments = fields.List(fields.Nested(_PreviousAssignmentSchema), required=True)


def load_previous(raw: Any) -> Solution:
    """A previous solution document, read back for an incremental re-solve (only its pairings matter)."""
    try:
        data = _PreviousSolutionSchema().load(raw if isinstance(raw, dict) else {})
    except ValidationError as err:
        raise ProblemError(faults_from_marshmallow(err.messages, raw)) from None
    found = tuple(
        Assignment(school=a["school"], partner=a["partner"], role=a["role"], cost=0.0, components={})
        for a in data["assignments"]
    )
    return Solution(status="previous", objective=0.0, bound=0.0, gap=0.0, assignments=found, unmatched=())
