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
from models.domain import ROLES, Assignment, Problem, Solution, Unmatched
from models.domain import low_on_encounters as low_gatsby
from models.lifecycle import KEPT, ProposalState, RoundState, move_round
from models.schemas import PolicySchema, load_problem

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
    "current_advisers",
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
    pairs += [{"school": c.school, "partner": c.partner, "locked": True} for c in inherited(session, round_, records)]
    return {
        "hub": {"id": hub.id, "name": hub.name, "priority_sectors": hub.priority_sectors},
        "policy": round_.policy,
        **records,
        "pairs": pairs,
    }


@dataclasses.dataclass(frozen=True)
class Inherited:
    """A published pairing a round takes over as a locked pair, and the decision it carries."""

    school: str
    partner: str
    role: str
    state: ProposalState
    round_id: int | None


def inherited(session: Session, round_: t.Round, records: dict[str, list[dict]] | None = None) -> list[Inherited]:
    """The hub's published pairings this round keeps as locked pairs: the locked ones always (a lock holds into
    every later round until a coordinator decides otherwise), and every one when the round keeps the current
    pairings (a wave that moves nobody).

    A pairing the round has a decision on is the decision's; one whose partner left, became unavailable or has no
    room left is not locked (the solver keeps it where it can through continuity).
    """
    if records is None:
        records = {c: [record_dict(c, r) for r in session.scalars(select(tb).where(tb.hub_id == round_.hub_id))]
                   for c, tb in RECORD_TABLES.items()}
    rows = session.execute(
        select(t.Pairing, t.School.id)
        .join(t.School, t.Pairing.school_pk == t.School.pk)
        .where(t.Pairing.hub_id == round_.hub_id)
        .order_by(t.Pairing.id)
    ).all()
    wanted = [(p, school) for p, school in rows if p.locked or round_.keep_current]
    if not wanted:
        return []
    decided = list(
        session.scalars(
            select(t.Proposal).where(t.Proposal.round_id == round_.id, t.Proposal.state != ProposalState.PROPOSED)
        )
    )
    room = {a["id"]: (0 if a.get("unavailable") else a.get("capacity", 1)) for a in records["advisers"]}
    room |= {e["id"]: e["capacity"] for e in records["employers"]}
    loads = {s["id"]: s.get("load", 1.0) for s in records["schools"]}
    taken: Counter[tuple[str, str]] = Counter()
    for p in decided:
        if p.state in KEPT:
            load = 1.0 if p.role == "adviser" else loads.get(p.school_id, 1.0)
            room[p.partner_id] = room.get(p.partner_id, 0) - load
            taken[p.school_id, p.role] += 1
    seen = {(p.school_id, p.partner_id) for p in decided}
    policy = PolicySchema().load(round_.policy)  # stored validated; read for its slots per kind of school
    kinds = {s["id"]: s.get("kind", "mainstream") for s in records["schools"]}
    out = []
    for pairing, school in sorted(wanted, key=lambda row: (not row[0].locked, row[0].id)):  # locks first
        load = 1.0 if pairing.role == "adviser" else loads.get(school, 1.0)
        if (school, pairing.partner_id) in seen or room.get(pairing.partner_id, 0) < load:
            continue
        if taken[school, pairing.role] >= policy.slots(pairing.role, kinds.get(school, "mainstream")):
            continue
        room[pairing.partner_id] -= load
        taken[school, pairing.role] += 1
        state = ProposalState.LOCKED if pairing.locked else ProposalState.APPROVED
        out.append(Inherited(school, pairing.partner_id, pairing.role, state, pairing.round_id))
    return out


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
    carried = {(c.school, c.partner): c for c in inherited(session, round_)}
    undecided = t.Proposal.state == ProposalState.PROPOSED
    session.execute(delete(t.Proposal).where(t.Proposal.round_id == round_.id, undecided))
    session.execute(delete(t.Unmatched).where(t.Unmatched.round_id == round_.id))
    session.execute(delete(t.IdlePartner).where(t.IdlePartner.round_id == round_.id))
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
                **_carried_decision(session, carried.get((a.school, a.partner))),
            )
        )
    session.add_all(
        t.Unmatched(round_id=round_.id, school_id=u.school, role=u.role, reason=u.reason, detail=u.detail)
        for u in solution.unmatched
    )
    session.add_all(
        t.IdlePartner(
            round_id=round_.id,
            partner_id=i.partner,
            role=i.role,
            reason=i.reason,
            detail=i.detail,
            distance_km=i.distance_km,
            distance_band=i.distance_band,
        )
        for i in solution.idle
    )
    round_.solves = solve_no
    move_round(round_, RoundState.PROPOSED)
    round_.summary = {**round_.summary, **solution_summary(solution), "baseline": baseline(session, round_)}


def _carried_decision(session: Session, carried: Inherited | None) -> dict[str, Any]:
    """The decision a pairing inherited from a publish carries into its new proposal: already decided (approved,
    or locked), attributed to the round that published it, so only new and changed pairings wait for a decision."""
    if carried is None:
        return {}
    source = session.get(t.Round, carried.round_id) if carried.round_id is not None else None
    return {
        "state": carried.state,
        "decided_by": f"published in round {source.id} ({source.term})" if source else "published pairing",
        "decided_at": (source.published_at if source else None) or t.now(),
    }


def low_on_encounters(school: t.School) -> bool:
    """A school row low on Gatsby 5/6 (``models.domain.low_on_encounters``, the one definition)."""
    return low_gatsby(school.gatsby)


def baseline(session: Session, round_: t.Round) -> dict[str, int]:
    """The hub as the round found it, taken at each solve and before the round publishes (publishing replaces the
    current partners this is read from): schools low on Gatsby 5/6, and how many of them had a Cornerstone."""
    low = [s for s in session.scalars(select(t.School).where(t.School.hub_id == round_.hub_id)) if low_on_encounters(s)]
    return {"gatsby_low": len(low), "gatsby_low_with_cornerstone": sum(bool(s.current_cornerstones) for s in low)}


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
        "idle": len(solution.idle),
        "idle_reasons": dict(sorted(Counter(f"{i.role}:{i.reason}" for i in solution.idle).items())),
    }


def round_solution(session: Session, round_: t.Round) -> Solution | None:
    """The round's pairings as a Solution, for analyses that start from them: a published round's kept pairings, a
    proposed round's proposals that are not rejected (decided or not), with the open slots of its last solve; None
    for a round never solved."""
    if not round_.solves:
        return None
    states = KEPT if round_.state == RoundState.PUBLISHED else (*KEPT, ProposalState.PROPOSED)
    rows = session.scalars(
        select(t.Proposal).where(t.Proposal.round_id == round_.id, t.Proposal.state.in_(states)).order_by(t.Proposal.id)
    )
    found = tuple(
        Assignment(school=p.school_id, partner=p.partner_id, role=p.role, cost=p.cost,  # type: ignore[arg-type]
                   components=dict(p.components), distance_km=p.distance_km,
                   locked=p.state == ProposalState.LOCKED, alternatives=tuple(p.alternatives))
        for p in rows
    )
    left = tuple(
        Unmatched(school=u.school_id, role=u.role, reason=u.reason, detail=u.detail)  # type: ignore[arg-type]
        for u in session.scalars(select(t.Unmatched).where(t.Unmatched.round_id == round_.id).order_by(t.Unmatched.id))
    )
    summary = round_.summary or {}
    return Solution(status=str(summary.get("status", "optimal")), objective=float(summary.get("objective", 0.0)),
                    bound=float(summary.get("bound", 0.0)), gap=float(summary.get("gap", 0.0)), assignments=found,
                    unmatched=left, stats=dict(summary.get("stats", {})))


def publish(session: Session, round_: t.Round) -> dict[str, int]:
    """Make the round's kept pairings the hub's published ones (each school's current partners, every one of them
    per role, and next term's continuity); a locked proposal publishes a locked pairing, an approved one an
    unlocked pairing (a decision on a pairing in this round is how a coordinator unlocks it)."""
    kept = list(
        session.scalars(
            select(t.Proposal)
            .where(t.Proposal.round_id == round_.id, t.Proposal.state.in_(KEPT))
            .order_by(t.Proposal.id)
        )
    )
    by_school: dict[str, list[t.Proposal]] = {}
    for p in kept:
        by_school.setdefault(p.school_id, []).append(p)
    changed = 0
    for school in session.scalars(select(t.School).where(t.School.hub_id == round_.hub_id)):
        mine = by_school.get(school.id, [])
        before = {role: school.partners(role) for role in ROLES}
        existing = {(p.role, p.partner_id): p for p in school.pairings}
        rows = []
        for p in mine:  # a pairing that stays keeps its row (the unique key would refuse a second one)
            row = existing.get((p.role, p.partner_id))
            row = row or t.Pairing(hub_id=round_.hub_id, role=p.role, partner_id=p.partner_id)
            row.round_id, row.locked = round_.id, p.state == ProposalState.LOCKED
            rows.append(row)
        school.pairings = rows
        changed += sum(before[role] != school.partners(role) for role in ROLES)  # per role, as ever
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
        session.add_all(new_row(table, hub_id, columns(r)) for r in records)
        counts[collection] = len(records)
    return counts


def new_row(table: Any, hub_id: str, values: dict[str, Any]) -> Any:
    """A new record row; a school's current partners (plain attributes backed by the pairings table) are set
    after the row knows its hub."""
    current = {k: values.pop(k) for k in ("current_advisers", "current_cornerstones") if k in values}
    row = table(hub_id=hub_id, **values)
    for key, partners in current.items():
        setattr(row, key, partners)
    return row


def columns(record: Any) -> dict[str, Any]:
    """A validated domain record as column values: tuples become JSON lists and nested records (an employer's
    sites) plain dicts. One level deep by hand: ``dataclasses.asdict`` deep-copies every string and number, a
    third of a 130,000-row import's time."""
    return {f.name: _column_value(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _column_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [dataclasses.asdict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value
