"""``hubmatch worker``: a consumer of the solve queue with N warm worker processes and their supervisor.

The parent imports the solver (OR-Tools, numpy, SciPy) once, then Huey forks the worker processes from it, so a job
starts solving at once instead of paying an interpreter's cold start; a worker that dies is replaced by a new fork
within a second. At most ``concurrency`` solves run at once on this host; the rest wait on the broker, in order.
Migrations run here once, before any process forks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from huey.consumer import Consumer

from models.store import make_engine, migrate, session_factory
from service import tasks
from service.config import Settings
from service.queue import SolveQueue
from service.supervisor import Supervisor

log = logging.getLogger("hubmatch.worker")
PARENT_ENV = "HUBMATCH_WORKER_PARENT"  # set by ``beside``: the server whose life this worker shares


def live_pids(consumer: Consumer) -> set[int]:
    """The process ids of the consumer's worker processes that are alive now."""
    return {proc.pid for _, proc in consumer.worker_threads if proc.pid is not None and proc.is_alive()}


def build(settings: Settings, concurrency: int) -> tuple[Consumer, Supervisor]:
    """The consumer and its supervisor, ready to run (also used by tests that drive a sweep themselves)."""
    import matcher.solve  # noqa: F401  (warm: every forked worker process starts with the solver loaded)

    queue = SolveQueue(settings.broker_url, settings.queue_name)
    # the supervisor's own engine: a lock it waits for must not delay its next sweep (``service.supervisor``)
    engine = make_engine(settings.database_url, min(settings.reaper_interval_s / 4, settings.lock_wait_s))
    worker_id = f"{socket.gethostname()}:{os.getpid()}"

    @queue.huey.on_startup()
    def _in_each_worker_process() -> None:
        engine.dispose(close=False)  # the parent's pooled connections are not this process's to use
        own = make_engine(settings.database_url, settings.lock_wait_s)
        tasks.configure(tasks.WorkerContext(session_factory(own), settings.solve_grace_s, worker_id, settings))

    consumer = queue.huey.create_consumer(
        workers=concurrency, worker_type="process", periodic=False, initial_delay=0.05, backoff=1.2,
        max_delay=0.25, check_worker_health=True, health_check_interval=1,
    )
    supervisor = Supervisor(session_factory(engine), queue, settings, worker_id, lambda: live_pids(consumer))
    return consumer, supervisor


def run(settings: Settings, concurrency: int) -> int:
    """Serve the queue until SIGTERM (at once) or SIGINT (after the running solves)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    migrate(settings.database_url)
    consumer, supervisor = build(settings, concurrency)
    stop = threading.Event()
    watcher = threading.Thread(target=supervisor.run, args=(stop,), name="supervisor", daemon=True)
    log.info("worker %s: %d solve process(es) on %s", supervisor.worker, concurrency, _safe(settings.broker_url))
    watcher.start()  # its first sweep comes after an interval, once the consumer has started its processes
    if parent := os.environ.get(PARENT_ENV):
        threading.Thread(target=_leave_with, args=(int(parent),), name="parent", daemon=True).start()
    try:
        consumer.run()
    finally:
        stop.set()
    return 0


def _leave_with(parent: int) -> None:
    """Stop gracefully once the server that started this worker is gone: the solves in hand still finish and
    are recorded (a server killed mid-solve loses nothing), then the worker leaves instead of lingering."""
    while os.getppid() == parent:
        time.sleep(1.0)
    log.info("the server that started this worker has gone; finishing the solves in hand, then stopping")
    os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def beside(concurrency: int) -> Iterator[subprocess.Popen | None]:
    """A ``hubmatch worker`` child process on the same settings while the block runs (``hubmatch serve``'s
    embedded default: the same queue code as production, on the queue file), stopped at the end."""
    if concurrency <= 0:
        yield None
        return
    child = subprocess.Popen([sys.executable, "-m", "hubmatch", "worker", "--concurrency", str(concurrency)],
                             env={**os.environ, PARENT_ENV: str(os.getpid())})
    try:
        yield child
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()


def _safe(url: str) -> str:
    """A broker URL fit for a log line (no password)."""
    return url.split("@")[-1] if "@" in url else url
