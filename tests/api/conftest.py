"""Fixtures of the service's tests.

Every test that uses the app runs once per database backend: SQLite in a file (the solve worker is a separate
process, so it must be a real file) and PostgreSQL whenever one answers on 127.0.0.1:5432 (a fresh database per
test session, dropped at the end). There is one app per backend; tests keep apart by working in hubs of their own
(every row the service keeps belongs to a hub). ``@pytest.mark.backends("postgresql")`` limits a test to some
backends.

Solves through the API go through the solve queue to a real ``hubmatch worker`` as in production: each backend's
session starts one on an embedded queue file of its own (``tests/workers.py``). Where a test only needs a solved
round to work on, ``solve_now`` runs the same task code (``service.tasks.run_job``) in this process.
"""

from __future__ import annotations

import copy
import functools
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from helpers import TINY
from pg import scratch_database, skip_without_postgres
from sqlalchemy.orm import Session
from workers import worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from models import Problem, load_problem
from models import tables as t
from models.repository import create_hub
from models.store import transaction
from service.tasks import run_job

BACKENDS = ("sqlite", "postgresql")
JOB_TIMEOUT_S = 120.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run the test only on these database backends")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("backends")
        names = marker.args if marker else BACKENDS
        metafunc.parametrize("database_url", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "hubmatch.sqlite"
        yield "sqlite:///" + str(path.resolve())
        return
    skip_without_postgres()
    with scratch_database("hubmatch_test") as url:
        yield url


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture(scope="session")
def broker_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The backend's own embedded queue (a SQLite file): the two backends' workers never take each other's jobs."""
    name = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    return "sqlite:///" + str(tmp_path_factory.mktemp(f"queue-{name}") / "queue.sqlite")


@pytest.fixture(scope="session")
def outbox_dir(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the backend's worker writes messages to (no SMTP server: the embedded default)."""
    return tmp_path_factory.mktemp("mail-sqlite" if database_url.startswith("sqlite") else "mail-postgresql")


@pytest.fixture(scope="session")
def app(database_url: str, broker_url: str, outbox_dir: Path, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": database_url, "BROKER_URL": broker_url, "SYNC_SOLVE_SECONDS": JOB_TIMEOUT_S})
    log = tmp_path_factory.mktemp("worker-log") / "worker.log"
    with worker_process(database_url, broker_url, concurrency=2, log=log,  # stopped before the database goes
                        OUTBOX_DIR=str(outbox_dir)):
        yield app
    app.extensions["hubmatch.engine"].dispose()


@pytest.fixture(scope="session")
def new_app(database_url: str, broker_url: str) -> Iterator[Callable[..., Flask]]:
    """Another app on the same database (as a second server process would be); disposed at the end."""
    made: list[Flask] = []

    def make(**config: Any) -> Flask:
        made.append(create_app({"DATABASE_URL": database_url, "BROKER_URL": broker_url, "MIGRATE": False, **config}))
        return made[-1]

    yield make
    for other in made:
        other.extensions["hubmatch.engine"].dispose()


@contextmanager
def unit_of_work(app: Flask) -> Iterator[Session]:
    """A database session of the app's, committed at the end (for arranging and checking rows directly)."""
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        yield session


@pytest.fixture(scope="session")
def db(app: Flask) -> Callable[[], Any]:
    """``with db() as session:``: a committed unit of work on the test's backend."""
    return lambda: unit_of_work(app)


class Caller:
    """A test client that sends one token (or none) with every request."""

    def __init__(self, app: Flask, token: str | None, name: str = "anonymous"):
        self.client = app.test_client()
        self.token, self.name = token, name

    def open(self, method: str, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        sent = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return self.client.open(url, method=method, headers={**sent, **(headers or {})}, **kwargs)

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.open("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.open("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Any:
        return self.open("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.open("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Any:
        return self.open("DELETE", url, **kwargs)


def issue_token(app: Flask, role: str, hub_id: str | None, name: str) -> str:
    with unit_of_work(app) as session:
        return create_token(session, name, role, hub_id)


_names = itertools.count(1)


@pytest.fixture(scope="session")
def caller(app: Flask) -> Callable[..., Caller]:
    """``caller(role, hub_id)``: a client with a new token of that role (named ``role@hub`` unless named)."""

    def make(role: str, hub_id: str | None = None, name: str | None = None) -> Caller:
        name = name or f"{role}@{hub_id or 'all'}#{next(_names)}"
        return Caller(app, issue_token(app, role, hub_id, name), name)

    return make


@pytest.fixture(scope="session")
def bearer(app: Flask) -> Callable[[str | None], Caller]:
    """``bearer(token)``: a client that sends this token, whatever it is."""
    return lambda token: Caller(app, token)


@pytest.fixture(scope="session")
def admin(app: Flask) -> Caller:
    return Caller(app, issue_token(app, "admin", None, "root"), "root")


@pytest.fixture
def anonymous(app: Flask) -> Caller:
    return Caller(app, None)


def lancashire_raw() -> dict[str, Any]:
    """A fresh copy of the Lancashire fixture (tests may change it)."""
    return fixtures.lancashire_problem()


@functools.cache
def lancashire_problem() -> Problem:
    raw = lancashire_raw()
    raw.pop("pairs", None)  # the fixture's pair rules are not hub records
    return load_problem(raw)


def tiny_problem() -> Problem:
    return load_problem(TINY)


@pytest.fixture
def lancs_raw() -> dict[str, Any]:
    """The Lancashire fixture as a problem document (a fresh copy)."""
    return lancashire_raw()


@pytest.fixture(scope="session")
def lancs() -> Problem:
    """The Lancashire records as the hubs made by ``make_hub("lancashire")`` hold them."""
    return lancashire_problem()


@pytest.fixture
def tiny_raw() -> dict[str, Any]:
    return copy.deepcopy(TINY)


_hub_ids = itertools.count(1)


@pytest.fixture(scope="session")
def make_hub(app: Flask) -> Callable[..., str]:
    """``make_hub("lancashire" | "tiny" | None)``: a new hub of this test's own, with those records (set directly)."""

    def make(data: str | None = None, prefix: str = "hub") -> str:
        hub_id = f"{prefix}-{next(_hub_ids)}"
        problem = {"lancashire": lancashire_problem, "tiny": tiny_problem, None: lambda: None}[data]()
        with unit_of_work(app) as session:
            create_hub(session, hub_id, f"Hub {hub_id}", problem)
            if problem is not None:
                session.get(t.Hub, hub_id).priority_sectors = dict(problem.hub.priority_sectors)  # type: ignore
        return hub_id

    return make


@pytest.fixture(scope="session")
def solve_now(app: Flask) -> Callable[[int], dict[str, Any]]:
    """Solve a round with the worker's own code in this process; returns the finished job as a dict."""

    def solve(round_id: int) -> dict[str, Any]:
        factory = app.extensions["hubmatch.sessions"]
        with transaction(factory) as session:
            job = app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round_id))
            job_id = job.id
        run_job(job_id, factory)
        with transaction(factory) as session:
            job = session.get(t.Job, job_id)
            assert job.state == "succeeded", job.message
            return {"id": job.id, "state": job.state, "result": job.result}

    return solve


def wait_job(who: Caller, url: str, timeout_s: float = JOB_TIMEOUT_S) -> dict[str, Any]:
    """Poll a job until it succeeded or failed."""
    deadline = time.monotonic() + timeout_s
    while True:
        reply = who.get(url)
        assert reply.status_code == 200, reply.json
        if reply.json["state"] in ("succeeded", "failed"):
            return reply.json
        assert time.monotonic() < deadline, f"job {url} still {reply.json['state']} after {timeout_s} s"
        time.sleep(0.1)


@pytest.fixture
def poll_job() -> Callable[..., dict[str, Any]]:
    return wait_job


def check_error(reply: Any, status: int, code: str, message: str | None = None, details: Any = ...) -> dict:
    """The reply is the API's error shape with this status and code (and message and details, when given)."""
    text = reply.get_data(as_text=True)
    assert reply.status_code == status, (reply.status_code, text[:500])
    assert reply.mimetype == "application/json", (reply.mimetype, text[:200])
    assert "Traceback" not in text and "<html" not in text.lower() and 'File "' not in text
    assert set(reply.json) == {"error"}
    error = reply.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if message is not None:
        assert error["message"] == message
    if details is not ...:
        assert error["details"] == details
    return error


@pytest.fixture
def expect_error() -> Callable[..., dict]:
    return check_error


@dataclass(frozen=True)
class SolvedRound:
    """A hub with the Lancashire records and one round solved through the API (read-only for tests)."""

    hub_id: str
    round_id: int
    reply_status: int
    reply_location: str | None
    job: dict[str, Any]
    lead: Caller
    coordinator: Caller
    reader: Caller


@pytest.fixture(scope="session")
def lancashire_round(app: Flask, admin: Caller) -> SolvedRound:
    """Solved once per backend through ``POST /rounds/{id}/solve?wait=...`` (the worker process).

    Tests only read it: the ones that decide, publish or re-solve make rounds of their own.
    """
    hub_id = f"shared-{next(_hub_ids)}"
    with unit_of_work(app) as session:
        create_hub(session, hub_id, "Lancashire (shared)", lancashire_problem())
        session.get(t.Hub, hub_id).priority_sectors = dict(lancashire_problem().hub.priority_sectors)  # type: ignore
    lead = Caller(app, issue_token(app, "hub_lead", hub_id, "lead"), "lead")
    policy = lancashire_raw()["policy"]
    created = lead.post(f"/hubs/{hub_id}/rounds", json={"term": "2026-spring", "policy": policy})
    assert created.status_code == 201, created.json
    round_id = created.json["id"]
    reply = lead.post(f"/rounds/{round_id}/solve?wait={JOB_TIMEOUT_S:.0f}")
    assert reply.json["state"] == "succeeded", reply.json
    return SolvedRound(
        hub_id=hub_id,
        round_id=round_id,
        reply_status=reply.status_code,
        reply_location=reply.headers.get("Location"),
        job=reply.json,
        lead=lead,
        coordinator=Caller(app, issue_token(app, "coordinator", hub_id, "coord"), "coord"),
        reader=Caller(app, issue_token(app, "read_only", hub_id, "reader"), "reader"),
    )


def all_items(who: Caller, url: str, per_page: int = 1000) -> list[dict[str, Any]]:
    """Every item of a paged list."""
    items: list[dict[str, Any]] = []
    page = 1
    sep = "&" if "?" in url else "?"
    while True:
        reply = who.get(f"{url}{sep}page={page}&per_page={per_page}")
        assert reply.status_code == 200, reply.json
        items += reply.json["items"]
        if len(items) >= reply.json["total"] or not reply.json["items"]:
            return items
        page += 1


@pytest.fixture
def list_all() -> Callable[..., list[dict[str, Any]]]:
    return all_items
