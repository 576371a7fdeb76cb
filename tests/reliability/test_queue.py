"""The solve queue with real processes, on the embedded queue (a SQLite file) and on Redis: bounded, in order,
warm, supervised. A worker process killed mid-solve, a solve hung past its deadline, and (Redis) the broker
restarted with jobs waiting: every job ends, none is lost, none is left running, and each round goes back to
where it was when its solve fails.

Redis runs as a server of this test's own on a free port of 127.0.0.1 (it keeps nothing on disk, as the machine's
does), so that restarting it disturbs nothing else; the tests skip on Redis only where no redis-server is installed.
The long solves are Cornerstone "GAP" rounds (``fixtures.gap_problem``), which use their whole time limit.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from workers import wait_for_children, worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from models import load_problem
from models import tables as t
from models.repository import create_hub
from models.store import migrate, transaction
from service.supervisor import KILLED, OVERDUE

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 120.0
SOLVE_S = 6.0  # the time limit of a GAP round: its worker is busy for this long
_hubs = itertools.count(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own on 127.0.0.1, without persistence; ``restart`` loses what it held."""

    def __init__(self, workdir: Path):
        self.port, self.workdir, self.proc = free_port(), workdir, None  # type: ignore[var-annotated]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, 20, "redis-server answering")

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()


@pytest.fixture(params=["sqlite", "redis"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The broker URL, and the Redis server behind it (None for the embedded queue)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.sqlite'}", None
        return
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server.url, server
    finally:
        server.kill()


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hubmatch.sqlite'}"
    migrate(url)
    return url


@pytest.fixture
def service(database: str, broker: Any) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker[0], "MIGRATE": False})
    yield app
    app.extensions["hubmatch.engine"].dispose()


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(every_s)
    return value


class Lead:
    """A Hub Lead of a new hub (GAP or Lancashire records) on the test's service."""

    def __init__(self, app: Flask, data: str):
        raw = fixtures.lancashire_problem() if data == "lancashire" else fixtures.gap_problem()
        raw.pop("pairs", None)
        self.app, self.data, self.policy = app, data, raw["policy"]
        self.hub = f"{data}-{next(_hubs)}"
        with transaction(app.extensions["hubmatch.sessions"]) as session:
            create_hub(session, self.hub, self.hub, load_problem(raw))
            self.token = create_token(session, "lead", "hub_lead", self.hub)
        self.client = app.test_client()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def new_round(self, time_limit_s: float) -> int:
        term = f"t{next(_hubs)}"
        reply = self.call("POST", f"/hubs/{self.hub}/rounds",
                          json={"term": term, "policy": {**self.policy, "time_limit_s": time_limit_s}})
        assert reply.status_code == 201, reply.json
        return reply.json["id"]

    def solve(self, round_id: int, wait: float = 0) -> dict[str, Any]:
        reply = self.call("POST", f"/rounds/{round_id}/solve?wait={wait}")
        assert reply.status_code in (200, 202), reply.json
        return reply.json

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{job_id}").json

    def done(self, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> dict[str, Any]:
        return wait_for(lambda: (j := self.job(job_id))["state"] in ("succeeded", "failed") and j, timeout_s,
                        f"job {job_id} over")

    def round(self, round_id: int) -> tuple[str, int]:
        body = self.call("GET", f"/rounds/{round_id}").json
        return body["state"], body["solves"]


def running_pid(app: Flask, job_id: str) -> int:
    def check() -> int | None:
        with transaction(app.extensions["hubmatch.sessions"]) as session:
            job = session.get(t.Job, job_id)
            assert job.state in ("queued", "running"), (job.state, job.message)
            return job.pid if job.state == "running" else None

    return wait_for(check, 60, f"job {job_id} running")


def running_count(app: Flask) -> int:
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        return len(session.query(t.Job).filter(t.Job.state == "running").all())


def test_solves_wait_in_order_and_at_most_n_run_at_once(service, database, broker, tmp_path):
    lead = Lead(service, "gap")
    rounds = [lead.new_round(2.0) for _ in range(5)]
    jobs = [lead.solve(r)["id"] for r in rounds]  # all queued before any worker runs
    assert [lead.job(j)["position"] for j in jobs] == [1, 2, 3, 4, 5]
    with worker_process(database, broker[0], concurrency=2, log=tmp_path / "worker.log"):
        peak, started = 0, {}
        while len(started) < 5 or running_count(service):
            peak = max(peak, running_count(service))
            for j in jobs:
                body = lead.job(j)
                if body["started_at"] and j not in started:
                    started[j] = body["started_at"]
            time.sleep(0.05)
        outcomes = [lead.done(j) for j in jobs]
    assert [o["state"] for o in outcomes] == ["succeeded"] * 5, outcomes
    assert peak == 2, peak  # bounded by --concurrency, and both used
    # taken in the order they were queued: two workers may start neighbours a moment apart, never farther out
    rank = {j: k for k, j in enumerate(sorted(jobs, key=lambda j: started[j]))}
    assert all(abs(rank[j] - k) <= 1 for k, j in enumerate(jobs)), [rank[j] for j in jobs]
    assert all(lead.round(r) == ("proposed", 1) for r in rounds)


def test_a_worker_process_killed_mid_solve_fails_its_job_and_is_replaced(service, database, broker, tmp_path):
    lead = Lead(service, "gap")
    round_id = lead.new_round(SOLVE_S)
    with worker_process(database, broker[0], concurrency=1, log=tmp_path / "worker.log") as consumer:
        first = lead.solve(round_id, wait=JOB_TIMEOUT_S)
        assert first["state"] == "succeeded", first
        decided = lead.call("GET", f"/rounds/{round_id}/proposals?per_page=1").json["items"][0]
        assert lead.call("POST", f"/proposals/{decided['id']}/decision", json={"action": "lock"},
                         headers={"If-Match": f'"{decided["id"]}.1"'}).status_code == 200
        job_id = lead.solve(round_id)["id"]
        pid = running_pid(service, job_id)
        time.sleep(1.0)  # well inside the solve
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        job = lead.done(job_id, timeout_s=30)
        elapsed = time.monotonic() - killed
        assert (job["state"], job["message"]) == ("failed", KILLED)
        assert elapsed < 5, elapsed  # the supervisor's sweep, not a restart, noticed it
        assert lead.round(round_id) == ("proposed", 1)  # back where it was, its lock intact
        assert lead.call("GET", f"/proposals/{decided['id']}").json["state"] == "locked"
        replaced = wait_for_children(consumer.pid, 2, timeout_s=10)  # a new worker process beside the scheduler
        assert pid not in {p.pid for p in replaced}
        again = lead.solve(round_id, wait=JOB_TIMEOUT_S)  # the new worker process serves the next solve
        assert again["state"] == "succeeded", again
        assert lead.round(round_id) == ("proposed", 2)


def test_a_hung_solve_is_stopped_at_its_deadline_by_the_worker_side(service, database, broker, tmp_path):
    lead = Lead(service, "gap")
    round_id = lead.new_round(2.0)
    with worker_process(database, broker[0], concurrency=1, log=tmp_path / "worker.log", SOLVE_GRACE_S="3"):
        job_id = lead.solve(round_id)["id"]
        pid = running_pid(service, job_id)
        os.kill(pid, signal.SIGSTOP)  # a hang: the process lives but makes no progress
        try:
            job = lead.done(job_id, timeout_s=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        body = lead.job(job_id)
        took = datetime.fromisoformat(body["finished_at"]) - datetime.fromisoformat(body["started_at"])
        assert (job["state"], job["message"]) == ("failed", OVERDUE.format(total=5, limit=2, grace=3))
        assert 5.0 <= took.total_seconds() < 8.0, took
        assert lead.round(round_id) == ("draft", 0)
        assert lead.call("GET", f"/rounds/{round_id}/proposals").json["total"] == 0


def test_a_restarted_broker_loses_no_job(service, database, broker, tmp_path):
    url, server = broker
    if server is None:
        pytest.skip("the embedded queue is a file: there is no broker server to restart")
    lead = Lead(service, "gap")
    rounds = [lead.new_round(SOLVE_S if i == 0 else 1.0) for i in range(4)]
    with worker_process(database, url, concurrency=1, log=tmp_path / "worker.log", REQUEUE_AFTER_S="2"):
        jobs = [lead.solve(rounds[0])["id"]]
        running_pid(service, jobs[0])
        jobs += [lead.solve(r)["id"] for r in rounds[1:]]
        assert [lead.job(j)["position"] for j in jobs[1:]] == [1, 2, 3]
        server.restart()  # the three waiting messages are gone with it
        outcomes = [lead.done(j, timeout_s=90) for j in jobs]
    assert [o["state"] for o in outcomes] == ["succeeded"] * 4, outcomes
    assert running_count(service) == 0
    assert all(lead.round(r) == ("proposed", 1) for r in rounds)


def test_a_solve_through_the_machines_redis(database, tmp_path):
    """The production layout on the Redis that .ci/run starts: a queue of this test's own name on it."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 6379), 1):
        url, name = "redis://127.0.0.1:6379/0", f"hubmatch-test-{os.getpid()}-{next(_hubs)}"
        app = create_app({"DATABASE_URL": database, "BROKER_URL": url, "QUEUE_NAME": name, "MIGRATE": False})
        lead = Lead(app, "lancashire")
        round_id = lead.new_round(30.0)
        with worker_process(database, url, concurrency=1, log=tmp_path / "worker.log", QUEUE_NAME=name):
            job = lead.solve(round_id, wait=JOB_TIMEOUT_S)
        assert (job["state"], job["position"]) == ("succeeded", None), job
        assert lead.round(round_id) == ("proposed", 1)
        assert app.extensions["hubmatch.jobs"].queue.pending_ids() == set()
        app.extensions["hubmatch.jobs"].queue.huey.storage.flush_all()  # leave nothing of ours on the shared server
        return
    pytest.skip("no Redis answers on 127.0.0.1:6379")
