"""Background solves: a job row, a worker process, and a watcher that turns a crash or hang into a failed job.

The API only calls ``submit`` and reads job rows; the worker process does the work (``hubmatch.worker``). The
watcher thread waits for the process with the round's time limit plus a grace period; past it the process is
killed. ``recover`` runs at start-up: a job left running by a stopped service is marked failed, never left
hanging, and its round goes back to its previous state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hubmatch.worker import fail
from models import tables as t
from models.lifecycle import JOB_ACTIVE, JOB_OVER, JobState, new_job
from models.store import transaction

GRACE_S = 30.0
POLL_S = 0.05  # how often a synchronous solve looks at its job's row
QUEUE_GRACE_S = 60.0  # a job queued this recently may be starting in another server process: not stale yet


class JobRunner:
    """Starts solve jobs as separate processes against the same database."""

    def __init__(self, factory: sessionmaker[Session], database_url: str):
        self.factory = factory
        self.database_url = database_url
        self.threads: dict[str, threading.Thread] = {}

    def submit(self, session: Session, round_: t.Round, kind: str = "solve") -> t.Job:
        """Create the job, mark the round as solving and start the worker once the caller's transaction commits."""
        job = new_job(round_, kind)
        session.add(job)
        return job

    def start(self, job_id: str, time_limit_s: float) -> None:
        """Start the worker process of a committed job and a thread that watches it."""
        env = {**os.environ, "DATABASE_URL": self.database_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "hubmatch.worker", job_id],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        watcher = threading.Thread(target=self._watch, args=(job_id, proc, time_limit_s + GRACE_S), daemon=True)
        self.threads[job_id] = watcher
        watcher.start()

    def _watch(self, job_id: str, proc: subprocess.Popen, deadline_s: float) -> None:
        try:
            _, err = proc.communicate(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            fail(self.factory, job_id, f"the solve did not finish within {deadline_s:.0f} s and was stopped")
            return
        if proc.returncode != 0:
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            fail(self.factory, job_id, f"the worker process ended with exit code {proc.returncode}: {tail[0]}")

    def wait(self, job_id: str, timeout_s: float) -> None:
        """Block until the job is over or ``timeout_s`` passes (used for hub-sized synchronous solves).

        Over means its row says so (the worker commits its outcome before it exits, so this is the earliest sign)
        or its watcher has ended (which is when a crash or a hang has been recorded).
        """
        thread = self.threads.get(job_id)
        if thread is None:
            return
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            thread.join(min(POLL_S, left))
            if not thread.is_alive() or self.finished(job_id):
                return

    def finished(self, job_id: str) -> bool:
        """Whether the job's row records an outcome."""
        with transaction(self.factory) as session:
            return session.scalar(select(t.Job.state).where(t.Job.id == job_id)) in JOB_OVER

    def recover(self) -> int:
        """Fail the jobs that a stopped service left queued or running; return how many.

        Runs at start-up and again before each new solve, so a job queued just before a crash (which start-up
        spares for QUEUE_GRACE_S, as another server process may be starting it) cannot hold its round forever.
        """
        cutoff = t.now() - timedelta(seconds=QUEUE_GRACE_S)
        with transaction(self.factory) as session:
            stale = [
                j.id
                for j in session.scalars(select(t.Job).where(t.Job.state.in_(JOB_ACTIVE)))
                if not _alive(j.pid) and (j.state == JobState.RUNNING or _aware(j.created_at) < cutoff)
            ]
        for job_id in stale:
            fail(self.factory, job_id, "the service restarted while this job ran; solve the round again")
        return len(stale)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; the service only ever writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _alive(pid: int | None) -> bool:
    """Whether a worker process still runs (a zombie, dead but not yet reaped by its parent, does not)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
