"""Real solve workers for the tests: ``hubmatch worker`` processes on a test's database and queue.

The service's tests solve through the queue as production does, so each test session starts real consumers (a
fork-based Huey consumer with its supervisor) and stops them at the end; the fault tests kill them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

READY_TIMEOUT_S = 60.0


@contextlib.contextmanager
def worker_process(database_url: str, broker_url: str, concurrency: int = 2, log: Path | None = None,
                   **settings: str) -> Iterator[subprocess.Popen]:
    """A running ``hubmatch worker`` (its worker processes started), stopped at the end even when the test fails.

    ``settings`` are more ``HUBMATCH_...`` variables by their short name, e.g. ``SOLVE_GRACE_S="1"``.
    """
    env = {**os.environ, "HUBMATCH_DATABASE_URL": database_url, "HUBMATCH_BROKER_URL": broker_url,
           **{f"HUBMATCH_{k}": v for k, v in settings.items()}}
    env.pop("DATABASE_URL", None)
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "hubmatch", "worker", "--concurrency", str(concurrency)],
                            env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_children(proc.pid, concurrency + 1)
        yield proc
    finally:
        stop(proc)
        if log is not None:
            out.close()  # type: ignore[union-attr]


def children(pid: int) -> list[psutil.Process]:
    """A consumer's processes: its worker processes and Huey's scheduler process."""
    try:
        return psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []


def wait_for_children(pid: int, count: int, timeout_s: float = READY_TIMEOUT_S) -> list[psutil.Process]:
    """Wait until the consumer ``pid`` runs ``count`` live processes (workers and scheduler)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [c for c in children(pid) if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
        if len(alive) >= count:
            return alive
        assert time.monotonic() < deadline, f"worker {pid} did not start {count} processes in {timeout_s} s"
        time.sleep(0.1)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (Huey's immediate stop), then SIGKILL for whatever is left of it and its processes."""
    kids = children(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for kid in kids:
        with contextlib.suppress(psutil.NoSuchProcess):
            kid.kill()
