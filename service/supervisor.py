"""The supervisor of a worker host: nothing lost, nothing left running forever, nothing past its deadline.

It runs in each ``hubmatch worker`` beside the consumer (outside the web process) and sweeps the jobs table every
``HUBMATCH_REAPER_INTERVAL_S``:

- a job of this host's past its deadline (time limit plus grace): its worker process is killed (SIGKILL: a solve
  deep in native code does not answer a gentler signal) and the job failed, saying so; the consumer starts a new
  worker process in its place;
- a job of this host whose worker process is gone (killed, out of memory): failed at once;
- this host's other running jobs: their heartbeat is renewed;
- a job of another host whose heartbeat is older than ``HUBMATCH_WORKER_STALE_S``: failed (that host is gone);
- a queued job that the broker no longer holds (a broker restarted without persistence, a web process that died
  between its commit and the send): sent again. A message that arrives twice is harmless (``claim_job``);
- the outbox (``service.delivery``): a message whose delivery died mid-send is put back after its lease, and when
  messages are due (a retry's back-off is over, a web process died before asking) and no delivery waits on the
  broker, one is sent.

The supervisor's statements wait on a lock a quarter of a sweep interval at most (``make_engine``'s ``lock_wait_s``):
a solve process stopped in the middle of a transaction holds its lock until it is killed, and the sweep that kills
it must not be stuck behind it. A statement refused for a lock is tried again by the next sweep.

A failed job's round goes back to where it was before the solve, with its decisions (``fail_job``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from models import tables as t
from models.lifecycle import JobState, fail_job
from models.store import lock_refused, transaction
from service.config import Settings
from service.delivery import due_count, reclaim
from service.queue import DELIVERY_ID, SolveQueue

log = logging.getLogger("hubmatch.supervisor")

KILLED = "the worker process running this solve stopped before it finished (killed or out of memory); the round " \
         "is back as it was: solve it again"
STALE = "the worker host {worker} running this solve stopped answering; the round is back as it was: solve it again"
OVERDUE = "the solve did not finish within {total:.0f} s (its time limit of {limit:.0f} s and {grace:.0f} s of " \
          "grace) and was stopped"


@dataclass
class Sweep:
    """What one pass did, by job id (for the log and for tests)."""

    killed: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    alive: list[str] = field(default_factory=list)
    reclaimed: int = 0  # outbox messages put back to pending
    delivery_sent: bool = False


class Supervisor:
    """Sweeps the jobs of a worker host (``worker``: the consumer's host:pid) whose processes ``live_pids`` lists."""

    def __init__(self, factory: sessionmaker[Session], queue: SolveQueue, settings: Settings, worker: str,
                 live_pids: Callable[[], set[int]], kill: Callable[[int], None] | None = None):
        self.factory, self.queue, self.settings, self.worker = factory, queue, settings, worker
        self.live_pids = live_pids
        self.kill = kill or _sigkill
        self.stopped: dict[str, str] = {}  # killed past its deadline, not yet recorded failed: why it was stopped

    def sweep(self) -> Sweep:
        now = t.now()
        done = Sweep()
        with transaction(self.factory) as session:
            running = session.execute(
                select(t.Job.id, t.Job.pid, t.Job.worker, t.Job.started_at, t.Job.deadline_at, t.Job.heartbeat_at)
                .where(t.Job.state == JobState.RUNNING)
            ).all()
            queued = session.execute(
                select(t.Job.id).where(t.Job.state == JobState.QUEUED,
                                       t.Job.created_at < now - timedelta(seconds=self.settings.requeue_after_s))
            ).scalars().all()
            queued = list(queued)
        pids = self.live_pids()
        for job in running:
            if job.worker != self.worker:
                if (job.heartbeat_at or job.started_at) < now - timedelta(seconds=self.settings.worker_stale_s):
                    self._fail(job.id, STALE.format(worker=job.worker), done.stale)
            elif job.pid not in pids:
                self._fail(job.id, self.stopped.pop(job.id, KILLED), done.lost)
            elif job.deadline_at is not None and job.deadline_at <= now:
                self.kill(job.pid)
                self.stopped[job.id] = why = _overdue(job.started_at, job.deadline_at, self.settings.solve_grace_s)
                self._fail(job.id, why, done.killed)  # if a lock refuses it, the next sweep records it so
                del self.stopped[job.id]
            else:
                done.alive.append(job.id)
        if done.alive:
            self._heartbeat(done.alive, now)
        if queued:
            self._resend(queued, done)
        self._outbox(done)
        return done

    def _heartbeat(self, alive: list[str], now: datetime) -> None:
        with _unless_locked("heartbeats not renewed"), transaction(self.factory) as session:
            session.execute(update(t.Job).where(t.Job.id.in_(alive), t.Job.state == JobState.RUNNING)
                            .values(heartbeat_at=now))

    def _outbox(self, done: Sweep) -> None:
        due = 0
        with _unless_locked("the outbox not swept"), transaction(self.factory) as session:
            done.reclaimed = reclaim(session, self.settings.mail_lease_s)
            due = due_count(session)
        if not due:
            return
        try:
            if DELIVERY_ID not in self.queue.pending_ids():
                self.queue.send_delivery()
                done.delivery_sent = True
        except Exception as err:  # the broker is down: the next sweep tries again
            log.warning("cannot reach the broker to deliver the outbox: %s", err)

    def _resend(self, queued: list[str], done: Sweep) -> None:
        try:
            waiting = self.queue.pending_ids()
            for job_id in queued:
                if job_id not in waiting:
                    self.queue.send(job_id)
                    done.resent.append(job_id)
        except Exception as err:  # the broker is down: the next sweep tries again
            log.warning("cannot reach the broker to check queued jobs: %s", err)

    def _fail(self, job_id: str, message: str, into: list[str]) -> None:
        with transaction(self.factory) as session:
            if fail_job(session, job_id, message):
                into.append(job_id)
                log.warning("job %s failed: %s", job_id, message)

    def run(self, stop: threading.Event) -> None:
        """Sweep every ``reaper_interval_s`` until ``stop`` is set; a failing sweep is logged and retried."""
        while not stop.wait(self.settings.reaper_interval_s):
            try:
                self.sweep()
            except Exception:
                log.exception("supervisor sweep failed")


@contextlib.contextmanager
def _unless_locked(what: str) -> Iterator[None]:
    """Leave a housekeeping write to the next sweep when a lock refuses it: a solve process stopped inside its
    transaction holds the job's row (on SQLite, the whole file) until it is killed, and the sweep that kills it
    must not wait behind it. A missed heartbeat is renewed a sweep later, well within ``worker_stale_s``."""
    try:
        yield
    except OperationalError as err:
        if not lock_refused(err):
            raise
        log.warning("%s this sweep (the database refused: %s); the next sweep tries again", what, err.orig)


def _overdue(started: datetime | None, deadline: datetime, grace_s: float) -> str:
    total = (deadline - (started or deadline)).total_seconds()
    return OVERDUE.format(total=total, limit=max(total - grace_s, 0.0), grace=grace_s)


def _sigkill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
