"""Domain objects of a matching round: validated once at the edge, then trusted by the core.

They are frozen dataclasses so a problem cannot change under a solver; the marshmallow schemas in
``models.schemas`` (with ``models.fast_records``, which applies their rules a column at a time) are the only way in
from JSON, and they build exactly these objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar

SchoolKind = Literal["mainstream", "send", "ap", "college"]
SCHOOL_KINDS: tuple[SchoolKind, ...] = ("mainstream", "send", "ap", "college")
Role = Literal["adviser", "cornerstone"]
ROLES: tuple[Role, Role] = ("adviser", "cornerstone")
BENCHMARKS = tuple(str(b) for b in range(1, 9))
ENCOUNTER_BENCHMARKS = ("5", "6")  # encounters with employers, experiences of workplaces: what Cornerstones give
LOW_MARK = 50.0  # a Compass percentage below this is low


def low_on_encounters(gatsby: Mapping[str, float]) -> bool:
    """Below 50% on Gatsby benchmark 5 or 6 in the Compass self-assessment: the schools Cornerstones are for (a
    benchmark not reported is not counted low)."""
    return any(float(gatsby.get(b, 100)) < LOW_MARK for b in ENCOUNTER_BENCHMARKS)


@dataclass(frozen=True)
class Hub:
    """A Careers Hub; ``priority_sectors`` are the LEP's sectors with a weight in [0, 1]."""

    id: str
    name: str
    priority_sectors: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Weights:
    """Weights of the named cost components; each component is normalised to [0, 1] before weighting."""

    distance: float = 1.0
    sector: float = 0.5
    need: float = 0.5
    continuity: float = 0.5


@dataclass(frozen=True)
class KindRules:
    """A policy's rules for one kind of school; a rule left None (or empty) is the policy's own.

    ``required_skills`` are skills every adviser of such a school must have; ``max_travel_km`` caps a partner's
    reach to such a school (a partner's own radius still applies when it is smaller).
    """

    advisers_per_school: int | None = None
    cornerstones_per_school: int | None = None
    required_skills: tuple[str, ...] = ()
    max_travel_km: float | None = None


@dataclass(frozen=True)
class Policy:
    """The rules of a round. Defaults are documented in docs/problem-format.md; ``kinds`` refines them per kind
    of school (``KindRules``), and without it every kind follows the policy's own rules."""

    weights: Weights = field(default_factory=Weights)
    default_max_travel_km: float = 30.0
    advisers_per_school: int = 1
    cornerstones_per_school: int = 1
    max_schools_per_company: int | None = None
    needs_require_skills: bool = False
    distinct_sectors: bool = False
    time_limit_s: float = 60.0
    kinds: dict[str, KindRules] = field(default_factory=dict)

    def slots(self, role: Role, kind: str) -> int:
        """Partners of ``role`` a school of ``kind`` takes: its kind's rule, else the policy's."""
        return self._slot_rule(role, kind)[1]

    def slots_field(self, role: Role, kind: str) -> str:
        """The name of the policy field that sets those slots, for messages."""
        return self._slot_rule(role, kind)[0]

    def _slot_rule(self, role: Role, kind: str) -> tuple[str, int]:
        name = "advisers_per_school" if role == "adviser" else "cornerstones_per_school"
        own = getattr(self.kinds.get(kind, KindRules()), name)
        return (name, getattr(self, name)) if own is None else (f"kinds.{kind}.{name}", own)

    def max_slots(self, role: Role, kinds: Iterable[str] = SCHOOL_KINDS) -> int:
        """The most partners of ``role`` a school of one of ``kinds`` takes (0: the role is switched off)."""
        return max((self.slots(role, kind) for kind in kinds), default=0)


@dataclass(frozen=True)
class School:
    """A school or college; ``gatsby`` holds Compass percentages keyed "1".."8"; ``current_advisers`` and
    ``current_cornerstones`` are last term's partners (a school may have up to two advisers)."""

    id: str
    name: str
    lat: float
    lon: float
    kind: SchoolKind = "mainstream"
    postcode: str | None = None
    pupils: int | None = None
    pct_fsm: float | None = None
    gatsby: dict[str, float] = field(default_factory=dict)
    sectors: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    current_advisers: tuple[str, ...] = ()
    current_cornerstones: tuple[str, ...] = ()
    load: float = 1.0


@dataclass(frozen=True)
class Adviser:
    """An Enterprise Adviser: a volunteer whose home coordinates are personal data."""

    id: str
    company: str
    lat: float
    lon: float
    name: str | None = None
    sectors: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    max_travel_km: float | None = None
    capacity: int = 1
    conflicts: tuple[str, ...] = ()
    unavailable: bool = False


@dataclass(frozen=True)
class Site:
    """One workplace of a Cornerstone Employer; distance to a school is to its nearest site."""

    lat: float
    lon: float


@dataclass(frozen=True)
class CornerstoneEmployer:
    """A Cornerstone Employer; ``capacity`` counts schools, or encounter places when pairs carry loads."""

    id: str
    name: str
    sites: tuple[Site, ...]
    capacity: float
    sectors: tuple[str, ...] = ()
    max_travel_km: float | None = None


@dataclass(frozen=True)
class Pair:
    """A rule or an imported score for one (school, partner) pair."""

    school: str
    partner: str
    cost: float | None = None
    load: float | None = None
    forbidden: bool = False
    locked: bool = False


@dataclass(frozen=True)
class Problem:
    """Everything one matching round needs; ids are unique and every reference resolves."""

    hub: Hub
    policy: Policy
    schools: tuple[School, ...]
    advisers: tuple[Adviser, ...] = ()
    employers: tuple[CornerstoneEmployer, ...] = ()
    pairs: tuple[Pair, ...] = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the records a column per field, not an object and a state dict each.

        ``hubmatch solve`` validates in a forked child and hands the Problem back through a pipe. Pickle's own
        form writes a state dict per record and rebuilds it field by field; the columns are a fifth smaller and
        quicker both ways (CPU, best of 11: 5,000 schools and 5,000 advisers dump in 17 ms and load in 21 ms
        against 20 and 24 ms; 20,000 and 20,000 in about 90 and 95 ms against 110 and 105 ms; a fresh process's
        one load of those, as the command's parent meets it, 0.13 s against 0.18 s: ``bench/validation.py``).
        """
        tables = zip(_RECORD_CLASSES, (self.schools, self.advisers, self.employers, self.pairs), strict=True)
        return _unpickle_problem, (self.hub, self.policy, *(record_columns(cls, records) for cls, records in tables))


R = TypeVar("R")
Column = Sequence[Any]
_RECORD_CLASSES = (School, Adviser, CornerstoneEmployer, Pair)


def record_columns(cls: type, records: Sequence[Any]) -> dict[str, list[Any]]:
    """Each field of the record dataclass ``cls`` as one list over ``records``."""
    return {f.name: [record.__dict__[f.name] for record in records] for f in fields(cls)}


def records_from_columns(cls: type[R], columns: Mapping[str, Column]) -> list[R]:
    """Records of the frozen dataclass ``cls``, one per row of ``columns`` (one sequence per field, every field).

    It bypasses ``__init__`` as ``pickle`` and ``copy`` do: a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``, about twice the cost of filling the new record's ``__dict__``, and the values
    here are already checked (unpickled, or validated by ``models.fast_records``). The record classes have no
    ``__post_init__`` for this to skip.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]  # cls is a dataclass
    if set(columns) != set(names):
        raise TypeError(f"{cls.__name__} takes the fields {names}, not {tuple(columns)}")
    new = object.__new__
    made = []
    for row in zip(*(columns[name] for name in names), strict=True):
        record = new(cls)
        state = record.__dict__
        for name, value in zip(names, row, strict=True):
            state[name] = value
        made.append(record)
    return made


def _unpickle_problem(
    hub: Hub,
    policy: Policy,
    schools: Mapping[str, Column],
    advisers: Mapping[str, Column],
    employers: Mapping[str, Column],
    pairs: Mapping[str, Column],
) -> Problem:
    return Problem(
        hub,
        policy,
        tuple(records_from_columns(School, schools)),
        tuple(records_from_columns(Adviser, advisers)),
        tuple(records_from_columns(CornerstoneEmployer, employers)),
        tuple(records_from_columns(Pair, pairs)),
    )


@dataclass(frozen=True)
class Assignment:
    """One proposed pairing with the components of its cost, so a coordinator can see why."""

    school: str
    partner: str
    role: Role
    cost: float
    components: dict[str, float]
    distance_km: float | None = None
    locked: bool = False
    alternatives: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Unmatched:
    """A school slot left without a partner, and why (see ``matcher.explain`` for the reasons)."""

    school: str
    role: Role
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Idle:
    """A willing partner (available, with capacity) given no school, and why (see ``matcher.explain``).

    ``distance_km`` is the nearest school's exact distance when no school is in reach: an adviser's is location
    data, for admins only; ``distance_band`` is the band of the distance from the adviser's area, for anyone."""

    partner: str
    role: Role
    reason: str
    detail: str = ""
    distance_km: float | None = None
    distance_band: str | None = None


@dataclass(frozen=True)
class Solution:
    """The outcome of ``matcher.solve``: plain data, ready for a file, an API response or the database."""

    status: str
    objective: float
    bound: float
    gap: float
    assignments: tuple[Assignment, ...]
    unmatched: tuple[Unmatched, ...]
    stats: dict[str, object] = field(default_factory=dict)
    idle: tuple[Idle, ...] = ()
