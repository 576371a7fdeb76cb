"""Checks across records that no single field can make: ids, references, and rules that cannot all hold.

They run once at the edge so that the core can index arrays by position and trust every reference.
References that are history rather than instructions (``current_advisers``, ``conflicts``) may name people or
schools that have since left; they are ignored, not refused, because last term's data is allowed to be stale.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.domain import Policy, Problem, Role
from models.errors import Fault, ProblemError


@dataclass(frozen=True)
class RecordIds:
    """The ids a problem declares and the pairs that reference them: enough for the reference checks."""

    schools: list[str]
    advisers: list[str]
    employers: list[str]
    pairs: list[tuple[str, str]]

    @classmethod
    def of(cls, problem: Problem) -> RecordIds:
        return cls(
            [s.id for s in problem.schools],
            [a.id for a in problem.advisers],
            [e.id for e in problem.employers],
            [(p.school, p.partner) for p in problem.pairs],
        )

    @classmethod
    def of_raw(cls, raw: Mapping[str, Any]) -> RecordIds:
        """Best effort on a document that failed field validation: records without a string id are skipped."""

        def ids(name: str) -> list[str]:
            records = raw.get(name)
            return (
                [r["id"] for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
                if isinstance(records, list)
                else []
            )

        given = raw.get("pairs")
        pairs = given if isinstance(given, list) else []
        return cls(
            ids("schools"),
            ids("advisers"),
            ids("employers"),
            [
                (p["school"], p["partner"])
                for p in pairs
                if isinstance(p, dict) and isinstance(p.get("school"), str) and isinstance(p.get("partner"), str)
            ],
        )


def check_problem(problem: Problem) -> None:
    """Raise ProblemError listing every cross-record fault, or return None for a sound problem."""
    faults = reference_faults(RecordIds.of(problem)) + _locked_faults(problem)
    if faults:
        raise ProblemError(faults)


def reference_faults(ids: RecordIds) -> list[Fault]:
    """Duplicate ids, an employer reusing an adviser's id, and pairs that name unknown records or repeat."""
    return [
        *_duplicates("schools", ids.schools),
        *_duplicates("advisers", ids.advisers),
        *_duplicates("employers", ids.employers),
        *_shared_partner_ids(ids),
        *_pair_references(ids),
    ]


def _duplicates(collection: str, ids: Sequence[str]) -> list[Fault]:
    if len(set(ids)) == len(ids):  # the usual case, in one C-level pass
        return []
    seen: dict[str, int] = {}
    faults = []
    for index, rid in enumerate(ids):
        if rid in seen:
            faults.append(
                Fault(f"{collection}[{index}] ({rid})", "id", f"Duplicate id; first used by {collection}[{seen[rid]}].")
            )
        else:
            seen[rid] = index
    return faults


def _shared_partner_ids(ids: RecordIds) -> list[Fault]:
    advisers = set(ids.advisers)
    return [
        Fault(f"employers[{i}] ({e})", "id", "Id already used by an adviser; partner ids must be unique.")
        for i, e in enumerate(ids.employers)
        if e in advisers
    ]


def _pair_references(ids: RecordIds) -> list[Fault]:
    schools, partners = set(ids.schools), set(ids.advisers) | set(ids.employers)
    faults: list[Fault] = []
    seen: dict[tuple[str, str], int] = {}
    for index, (school, partner) in enumerate(ids.pairs):
        name = f"pairs[{index}] ({school}~{partner})"
        if school not in schools:
            faults.append(Fault(name, "school", f"Unknown school id {school!r}."))
        if partner not in partners:
            faults.append(Fault(name, "partner", f"Unknown adviser or employer id {partner!r}."))
        if (school, partner) in seen:
            faults.append(Fault(name, "partner", f"Same pair as pairs[{seen[school, partner]}]."))
        seen.setdefault((school, partner), index)
    return faults


def _locked_faults(problem: Problem) -> list[Fault]:
    """Locked pairs that cannot all hold: an unavailable adviser, over a partner's capacity or a school's slots."""
    if not any(pair.locked for pair in problem.pairs):
        return []
    schools = {s.id: s for s in problem.schools}
    advisers = {a.id: a for a in problem.advisers}
    employers = {e.id: e for e in problem.employers}
    faults: list[Fault] = []
    locked_load: dict[str, float] = defaultdict(float)
    locked_slots: Counter[tuple[str, str]] = Counter()
    for index, pair in enumerate(problem.pairs):
        if not pair.locked or pair.school not in schools or not (pair.partner in advisers or pair.partner in employers):
            continue
        name = f"pairs[{index}] ({pair.school}~{pair.partner})"
        role: Role = "adviser" if pair.partner in advisers else "cornerstone"
        if role == "adviser" and advisers[pair.partner].unavailable:
            faults.append(Fault(name, "locked", f"Adviser {pair.partner!r} is unavailable this round."))
        locked_slots[pair.school, role] += 1
        locked_load[pair.partner] += 1.0 if role == "adviser" else (pair.load or schools[pair.school].load)
        faults += _over_capacity(name, pair.partner, locked_load[pair.partner], advisers, employers)
        faults += _over_slots(name, role, locked_slots[pair.school, role], schools[pair.school].kind, problem.policy)
    return faults


def _over_capacity(name: str, partner: str, load: float, advisers: dict, employers: dict) -> list[Fault]:
    capacity = advisers[partner].capacity if partner in advisers else employers[partner].capacity
    if load > capacity + 1e-9:
        return [Fault(name, "locked", f"Locked pairs need {load:g} of {partner!r}'s capacity of {capacity:g}.")]
    return []


def _over_slots(name: str, role: Role, count: int, kind: str, policy: Policy) -> list[Fault]:
    slots, per = policy.slots(role, kind), policy.slots_field(role, kind)
    if count > slots:
        return [Fault(name, "locked", f"The school has {count} locked {role} pairs but policy.{per} is {slots}.")]
    return []
