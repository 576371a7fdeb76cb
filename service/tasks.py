"""What a worker does with one job: read the round, solve it, write the proposals, in as few transactions as
that takes, so that a round is either fully re-proposed or left as it was; or run an analysis of the round
(``service.analyses``), whose result is the job's.

``run_job`` is the whole of it and runs anywhere a session factory does (a worker process, or a test's own
process); ``run_in_worker`` is the queue's entry, with the factory its worker process set up at start.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from matcher import solve
from matcher.progress import band
from models import ProblemError
from models import tables as t
from models.domain import Policy, Problem, Solution
from models.lifecycle import SOLVE, claim_job, fail_job, finish_job, report_progress
from models.repository import round_problem, round_solution, solution_summary, store_solution
from models.store import transaction
from service import analyses
from service.config import Settings
from service.delivery import Delivered, deliver_due
from service.mail import make_mailer

log = logging.getLogger("hubmatch.worker")
LONGEST_DEADLINE_S = 86_400.0


@dataclass
class WorkerContext:
    """This worker process's database and the identity its supervisor knows it by (set once per process)."""

    factory: sessionmaker[Session]
    grace_s: float
    worker: str
    settings: Settings = field(default_factory=Settings)  # the mail settings of deliveries


_context: list[WorkerContext] = []


def configure(context: WorkerContext) -> None:
    """Called by ``service.worker`` in each worker process as it starts."""
    _context[:] = [context]


def run_in_worker(job_id: str) -> None:
    context = _context[0]
    run_job(job_id, context.factory, context.grace_s, context.worker)


def deliver_in_worker() -> Delivered:
    """Deliver the outbox's due messages with this worker process's settings."""
    context = _context[0]
    return deliver(context.factory, context.settings)


def deliver(factory: sessionmaker[Session], settings: Settings) -> Delivered:
    """Send every due message through the configured mailer (an SMTP server, or the folder)."""
    mailer = make_mailer(settings.smtp_url, settings.outbox_dir, timeout_s=min(30.0, settings.mail_lease_s / 3))
    done = deliver_due(factory, mailer, settings.mail_from, settings.mail_retry_s)
    if done.sent or done.bounced or done.retrying or done.failed:
        log.info("outbox to %s: %d sent, %d bounced, %d to retry, %d failed", mailer.describe(), len(done.sent),
                 len(done.bounced), len(done.retrying), len(done.failed))
    return done


def run_job(job_id: str, factory: sessionmaker[Session], grace_s: float = 30.0, worker: str = "") -> bool:
    """Run one job to its end, recording success or a readable failure; False if another process had it.

    The job's deadline (its round's time limit plus ``grace_s``) is written as the job starts; the supervisor of
    this worker host kills the process past it. A job already taken or ended (a message delivered twice, a job
    the supervisor failed) is left alone.
    """
    if not _claim(factory, job_id, grace_s, worker):
        return False
    kind = SOLVE
    try:
        with transaction(factory) as session:
            kind = _job(session, job_id).kind
        if kind == SOLVE:
            _solve(factory, job_id)
        else:
            _analyse(factory, job_id, kind)
    except ProblemError as err:
        _fail(factory, job_id, f"the hub's data is not a valid problem: {err}", err.as_dict())
    except analyses.AnalysisError as err:
        _fail(factory, job_id, str(err))
    except Exception as err:
        log.exception("job %s failed", job_id)  # the trace and the error's text stay in the worker's log: they
        # may name server paths and internals, and every reader of the hub can read the job
        what = "solve" if kind == SOLVE else "analysis"
        _fail(factory, job_id, f"the {what} failed unexpectedly ({type(err).__name__}); the worker's log has the "
                               f"details (job {job_id})")
    return True


def _solve(factory: sessionmaker[Session], job_id: str) -> None:
    progress = _progress(factory, job_id)
    progress(0.05, "reading the hub's records")
    with transaction(factory) as session:
        problem = round_problem(session, _round(session, job_id))
    solution = solve(problem, time_limit_s=problem.policy.time_limit_s, progress=band(progress, 0.2, 0.9))
    progress(0.9, "writing the proposals")
    with transaction(factory) as session:
        if finish_job(session, job_id, solution_summary(solution)):
            store_solution(session, _round(session, job_id), solution)


def _analyse(factory: sessionmaker[Session], job_id: str, kind: str) -> None:
    """Run an analysis of the job's round with its parameters; its result becomes the job's."""
    runner = analyses.module(kind)
    with transaction(factory) as session:
        job = _job(session, job_id)
        round_ = _round(session, job_id)
        hub_id, params = round_.hub_id, dict(job.params or {})
        problem, solution = round_problem(session, round_), round_solution(session, round_)

    def load_round(round_id: int) -> tuple[Problem, Solution | None]:
        with transaction(factory) as session:
            other = session.get(t.Round, round_id)
            if other is None or other.hub_id != hub_id:
                raise analyses.AnalysisError(f"No round {round_id} in hub {hub_id!r}.")
            return round_problem(session, other), round_solution(session, other)

    ctx = analyses.AnalysisContext(problem, solution, params, load_round, _progress(factory, job_id))
    result = runner.run(ctx)
    with transaction(factory) as session:
        finish_job(session, job_id, result)


def _progress(factory: sessionmaker[Session], job_id: str) -> Callable[[float, str], None]:
    def report(fraction: float, stage: str) -> None:
        with transaction(factory) as session:
            report_progress(session, job_id, fraction, stage)

    return report


def _claim(factory: sessionmaker[Session], job_id: str, grace_s: float, worker: str) -> bool:
    with transaction(factory) as session:
        job = session.get(t.Job, job_id)
        round_ = session.get(t.Round, job.round_id) if job is not None else None
        if job is None or round_ is None:
            return False
        # a policy stored before limits were checked may hold any number: the deadline stays computable, and the
        # problem's validation then fails the job naming the field
        limit = float(round_.policy.get("time_limit_s", Policy.time_limit_s))
        if job.kind != SOLVE:
            limit = _analysis_limit(job.kind)
        limit = limit if 0 < limit < LONGEST_DEADLINE_S else LONGEST_DEADLINE_S  # NaN too
        now = t.now()
        return claim_job(session, job_id, pid=os.getpid(), worker=worker, heartbeat_at=now,
                         deadline_at=now + timedelta(seconds=limit + grace_s))


def _fail(factory: sessionmaker[Session], job_id: str, message: str, result: dict | None = None) -> None:
    with transaction(factory) as session:
        fail_job(session, job_id, message, result)


def _analysis_limit(kind: str) -> float:
    """An analysis' own time limit; a kind this worker does not know gets the default and fails as it starts."""
    try:
        return analyses.time_limit_s(kind)
    except analyses.UnknownAnalysis:
        return analyses.DEFAULT_TIME_LIMIT_S


def _job(session: Session, job_id: str) -> t.Job:
    job = session.get(t.Job, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    return job


def _round(session: Session, job_id: str) -> t.Round:
    round_ = session.get(t.Round, _job(session, job_id).round_id)
    if round_ is None:
        raise LookupError(f"no round for job {job_id}")
    return round_
