"""The states of a round, a solve job and a proposal, and every move between them: the one place that knows them.

The API, the queue's tasks and the reaper all move rounds and jobs through these functions, so a rule such as
"a failed solve puts its round back where it was" is written once. A move the lifecycle does not allow raises
``TransitionError``, whose message says what the user can do instead (the API answers it with 409).

A round: ``draft`` (no solve yet) -> ``solving`` -> ``proposed`` (proposals to decide; may be solved again) ->
``published`` (its kept pairings are the hub's current ones; final). A solve that fails or is lost returns the
round to ``proposed`` if an earlier solve succeeded, else to ``draft``.

A job is a solve (``kind`` "solve": it moves its round to ``solving`` and back) or an analysis of the round (any
other kind: where to recruit, a newcomer's placements, a policy comparison), which reads the round and leaves it
where it is. A job: ``queued`` (waiting for a worker) -> ``running`` -> ``succeeded`` or ``failed``; a queued job
may also fail (the broker lost it for good, its round was deleted). Outcomes are final. Job moves are conditional
updates, so that two processes racing for one job (a twice-delivered message, a worker and the supervisor) cannot
both win.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import tables as t
from models.audit import Action, record_event


class RoundState(StrEnum):
    DRAFT = "draft"
    SOLVING = "solving"
    PROPOSED = "proposed"
    PUBLISHED = "published"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProposalState(StrEnum):
    PROPOSED = "proposed"  # undecided
    APPROVED = "approved"
    REJECTED = "rejected"
    LOCKED = "locked"


SOLVE = "solve"
JOB_OVER = (JobState.SUCCEEDED, JobState.FAILED)
JOB_ACTIVE = (JobState.QUEUED, JobState.RUNNING)
KEPT = (ProposalState.APPROVED, ProposalState.LOCKED)

ROUND_MOVES: dict[RoundState, tuple[RoundState, ...]] = {
    RoundState.DRAFT: (RoundState.SOLVING,),
    RoundState.SOLVING: (RoundState.PROPOSED, RoundState.DRAFT),
    RoundState.PROPOSED: (RoundState.SOLVING, RoundState.PUBLISHED),
    RoundState.PUBLISHED: (),
}
JOB_MOVES: dict[JobState, tuple[JobState, ...]] = {
    JobState.QUEUED: (JobState.RUNNING, JobState.FAILED),
    JobState.RUNNING: (JobState.SUCCEEDED, JobState.FAILED),
    JobState.SUCCEEDED: (),
    JobState.FAILED: (),
}

# why a round cannot move to a state, in words a Hub Lead can act on
REFUSALS: dict[tuple[RoundState, RoundState], str] = {
    (RoundState.SOLVING, RoundState.SOLVING): "The round is already being solved; poll its job.",
    (RoundState.PUBLISHED, RoundState.SOLVING): "The round is published; create a new round to match again.",
    (RoundState.DRAFT, RoundState.PUBLISHED): "Only a proposed round can be published; this one is draft.",
    (RoundState.SOLVING, RoundState.PUBLISHED): "Only a proposed round can be published; this one is solving.",
    (RoundState.PUBLISHED, RoundState.PUBLISHED): "Only a proposed round can be published; this one is published.",
}


class TransitionError(Exception):
    """A move the lifecycle does not allow; the message is meant for the user."""


def move_round(round_: t.Round, to: RoundState) -> None:
    """Move a round to ``to`` or raise TransitionError saying why it cannot go there."""
    here = RoundState(round_.state)
    if to not in ROUND_MOVES[here]:
        raise TransitionError(REFUSALS.get((here, to), f"A {here} round cannot become {to}."))
    round_.state = to


def editable(round_: t.Round) -> None:
    """Refuse a change to a round's policy while it is solving or once it is published."""
    if round_.state in (RoundState.SOLVING, RoundState.PUBLISHED):
        raise TransitionError(f"The round is {round_.state}; its policy can no longer change.")


def decidable(round_: t.Round) -> None:
    """Refuse a decision on a round that is published (final) or solving (its proposals are being replaced)."""
    if round_.state == RoundState.PUBLISHED:
        raise TransitionError("The round is published; its decisions are final.")
    if round_.state == RoundState.SOLVING:
        raise TransitionError("The round is being solved; decide once the new proposals are in.")


def new_job(round_: t.Round, kind: str = SOLVE, requested_by: str | None = None) -> t.Job:
    """A queued job for a solve of the round, which moves to ``solving`` (the caller adds and commits both)."""
    move_round(round_, RoundState.SOLVING)
    return t.Job(id=str(uuid.uuid4()), round_id=round_.id, kind=kind, state=JobState.QUEUED, created_at=t.now(),
                 requested_by=requested_by)


def new_analysis_job(round_: t.Round, kind: str, params: dict[str, Any], requested_by: str | None = None) -> t.Job:
    """A queued analysis of the round; the round stays where it is, and any number of analyses may wait at once."""
    if kind == SOLVE:
        raise ValueError("a solve is created with new_job")
    if round_.state == RoundState.DRAFT:
        raise TransitionError("The round has not been solved yet; solve it before analysing it.")
    return t.Job(id=str(uuid.uuid4()), round_id=round_.id, kind=kind, params=params, state=JobState.QUEUED,
                 created_at=t.now(), requested_by=requested_by)


def report_progress(session: Session, job_id: str, progress: float, stage: str) -> None:
    """Record how far a running job is (0 to 1) and what it is doing, in words its readers see."""
    session.execute(
        update(t.Job).where(t.Job.id == job_id, t.Job.state == JobState.RUNNING)
        .values(progress=min(max(float(progress), 0.0), 1.0), stage=stage[:200]),
        execution_options={"synchronize_session": False},
    )


def claim_job(session: Session, job_id: str, **values: Any) -> bool:
    """Move a queued job to ``running`` with ``values`` (its worker, pid, deadline) if it is still queued.

    One conditional UPDATE: when a message is delivered twice, or the supervisor gives up on a job as a worker
    takes it, exactly one of them wins, on SQLite and on PostgreSQL alike.
    """
    return _move_if(session, job_id, (JobState.QUEUED,), JobState.RUNNING, started_at=t.now(), **values)


def finish_job(session: Session, job_id: str, result: dict[str, Any]) -> bool:
    """Record a running job's success and its audit event; False (nothing written) if the supervisor failed it
    meanwhile."""
    if not _move_if(session, job_id, (JobState.RUNNING,), JobState.SUCCEEDED, finished_at=t.now(), result=result,
                    progress=1.0):
        return False
    counts: dict[str, Any] = {k: result.get(k) for k in ("status", "assignments", "unmatched") if k in result}
    _audit(session, job_id, (Action.SOLVE_SUCCEEDED, Action.ANALYSIS_SUCCEEDED), counts)
    return True


def fail_job(session: Session, job_id: str, message: str, result: dict[str, Any] | None = None) -> bool:
    """Record a job's failure and, for a solve, put its round back to its state before it; False if it was already
    over.

    The round returns to ``proposed`` when an earlier solve left proposals (their decisions are untouched), else to
    ``draft``. Only a round still ``solving`` moves: it has exactly one active solve, this one (an analysis that
    fails leaves the round alone, even while a solve of it runs).
    """
    if not _move_if(session, job_id, JOB_ACTIVE, JobState.FAILED, finished_at=t.now(), message=message[:2000],
                    result=result or {}):
        return False
    round_, kind = _audit(session, job_id, (Action.SOLVE_FAILED, Action.ANALYSIS_FAILED), {"message": message[:2000]})
    if round_ is not None and kind == SOLVE and round_.state == RoundState.SOLVING:
        move_round(round_, RoundState.PROPOSED if round_.solves else RoundState.DRAFT)
    return True


def _audit(
    session: Session, job_id: str, actions: tuple[Action, Action], details: dict[str, Any]
) -> tuple[t.Round | None, str]:
    """A job's outcome in the audit log (``actions``: a solve's, an analysis'), in the transaction that records it,
    by whoever asked for the job; returns the job's round and kind."""
    job = session.execute(select(t.Job.round_id, t.Job.requested_by, t.Job.kind).where(t.Job.id == job_id)).one()
    round_ = session.get(t.Round, job.round_id)
    if round_ is not None:
        action, extra = (actions[0], {}) if job.kind == SOLVE else (actions[1], {"kind": job.kind})
        record_event(session, round_.hub_id, job.requested_by or "service", action, f"rounds/{round_.id}",
                     {"job": job_id, **extra, **details})
    return round_, job.kind


def _move_if(session: Session, job_id: str, here: tuple[JobState, ...], to: JobState, **values: Any) -> bool:
    assert all(to in JOB_MOVES[h] for h in here), f"no move from {here} to {to}"
    moved = session.execute(
        update(t.Job).where(t.Job.id == job_id, t.Job.state.in_(here)).values(state=to, **values),
        execution_options={"synchronize_session": False},
    )
    return moved.rowcount == 1  # type: ignore[attr-defined]
