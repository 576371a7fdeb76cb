"""The solve queue: Huey on a real broker, Redis in production or a SQLite file on one machine.

Why Huey: it has a real embedded mode (``SqliteHuey``: the same queue code on a file, so ``hubmatch serve`` and the
tests need no broker server), Redis for several machines, process workers forked from a parent that has already
imported the solver (warm), a consumer that restarts a worker that died, and no dependencies of its own. Celery
needs a broker server or an experimental SQLAlchemy transport, and its eager mode skips the queue; Dramatiq and RQ
have no embedded broker at all.

A message carries only a job id, and its Huey task id is the job id, so the supervisor can tell which queued jobs
the broker still holds (``pending_ids``). Outcomes are never kept on the broker: the job row is the record.
"""

from __future__ import annotations

from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey
from huey.api import TaskWrapper

SOLVE_TASK = "hubmatch.solve"
DELIVER_TASK = "hubmatch.deliver_outbox"
DELIVERY_ID = "deliver-outbox"  # the Huey task id of every delivery (never a job's: those are UUIDs)


def _solve(job_id: str) -> None:
    """Run one job in this worker process (imported here so that the web side never loads the solver)."""
    from service.tasks import run_in_worker

    run_in_worker(job_id)


def _deliver() -> None:
    """Send the outbox's due messages from this worker process (``service.delivery``)."""
    from service.tasks import deliver_in_worker

    deliver_in_worker()


class SolveQueue:
    """The broker end of the job system: send a job, see which jobs wait."""

    def __init__(self, broker_url: str, name: str = "hubmatch"):
        self.broker_url = broker_url
        self.huey = make_huey(broker_url, name)
        self.solve: TaskWrapper = self.huey.task(name=SOLVE_TASK)(_solve)
        self.deliver: TaskWrapper = self.huey.task(name=DELIVER_TASK)(_deliver)

    def send(self, job_id: str) -> None:
        """Put a job on the queue (raises when the broker cannot be reached; the supervisor sends it later)."""
        self.huey.enqueue(self.solve.s(job_id, id=job_id))

    def send_delivery(self) -> None:
        """Ask a worker to deliver the outbox's due messages (raises when the broker cannot be reached)."""
        self.huey.enqueue(self.deliver.s(id=DELIVERY_ID))

    def pending_ids(self) -> set[str]:
        """The ids of the jobs waiting on the broker (not yet taken by a worker)."""
        return {task.id for task in self.huey.pending()}

    def close(self) -> None:
        self.huey.storage.close()


def make_huey(broker_url: str, name: str) -> Huey:
    """A Huey instance for ``redis://...`` (or ``rediss://``) or ``sqlite:///path``; anything else is refused."""
    common = {"results": False, "utc": True}
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=broker_url, **common)
    if broker_url.startswith("sqlite:///"):
        path = Path(broker_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(name, filename=str(path), strict_fifo=True, timeout=30, **common)
    raise ValueError(f"HUBMATCH_BROKER_URL must be redis://host:port/db or sqlite:///path, not {broker_url!r}")
