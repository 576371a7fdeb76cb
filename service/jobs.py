"""The web side of the job system: create a job with its round's move to ``solving``, send it, wait for it.

A job is committed before it is sent, so a worker never looks for a row that is not there yet; a send that fails
(the broker is down) leaves the job queued, and a worker's supervisor sends it once the broker is back.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from models import tables as t
from models.lifecycle import JOB_OVER, JobState, new_job
from models.store import transaction
from service.queue import SolveQueue

log = logging.getLogger("hubmatch.jobs")

POLL_S = 0.05  # how often a synchronous solve looks at its job's row


class JobQueue:
    """Jobs for the API: ``submit`` in the request's transaction, ``send`` after its commit, ``wait`` if asked."""

    def __init__(self, factory: sessionmaker[Session], queue: SolveQueue):
        self.factory, self.queue = factory, queue

    def submit(self, session: Session, round_: t.Round, kind: str = "solve", requested_by: str | None = None) -> t.Job:
        """A queued job for the round, which moves to ``solving`` (raises TransitionError if it cannot)."""
        job = new_job(round_, kind, requested_by)
        session.add(job)
        return job

    def send(self, job_id: str) -> bool:
        """Put a committed job on the broker; False if the broker could not be reached (it is sent later)."""
        try:
            self.queue.send(job_id)
        except Exception as err:
            log.warning("job %s stays queued until the broker answers: %s", job_id, err)
            return False
        return True

    def deliver(self) -> bool:
        """Ask the workers to deliver the outbox after a commit that wrote to it; False if the broker could not be
        reached (a worker's supervisor asks once it can)."""
        try:
            self.queue.send_delivery()
        except Exception as err:
            log.warning("the outbox waits for a worker's supervisor: %s", err)
            return False
        return True

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until the job's row records an outcome or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.state(job_id) in JOB_OVER:
                return
            time.sleep(POLL_S)

    def state(self, job_id: str) -> str | None:
        with transaction(self.factory) as session:
            return session.scalar(select(t.Job.state).where(t.Job.id == job_id))


def position(session: Session, job: t.Job) -> int | None:
    """A queued job's place in the queue (1: next to start), counting every queued job created before it."""
    if job.state != JobState.QUEUED:
        return None
    ahead = session.scalar(
        select(func.count()).where(
            t.Job.state == JobState.QUEUED,
            or_(t.Job.created_at < job.created_at, (t.Job.created_at == job.created_at) & (t.Job.id < job.id)),
        )
    )
    return int(ahead or 0) + 1
