"""The supervisor's rules, one sweep at a time, on a database of its own (no worker process is running on it).

The real processes, kills and broker restarts are in tests/reliability/test_queue.py; here each rule of
``service.supervisor`` is checked on rows arranged by hand, with the worker's live processes and its kill given.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

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
