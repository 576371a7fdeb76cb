"""A newcomer mid-term: one adviser, Cornerstone Employer or school record, validated like a record import.

The record is checked by the same schema as an import of its collection (``models.schemas``), then against the
round: its id must be new to the round (a partner's id new to both advisers and employers, as in a problem file).
A conflict naming a school the round does not have is refused, as in a problem file.
"""

from __future__ import annotations

from typing import Any, Literal

from marshmallow import Schema, ValidationError

from models.domain import Adviser, CornerstoneEmployer, Problem, School
from models.errors import Fault, ProblemError, faults_from_marshmallow
from models.schemas import AdviserSchema, EmployerSchema, SchoolSchema

NewcomerKind = Literal["adviser", "employer", "school"]
NEWCOMER_KINDS: tuple[NewcomerKind, ...] = ("adviser", "employer", "school")
SCHEMAS: dict[str, type[Schema]] = {"adviser": AdviserSchema, "employer": EmployerSchema, "school": SchoolSchema}


def load_newcomer(kind: str, raw: Any, problem: Problem | None) -> Adviser | CornerstoneEmployer | School:
    """The validated newcomer record of ``kind``, or ProblemError naming each fault by record and field; with a
    ``problem``, also checked against the round (a new id, conflicts with its schools)."""
    if kind not in SCHEMAS:
        raise ProblemError([Fault("newcomer", "kind", f"Choose one of {', '.join(NEWCOMER_KINDS)}.")])
    rid = raw.get("id") if isinstance(raw, dict) else None
    record = f"{kind} ({rid})" if isinstance(rid, str) else kind
    if not isinstance(raw, dict):
        raise ProblemError([Fault(record, "", f"A newcomer {kind} is a JSON object.")])
    try:
        newcomer = SCHEMAS[kind]().load(raw)
    except ValidationError as err:
        faults = faults_from_marshmallow(err.messages, raw)
        raise ProblemError([Fault(record, f.record if not f.field else f.field, f.message) for f in faults]) from None
    faults = _round_faults(kind, newcomer, problem, record) if problem is not None else []
    if faults:
        raise ProblemError(faults)
    return newcomer


def _round_faults(
    kind: str, newcomer: Adviser | CornerstoneEmployer | School, problem: Problem, record: str
) -> list[Fault]:
    if kind == "school":
        taken = {s.id for s in problem.schools}
        where = "a school"
    else:
        taken = {a.id for a in problem.advisers} | {e.id for e in problem.employers}
        where = "an adviser or employer"
    faults = []
    if newcomer.id in taken:
        faults.append(Fault(record, "id", f"Id already used by {where} of the round; a newcomer needs a new id."))
    if isinstance(newcomer, Adviser):
        schools = {s.id for s in problem.schools}
        unknown = [c for c in newcomer.conflicts if c not in schools]
        if unknown:
            faults.append(Fault(record, "conflicts", f"Unknown school id {unknown[0]!r}."))
    return faults
