"""Faults with real processes and a real PostgreSQL: the database connection dropped during a review batch, and
the web server killed while a solve runs. Each module run works in a fresh PostgreSQL database, dropped at the end;
its solves go through a real ``hubmatch worker`` on an embedded queue. (Workers killed mid-solve, hung solves and a
restarted broker are in test_queue.py.)

The solves that must be caught in flight are Cornerstone "GAP" rounds (``fixtures.gap_problem``): the exact solver
does not prove them optimal quickly, so the worker uses its whole ``time_limit_s``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from flask import Flask
from pg import scratch_database, skip_without_postgres
from workers import worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from models import load_problem
from models.repository import create_hub
from models.store import make_engine, migrate, session_factory, transaction

ROOT = Path(__file__).resolve().parents[2]
HUBMATCH = Path(sys.executable).with_name("hubmatch")
JOB_TIMEOUT_S = 120.0
SOLVE_S = 6.0  # the time limit of the rounds killed mid-solve: the worker is busy solving for this long


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this module, dropped after it."""
    skip_without_postgres()
    with scratch_database("hubmatch_faults") as url:
        migrate(url)
        yield url


def query(url: str, sql: str, *params: Any) -> list[tuple]:
    """Rows of one statement on a connection of the test's own (autocommit)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


_hubs = iter(range(1, 10_000))


def seed_hub(url: str, data: str, roles: tuple[str, ...] = ("hub_lead", "coordinator")) -> tuple[str, dict[str, str]]:
    """A new hub with the records of the ``lancashire`` or ``gap`` fixture; a token per role."""
    raw = fixtures.lancashire_problem() if data == "lancashire" else fixtures.gap_problem()
    raw.pop("pairs", None)
    problem = load_problem(raw)
    hub_id = f"{data}-{os.getpid()}-{next(_hubs)}"
    engine = make_engine(url)
    try:
        with transaction(session_factory(engine)) as session:
            create_hub(session, hub_id, f"Hub {hub_id}", problem)
            tokens = {role: create_token(session, f"{role}@{hub_id}", role, hub_id) for role in roles}
    finally:
        engine.dispose()
    return hub_id, tokens


def round_policy(data: str, time_limit_s: float) -> dict[str, Any]:
    raw = fixtures.lancashire_problem() if data == "lancashire" else fixtures.gap_problem()
    return {**raw["policy"], "time_limit_s": time_limit_s}


def proposals_snapshot(url: str, round_id: int) -> list[tuple]:
    return query(
        url,
        "SELECT id, school_id, partner_id, role, state, version FROM proposals WHERE round_id = %s ORDER BY id",
        round_id,
    )


def unmatched_count(url: str, round_id: int) -> int:
    return query(url, "SELECT count(*) FROM unmatched WHERE round_id = %s", round_id)[0][0]


def round_row(url: str, round_id: int) -> tuple[str, int]:
    ((state, solves),) = query(url, "SELECT state, solves FROM rounds WHERE id = %s", round_id)
    return state, solves


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(every_s)


def running_pid(url: str, job_id: str, timeout_s: float = 60.0) -> int:
    """The worker's pid once the job is running (the worker records it as it starts)."""

    def check() -> int | None:
        rows = query(url, "SELECT state, pid FROM jobs WHERE id = %s", job_id)
        state, pid = rows[0]
        assert state in ("queued", "running"), f"job {job_id} is already {state}"
        return pid if state == "running" and pid else None

    return wait_for(check, timeout_s, f"job {job_id} running")


def terminal_job(url: str, job_id: str, timeout_s: float = JOB_TIMEOUT_S) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        state, message = query(url, "SELECT state, message FROM jobs WHERE id = %s", job_id)[0]
        return {"state": state, "message": message} if state in ("succeeded", "failed") else None

    return wait_for(check, timeout_s, f"job {job_id} finished")


def assert_error_shape(status: int, payload: Any) -> None:
    assert 400 <= status < 600, status
    assert isinstance(payload, dict) and set(payload) == {"error"}, payload
    assert set(payload["error"]) == {"code", "message", "details"}, payload
    assert payload["error"]["message"] and "Traceback" not in str(payload)


# ---- in-process service, solves on a real worker -----------------------------------------------------------


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return "sqlite:///" + str(tmp_path_factory.mktemp("queue") / "queue.sqlite")


@pytest.fixture(scope="module")
def worker(pg_url: str, broker_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    with worker_process(pg_url, broker_url, concurrency=1, log=tmp_path_factory.mktemp("log") / "worker.log") as w:
        yield w


@pytest.fixture(scope="module")
def app(pg_url: str, broker_url: str, worker: subprocess.Popen) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": pg_url, "BROKER_URL": broker_url, "SYNC_SOLVE_SECONDS": JOB_TIMEOUT_S,
                      "MIGRATE": False})
    yield app
    app.extensions["hubmatch.engine"].dispose()


class Client:
    def __init__(self, app: Flask, token: str):
        self.client, self.token = app.test_client(), token

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)


def new_round(lead: Client, hub_id: str, data: str, time_limit_s: float, term: str = "2026-spring") -> int:
    reply = lead.call("POST", f"/hubs/{hub_id}/rounds", json={"term": term, "policy": round_policy(data, time_limit_s)})
    assert reply.status_code == 201, reply.json
    return reply.json["id"]


def start_solve(lead: Client, round_id: int) -> str:
    reply = lead.call("POST", f"/rounds/{round_id}/solve")
    assert reply.status_code == 202, reply.json
    return reply.json["id"]


@pytest.mark.slow
def test_connection_dropped_during_a_batch_records_nothing_and_the_next_request_recovers(app, pg_url):
    hub_id, tokens = seed_hub(pg_url, "lancashire")
    lead, coordinator = Client(app, tokens["hub_lead"]), Client(app, tokens["coordinator"])
    round_id = new_round(lead, hub_id, "lancashire", 30.0)
    reply = lead.call("POST", f"/rounds/{round_id}/solve?wait={JOB_TIMEOUT_S:.0f}")
    assert reply.json["state"] == "succeeded", reply.json
    before = proposals_snapshot(pg_url, round_id)
    batch = [row[0] for row in before[:40]]
    assert len(batch) == 40
    decisions = {"decisions": [{"proposal": i, "action": "approve"} for i in batch]}
    audit_before = query(pg_url, "SELECT count(*) FROM decisions WHERE round_id = %s", round_id)[0][0]
    dbname = pg_url.rsplit("/", 1)[1]

    replies: list[Any] = []
    with psycopg.connect(pg_url) as locker:  # holds a row lock so that the batch's UPDATE waits on it
        locker.execute("SELECT id FROM proposals WHERE id = %s FOR UPDATE", (batch[-1],))
        thread = threading.Thread(
            target=lambda: replies.append(coordinator.call("POST", f"/rounds/{round_id}/decisions/batch",
                                                           json=decisions))
        )
        thread.start()
        waiting = wait_for(
            lambda: query(
                pg_url,
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> %s",
                dbname,
                locker.info.backend_pid,
            ),
            20,
            "the batch waiting on the lock",
        )
        assert len(waiting) == 1, waiting
        assert query(pg_url, "SELECT pg_terminate_backend(%s)", waiting[0][0]) == [(True,)]
        thread.join(30)
        locker.rollback()
    assert not thread.is_alive()
    (reply,) = replies
    print(f"\nbatch with its connection dropped: {reply.status_code} {reply.json['error']['code']}")
    assert_error_shape(reply.status_code, reply.json)
    assert reply.status_code == 500 and reply.json["error"]["code"] == "internal_error"
    assert query(pg_url, "SELECT count(*) FROM decisions WHERE round_id = %s", round_id)[0][0] == audit_before
    assert proposals_snapshot(pg_url, round_id) == before

    again = coordinator.call("POST", f"/rounds/{round_id}/decisions/batch", json=decisions)  # pool_pre_ping
    assert again.status_code == 200, again.json
    assert again.json["decided"] == len(batch)
    assert query(pg_url, "SELECT count(*) FROM decisions WHERE round_id = %s", round_id)[0][0] == (
        audit_before + len(batch)
    )
    states = dict(query(pg_url, "SELECT id, state FROM proposals WHERE round_id = %s", round_id))
    assert {states[i] for i in batch} == {"approved"}


# ---- the production server (gunicorn) killed and restarted ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``hubmatch serve --prod`` in a process group of its own (with its gunicorn workers), sending solves to the
    queue of ``broker_url`` and starting no solve worker of its own: the production layout."""

    def __init__(self, url: str, broker_url: str, port: int, log: Path):
        self.url, self.broker_url, self.port, self.log = url, broker_url, port, log
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> None:
        env = {**os.environ, "HUBMATCH_DATABASE_URL": self.url, "HUBMATCH_BROKER_URL": self.broker_url}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(HUBMATCH), "serve", "--prod", "--port", str(self.port), "--solve-workers", "0"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

        def healthy() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                return requests.get(f"{self.base}/health", timeout=2).status_code == 200
            except requests.RequestException:  # not listening yet, or busy booting its workers
                return False

        try:
            wait_for(healthy, timeout_s, "server healthy", every_s=0.2)
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def kill(self) -> None:
        """SIGKILL the whole process group: the arbiter and its workers."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self.proc = None


@pytest.mark.slow
def test_web_server_killed_mid_solve_the_solve_still_completes(pg_url, broker_url, worker, tmp_path):
    hub_id, tokens = seed_hub(pg_url, "gap")
    server = Server(pg_url, broker_url, free_port(), tmp_path / "server.log")
    server.start()
    try:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {tokens['hub_lead']}"
        created = http.post(f"{server.base}/hubs/{hub_id}/rounds",
                            json={"term": "2026-spring", "policy": round_policy("gap", SOLVE_S)}, timeout=30)
        assert created.status_code == 201, created.text
        round_id = created.json()["id"]
        reply = http.post(f"{server.base}/rounds/{round_id}/solve", timeout=30)
        assert reply.status_code == 202, reply.text
        job_id = reply.json()["id"]
        pid = running_pid(pg_url, job_id)
        time.sleep(1.0)
        assert round_row(pg_url, round_id)[0] == "solving"
        server.kill()
        assert os.kill(pid, 0) is None  # the solve runs on, in the worker
        job = terminal_job(pg_url, job_id, timeout_s=60)
        assert job == {"state": "succeeded", "message": ""}, job
        assert round_row(pg_url, round_id) == ("proposed", 1)
        assert proposals_snapshot(pg_url, round_id)

        server.start()  # a new server reads what the worker recorded while none ran
        api_job = http.get(f"{server.base}/jobs/{job_id}", timeout=30).json()
        assert (api_job["state"], api_job["round_id"]) == ("succeeded", round_id)
        again = http.post(f"{server.base}/rounds/{round_id}/solve?wait=60", timeout=90)
        assert again.status_code == 200 and again.json()["state"] == "succeeded", again.text
        assert round_row(pg_url, round_id) == ("proposed", 2)
    finally:
        server.stop()
