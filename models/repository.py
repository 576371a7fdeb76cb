"""Rows to and from the problem format: the only place that knows both the tables and the domain.

A round's problem is built from the hub's rows in the problem format and then validated by ``load_problem``, like
any file, so the service cannot feed the core anything a file could not. Decisions become rules: approved and
locked pairings are locked pairs of the next solve, rejected ones forbidden pairs.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models import tables as t
from models.domain import Problem, Solution
from models.lifecycle import KEPT, ProposalState, RoundState, move_round
from models.schemas import load_problem

RECORD_TABLES: dict[str, type[t.School] | type[t.Adviser] | type[t.Employer]] = {
    "schools": t.School,
    "advisers": t.Adviser,
    "employers": t.Employer,
}

SCHOOL_FIELDS = (
    "id",
    "name",
    "lat",
    "lon",
    "postcode",
    "kind",
    "pupils",
    "pct_fsm",
    "gatsby",
    "sectors",
    "needs",
    "load",
    "current_adviser",
    "current_cornerstones",
)
ADVISER_FIELDS = (
    "id",
    "name",
    "company",
    "sectors",
    "skills",
    "lat",
    "lon",
    "max_travel_km",
    "capacity",
    "conflicts",
    "unavailable",
)
EMPLOYER_FIELDS = ("id", "name", "sectors", "sites", "capacity", "max_travel_km")
FIELDS = {"schools": SCHOOL_FIELDS, "advisers": ADVISER_FIELDS, "employers": EMPLOYER_FIELDS}


def record_dict(collection: str, row: Any) -> dict[str, Any]:
    """A row as a problem-format record, leaving out empty optional fields."""
    out = {name: getattr(row, name) for name in FIELDS[collection]}
    return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}


def problem_document(session: Session, round_: t.Round) -> dict[str, Any]:
    """The problem-format document of a round: the hub's active records, the round's policy, decisions as pair rules.

    Retired records are left out, with the decisions that name them; schools keep naming a retired current partner
    (history the validator ignores), so the solve reports that pairing as changed and gives the school a new one.
    """
    hub = session.get(t.Hub, round_.hub_id)
    assert hub is not None
    records = {
        collection: [
            record_dict(collection, r)
            for r in session.scalars(
                select(table).where(table.hub_id == hub.id, table.retired_at.is_(None)).order_by(table.id)
            )
        ]
        for collection, table in RECORD_TABLES.items()
    }
    active = {r["id"] for rows in records.values() for r in rows}  # retired records take no new pairings
    decided = [
        p
        for p in session.scalars(
            select(t.Proposal)
            .where(t.Proposal.round_id == round_.id, t.Proposal.state.in_((*KEPT, ProposalState.REJECTED)))
            .order_by(t.Proposal.id)
        )
        if p.school_id in active and p.partner_id in active
    ]
    pairs = [
        {
            "school": p.school_id,
            "partner": p.partner_id,
            **({"locked": True} if p.state in KEPT else {"forbidden": True}),
        }
        for p in decided
    ]
    if round_.keep_current:
        pairs += _current_as_locked(records, round_.policy, decided)
    return {
        "hub": {"id": hub.id, "name": hub.name, "priority_sectors": hub.priority_sectors},
        "policy": round_.policy,
        **records,
        "pairs": pairs,
    }


def _current_as_locked(records: dict[str, list[dict]], policy: dict, decided: list[t.Proposal]) -> list[dict]:
    """Published pairings as locked pairs (a wave keeps them), while the partner still has room and is available.

    A pairing whose adviser left, became unavailable or lost capacity is not locked; it is left to the solver,
    which keeps it where it can through continuity.
    """
    room = {a["id"]: (0 if a.get("unavailable") else a.get("capacity", 1)) for a in records["advisers"]}
    room |= {e["id"]: e["capacity"] for e in records["employers"]}
    loads = {s["id"]: s.get("load", 1.0) for s in records["schools"]}
    taken_by: dict[tuple[str, str], int] = {}
    for p in decided:
        if p.state in KEPT:
            room[p.partner_id] = room.get(p.partner_id, 0) - (
                1.0 if p.role == "adviser" else loads.get(p.school_id, 1.0)
            )
            taken_by[p.school_id, p.role] = taken_by.get((p.school_id, p.role), 0) + 1
    pairs_seen = {(p.school_id, p.partner_id) for p in decided}
    slots = {"adviser": policy.get("advisers_per_school", 1), "cornerstone": policy.get("cornerstones_per_school", 1)}
    pairs = []
    for school in records["schools"]:
        current = [("adviser", school["current_adviser"])] if school.get("current_adviser") else []
        current += [("cornerstone", c) for c in school.get("current_cornerstones", [])]
        for role, partner in current:
            load = 1.0 if role == "adviser" else school.get("load", 1.0)
            taken = taken_by.get((school["id"], role), 0)
            if (school["id"], partner) in pairs_seen or room.get(partner, 0) < load or taken >= slots[role]:
                continue
            room[partner] -= load
            taken_by[school["id"], role] = taken + 1
            pairs.append({"school": school["id"], "partner": partner, "locked": True})
    return pairs


def round_problem(session: Session, round_: t.Round) -> Problem:
    """The validated Problem of a round (raises ProblemError naming the record when the hub's data is unsound)."""
    return load_problem(problem_document(session, round_))


def store_solution(session: Session, round_: t.Round, solution: Solution) -> None:
    """Replace the round's undecided proposals and unmatched slots with the solution's; decisions stay.

    Decided pairings (approved, locked) come back from the solver as locked pairs and keep their rows, decision and
    version; rejected rows stay as the record of a decision. Everything else is rewritten in this transaction.
    """
    decided = {
        (p.school_id, p.partner_id): p
        for p in session.scalars(
            select(t.Proposal).where(t.Proposal.round_id == round_.id, t.Proposal.state != ProposalState.PROPOSED)
        )
    }
    undecided = t.Proposal.state == ProposalState.PROPOSED
    session.execute(delete(t.Proposal).where(t.Proposal.round_id == round_.id, undecided))
    session.execute(delete(t.Unmatched).where(t.Unmatched.round_id == round_.id))
    solve_no = round_.solves + 1
    for a in solution.assignments:
        row = decided.get((a.school, a.partner))
        if row is not None:
            row.cost, row.components, row.alternatives = a.cost, a.components, list(a.alternatives)
            continue
        session.add(
            t.Proposal(
                round_id=round_.id,
                school_id=a.school,
                partner_id=a.partner,
                role=a.role,
                cost=a.cost,
                components=a.components,
                distance_km=a.distance_km,
                alternatives=list(a.alternatives),
                solve_no=solve_no,
            )
        )
    session.add_all(
        t.Unmatched(round_id=round_.id, school_id=u.school, role=u.role, reason=u.reason, detail=u.detail)
        for u in solution.unmatched
    )
    round_.solves = solve_no
    move_round(round_, RoundState.PROPOSED)
    round_.summary = {**round_.summary, **solution_summary(solution)}  # keeps what a wave recorded


def solution_summary(solution: Solution) -> dict[str, Any]:
    """What a round keeps of its last solve besides the proposals: status, objective, proof and statistics."""
    return {
        "status": solution.status,
        "objective": solution.objective,
        "bound": solution.bound,
        "gap": solution.gap,
        "stats": solution.stats,
        "assignments": len(solution.assignments),
        "unmatched": len(solution.unmatched),
        "unmatched_reasons": dict(sorted(Counter(f"{u.role}:{u.reason}" for u in solution.unmatched).items())),
    }


def publish(session: Session, round_: t.Round) -> dict[str, int]:
    """Make the round's kept pairings the schools' current partners (next term's continuity)."""
    kept = list(session.scalars(select(t.Proposal).where(t.Proposal.round_id == round_.id, t.Proposal.state.in_(KEPT))))
    advisers = {p.school_id: p.partner_id for p in kept if p.role == "adviser"}
    cornerstones: dict[str, list[str]] = {}
    for p in sorted(kept, key=lambda p: p.id):
        if p.role == "cornerstone":
            cornerstones.setdefault(p.school_id, []).append(p.partner_id)
    changed = 0
    for school in session.scalars(select(t.School).where(t.School.hub_id == round_.hub_id)):
        new_adviser, new_cs = advisers.get(school.id), cornerstones.get(school.id, [])
        changed += (school.current_adviser != new_adviser) + (list(school.current_cornerstones) != new_cs)
        school.current_adviser, school.current_cornerstones = new_adviser, new_cs
    move_round(round_, RoundState.PUBLISHED)
    return {"pairings": len(kept), "schools_changed": changed}


def create_hub(session: Session, hub_id: str, name: str, problem: Problem | None = None) -> dict[str, int]:
    """A new hub, with the records of a validated problem when one is given (fixtures, a migration from files)."""
    if session.get(t.Hub, hub_id) is not None:
        raise ValueError(f"hub {hub_id!r} already exists")
    priority = dict(problem.hub.priority_sectors) if problem else {}
    session.add(t.Hub(id=hub_id, name=name, priority_sectors=priority))
    session.flush()
    counts = {}
    for collection, table in RECORD_TABLES.items():
        records = getattr(problem, collection) if problem else ()
        session.add_all(table(hub_id=hub_id, **columns(r)) for r in records)
        counts[collection] = len(records)
    return counts


def columns(record: Any) -> dict[str, Any]:
    """A validated domain record as column values (tuples become JSON lists)."""
    values = dataclasses.asdict(record)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
