"""The states of a round, a solve job and a proposal, and every move between them: the one place that knows them.

The API, the queue's tasks and the reaper all move rounds and jobs through these functions, so a rule such as
"a failed solve puts its round back where it was" is written once. A move the lifecycle does not allow raises
``TransitionError``, whose message says what the user can do instead (the API answers it with 409).

A round: ``draft`` (no solve yet) -> ``solving`` -> ``proposed`` (proposals to decide; may be solved again) ->
``published`` (its kept pairings are the hub's current ones; final). A solve that fails or is lost returns the
round to ``proposed`` if an earlier solve succeeded, else to ``draft``.

A job: ``queued`` (waiting for a worker) -> ``running`` -> ``succeeded`` or ``failed``; a queued job may also fail
(its round was deleted, the reaper gave up on it). Outcomes are final.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from models import tables as t


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


def new_job(round_: t.Round, kind: str = "solve") -> t.Job:
    """A queued job for a solve of the round, which moves to ``solving`` (the caller adds and commits both)."""
    move_round(round_, RoundState.SOLVING)
    return t.Job(id=str(uuid.uuid4()), round_id=round_.id, kind=kind, state=JobState.QUEUED, created_at=t.now())


def move_job(job: t.Job, to: JobState) -> None:
    here = JobState(job.state)
    if to not in JOB_MOVES[here]:
        raise TransitionError(f"A {here} job cannot become {to}.")
    job.state = to


def job_failed(job: t.Job, round_: t.Round | None, message: str, result: dict | None = None) -> bool:
    """Record a job's failure and put its round back to its state before the solve; False if it was already over.

    The round returns to ``proposed`` when an earlier solve left proposals (their decisions are untouched), else to
    ``draft``. Only a round still ``solving`` moves: a round published or re-solved since is left as it is.
    """
    if job.state in JOB_OVER:
        return False
    move_job(job, JobState.FAILED)
    job.finished_at, job.message, job.result = t.now(), message[:2000], result or {}
    if round_ is not None and round_.state == RoundState.SOLVING:
        move_round(round_, RoundState.PROPOSED if round_.solves else RoundState.DRAFT)
    return True
