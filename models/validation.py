"""Checks across records that no single field can make: ids, references, and rules that cannot all hold.

They run once at the edge so that the core can index arrays by position and trust every reference.
References that are history rather than instructions (``current_adviser``, ``conflicts``) may name people or
schools that have since left; they are ignored, not refused, because last term's data is allowed to be stale.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from models.domain import Policy, Problem
from models.errors import Fault, ProblemError


def check_problem(problem: Problem) -> None:
    """Raise ProblemError listing every cross-record fault, or return None for a sound problem."""
    faults = [
        *_duplicates("schools", (s.id for s in problem.schools)),
        *_duplicates("advisers", (a.id for a in problem.advisers)),
        *_duplicates("employers", (e.id for e in problem.employers)),
        *_shared_partner_ids(problem),
        *_pair_faults(problem),
    ]
    if faults:
        raise ProblemError(faults)


def _duplicates(collection: str, ids: Iterable[str]) -> list[Fault]:
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


def _shared_partner_ids(problem: Problem) -> list[Fault]:
    advisers = {a.id for a in problem.advisers}
    return [
        Fault(f"employers[{i}] ({e.id})", "id", "Id already used by an adviser; partner ids must be unique.")
        for i, e in enumerate(problem.employers)
        if e.id in advisers
    ]


def _pair_faults(problem: Problem) -> list[Fault]:
    schools = {s.id: s for s in problem.schools}
    advisers = {a.id: a for a in problem.advisers}
    employers = {e.id: e for e in problem.employers}
    faults: list[Fault] = []
    seen: dict[tuple[str, str], int] = {}
    locked_load: dict[str, float] = defaultdict(float)
    locked_slots: Counter[tuple[str, str]] = Counter()
    for index, pair in enumerate(problem.pairs):
        name = f"pairs[{index}] ({pair.school}~{pair.partner})"
        if pair.school not in schools:
            faults.append(Fault(name, "school", f"Unknown school id {pair.school!r}."))
        if pair.partner not in advisers and pair.partner not in employers:
            faults.append(Fault(name, "partner", f"Unknown adviser or employer id {pair.partner!r}."))
        if (pair.school, pair.partner) in seen:
            faults.append(Fault(name, "partner", f"Same pair as pairs[{seen[pair.school, pair.partner]}]."))
        seen.setdefault((pair.school, pair.partner), index)
        if not pair.locked or pair.school not in schools:
            continue
        if pair.partner in advisers and advisers[pair.partner].unavailable:
            faults.append(Fault(name, "locked", f"Adviser {pair.partner!r} is unavailable this round."))
        if pair.partner in advisers or pair.partner in employers:
            role = "adviser" if pair.partner in advisers else "cornerstone"
            locked_slots[pair.school, role] += 1
            locked_load[pair.partner] += 1.0 if role == "adviser" else (pair.load or schools[pair.school].load)
            faults += _over_capacity(name, pair.partner, locked_load[pair.partner], advisers, employers)
            faults += _over_slots(name, role, locked_slots[pair.school, role], problem.policy)
    return faults


def _over_capacity(name: str, partner: str, load: float, advisers: dict, employers: dict) -> list[Fault]:
    capacity = advisers[partner].capacity if partner in advisers else employers[partner].capacity
    if load > capacity + 1e-9:
        return [Fault(name, "locked", f"Locked pairs need {load:g} of {partner!r}'s capacity of {capacity:g}.")]
    return []


def _over_slots(name: str, role: str, count: int, policy: Policy) -> list[Fault]:
    slots = policy.advisers_per_school if role == "adviser" else policy.cornerstones_per_school
    per = "advisers_per_school" if role == "adviser" else "cornerstones_per_school"
    if count > slots:
        return [Fault(name, "locked", f"The school has {count} locked {role} pairs but policy.{per} is {slots}.")]
    return []
