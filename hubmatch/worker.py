"""The solve worker: one process per job, so a solver crash or hang never takes the service down.

``python -m hubmatch.worker JOB_ID`` (started by ``hubmatch.jobs.JobRunner``) reads the round from the database,
solves it and writes the proposals in one transaction: a round is either fully re-proposed or left as it was.
"""

from __future__ import annotations

import os
import sys
import traceback

from sqlalchemy.orm import Session, sessionmaker

from matcher import solve
from models import ProblemError
from models import tables as t
from models.lifecycle import JobState, job_failed, move_job
from models.repository import round_problem, solution_summary, store_solution
from models.store import make_engine, session_factory, transaction


def run(job_id: str, factory: sessionmaker[Session]) -> None:
    """Run one solve job to the end, recording success or a readable failure on the job."""
    with transaction(factory) as session:
        job = _job(session, job_id)
        move_job(job, JobState.RUNNING)
        job.pid, job.started_at = os.getpid(), t.now()
    try:
        with transaction(factory) as session:
            problem = round_problem(session, _round(session, _job(session, job_id)))
        solution = solve(problem, time_limit_s=problem.policy.time_limit_s)
        with transaction(factory) as session:
            job = _job(session, job_id)
            store_solution(session, _round(session, job), solution)
            move_job(job, JobState.SUCCEEDED)
            job.finished_at, job.result = t.now(), solution_summary(solution)
    except ProblemError as err:
        fail(factory, job_id, f"the hub's data is not a valid problem: {err}", err.as_dict())
    except Exception as err:
        fail(factory, job_id, f"solver error: {type(err).__name__}: {err}", {"trace": traceback.format_exc()[-4000:]})


def fail(factory: sessionmaker[Session], job_id: str, message: str, result: dict | None = None) -> None:
    """Mark a job failed and put its round back to the state before the solve, in one transaction."""
    with transaction(factory) as session:
        job = _job(session, job_id)
        job_failed(job, _round(session, job), message, result)


def _job(session: Session, job_id: str) -> t.Job:
    job = session.get(t.Job, job_id)
    if job is None:
        raise LookupError(f"no job {job_id}")
    return job


def _round(session: Session, job: t.Job) -> t.Round:
    round_ = session.get(t.Round, job.round_id)
    assert round_ is not None
    return round_


def main() -> int:
    """Run the job, then leave at once: the result is committed, and the interpreter's tear-down of numpy, SciPy,
    OR-Tools and SQLAlchemy (about 0.3 s, several times that on a loaded machine) only delayed the process's end,
    which the service waits for. A failure to record the outcome still ends the normal way, with its traceback."""
    job_id = sys.argv[1]
    engine = make_engine()
    run(job_id, session_factory(engine))
    engine.dispose()  # say goodbye to the database rather than drop the connection
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
