"""The supervisor's rules, one sweep at a time, on a database of its own (no worker process is running on it).

The real processes, kills and broker restarts are in tests/reliability/test_queue.py; here each rule of
``service.supervisor`` is checked on rows arranged by hand, with the worker's live processes and its kill given.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from locks import lock_held
from pg import scratch_database, skip_without_postgres
from sqlalchemy.exc import OperationalError

from models import tables as t
from models.store import make_engine, migrate, session_factory, transaction
from service.config import Settings
from service.supervisor import KILLED, OVERDUE, STALE, Supervisor

ME = "host-a:100"


class Broker:
    """The two things the supervisor asks of the queue: what waits there, and send one more."""

    def __init__(self, pending: set[str]):
        self.pending, self.sent = pending, []

    def pending_ids(self) -> set[str]:
        return set(self.pending)

    def send(self, job_id: str) -> None:
        self.sent.append(job_id)


@pytest.fixture
def factory(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        session.add(t.Hub(id="hub", name="Hub"))
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def locked(request, tmp_path) -> Iterator[tuple[object, Callable[[str], contextlib.AbstractContextManager]]]:
    """A database whose supervisor engine waits at most 0.5 s on a lock, and a way to hold a job's lock the way
    a solve process stopped inside its transaction does (SQLite: the file's write lock; PostgreSQL: the row's)."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
        else:
            skip_without_postgres()
            url = stack.enter_context(scratch_database("hubmatch_supervisor"))
        migrate(url)
        engine = make_engine(url, lock_wait_s=0.5)
        stack.callback(engine.dispose)
        with transaction(session_factory(engine)) as session:
            session.add(t.Hub(id="hub", name="Hub"))

        def hold(job_id: str) -> contextlib.AbstractContextManager[None]:
            return lock_held(url, "SELECT id FROM jobs WHERE id = %s FOR UPDATE", job_id)

        yield session_factory(engine), hold


def arrange(factory, name: str, state: str, solves: int = 0, **job) -> str:
    """A round in ``solving`` (``solves`` earlier solves) with one job of that state and those columns."""
    with transaction(factory) as session:
        round_ = t.Round(hub_id="hub", term=name, state="solving", solves=solves)
        session.add(round_)
        session.flush()
        session.add(t.Job(id=name, round_id=round_.id, state=state, **job))
    return name


def row(factory, job_id: str) -> tuple[str, str, str]:
    with transaction(factory) as session:
        job = session.get(t.Job, job_id)
        return job.state, job.message, session.get(t.Round, job.round_id).state


def supervisor(factory, live: set[int], pending: set[str] = frozenset(), **settings) -> tuple[Supervisor, list, Broker]:
    killed: list[int] = []
    broker = Broker(set(pending))
    sup = Supervisor(factory, broker, Settings(**settings), ME, lambda: live, kill=killed.append)  # type: ignore[arg-type]
    return sup, killed, broker


def test_each_rule_of_a_sweep(factory):
    now = t.now()
    ago = lambda s: now - timedelta(seconds=s)  # noqa: E731
    dead = arrange(factory, "dead", "running", solves=1, worker=ME, pid=11, started_at=ago(5), heartbeat_at=ago(1),
                   deadline_at=ago(-60))
    overdue = arrange(factory, "overdue", "running", worker=ME, pid=12, started_at=ago(95), heartbeat_at=ago(1),
                      deadline_at=ago(5))
    alive = arrange(factory, "alive", "running", solves=2, worker=ME, pid=13, started_at=ago(5), heartbeat_at=ago(4),
                    deadline_at=ago(-60))
    stale = arrange(factory, "stale", "running", worker="host-b:7", pid=13, started_at=ago(100),
                    heartbeat_at=ago(31), deadline_at=ago(-60))
    other = arrange(factory, "other", "running", worker="host-b:7", pid=99, started_at=ago(100),
                    heartbeat_at=ago(29), deadline_at=ago(5))
    lost = arrange(factory, "lost", "queued", created_at=ago(11))
    waiting = arrange(factory, "waiting", "queued", created_at=ago(60))
    fresh = arrange(factory, "fresh", "queued", created_at=ago(2))
    sup, killed, broker = supervisor(factory, live={12, 13}, pending={waiting}, solve_grace_s=30)

    done = sup.sweep()

    assert (done.lost, done.killed, done.stale, done.alive, done.resent) == ([dead], [overdue], [stale], [alive],
                                                                             [lost])
    assert killed == [12] and broker.sent == [lost]
    assert row(factory, dead) == ("failed", KILLED, "proposed")  # an earlier solve's proposals stay
    assert row(factory, overdue) == ("failed", OVERDUE.format(total=90, limit=60, grace=30), "draft")
    assert row(factory, overdue)[1] == ("the solve did not finish within 90 s (its time limit of 60 s and 30 s of "
                                        "grace) and was stopped")
    assert row(factory, stale) == ("failed", STALE.format(worker="host-b:7"), "draft")
    assert row(factory, alive) == ("running", "", "solving")
    assert row(factory, other) == ("running", "", "solving")  # another host's deadline is that host's business
    for queued in (lost, waiting, fresh):
        assert row(factory, queued) == ("queued", "", "solving")
    with transaction(factory) as session:
        assert session.get(t.Job, alive).heartbeat_at >= now  # renewed
        assert session.get(t.Job, other).heartbeat_at < now  # not this host's to renew


def test_a_job_over_is_never_failed_again(factory):
    job = arrange(factory, "done", "succeeded", worker=ME, pid=11)
    sup, killed, _ = supervisor(factory, live=set())
    assert sup.sweep().lost == [] and killed == []
    assert row(factory, job)[0] == "succeeded"


def test_an_unreachable_broker_leaves_queued_jobs_for_the_next_sweep(factory):
    job = arrange(factory, "q", "queued", created_at=t.now() - timedelta(seconds=30))
    sup, _, broker = supervisor(factory, live=set())

    def down() -> set[str]:
        raise ConnectionError("broker down")

    broker.pending_ids = down  # type: ignore[method-assign]
    assert sup.sweep().resent == []
    assert row(factory, job) == ("queued", "", "solving")
    broker.pending_ids = lambda: set()  # type: ignore[method-assign]
    assert sup.sweep().resent == [job]


def test_a_lock_held_by_a_stopped_solve_never_stalls_a_sweep(locked):
    factory, hold = locked
    now = t.now()
    alive = arrange(factory, "alive", "running", worker=ME, pid=13, started_at=now, heartbeat_at=now,
                    deadline_at=now + timedelta(seconds=60))
    sup, killed, _ = supervisor(factory, live={13})
    with hold(alive):
        began = time.monotonic()
        done = sup.sweep()  # the heartbeat waits 0.5 s for the lock, then is left to the next sweep
        took = time.monotonic() - began
    assert done.alive == [alive] and killed == []
    assert took < 5.0, took  # not the 30 s of an engine without the supervisor's lock wait
    with transaction(factory) as session:
        assert session.get(t.Job, alive).heartbeat_at == now
    sup.sweep()
    with transaction(factory) as session:
        assert session.get(t.Job, alive).heartbeat_at > now  # renewed once the lock is gone


def test_a_solve_killed_past_its_deadline_is_failed_so_even_when_a_lock_delays_the_record(locked):
    factory, hold = locked
    now = t.now()
    overdue = arrange(factory, "overdue", "running", worker=ME, pid=12, started_at=now - timedelta(seconds=95),
                      heartbeat_at=now, deadline_at=now - timedelta(seconds=5))
    sup, killed, _ = supervisor(factory, live={12}, solve_grace_s=30)
    with hold(overdue), pytest.raises(OperationalError):
        sup.sweep()  # killed, but the lock refuses the record of it: the sweep fails and is run again
    assert killed == [12] and row(factory, overdue)[0] == "running"
    sup.live_pids = lambda: set()  # the consumer has seen its process die
    assert sup.sweep().lost == [overdue]
    assert row(factory, overdue) == ("failed", OVERDUE.format(total=90, limit=60, grace=30), "draft")
