"""A synchronous solve notices its job's end from the job's row, and the worker leaves as soon as it has committed."""

from __future__ import annotations

import threading
import time

import pytest

import hubmatch.worker
from hubmatch.jobs import JobRunner
from models import tables as t
from models.store import transaction


def _job(app, caller, make_hub) -> tuple[JobRunner, str]:
    """A queued job of a new tiny round, submitted as the API does."""
    hub = make_hub("tiny")
    round_id = caller("hub_lead", hub).post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    runner: JobRunner = app.extensions["hubmatch.jobs"]
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        job_id = runner.submit(session, session.get(t.Round, round_id)).id
    return runner, job_id


def _set_state(app, job_id: str, state: str) -> None:
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        session.get(t.Job, job_id).state = state


def test_wait_returns_once_the_row_records_the_outcome(app, caller, make_hub):
    runner, job_id = _job(app, caller, make_hub)
    exited = threading.Event()
    runner.threads[job_id] = watcher = threading.Thread(target=exited.wait, args=(30,), daemon=True)
    watcher.start()  # a worker process that has committed but not yet exited
    try:
        started = time.monotonic()
        runner.wait(job_id, 0.3)
        assert time.monotonic() - started >= 0.3  # still queued: waits the whole timeout
        _set_state(app, job_id, "succeeded")
        started = time.monotonic()
        runner.wait(job_id, 20)
        assert time.monotonic() - started < 5 and watcher.is_alive()
    finally:
        exited.set()
        runner.threads.pop(job_id)


def test_wait_returns_when_the_watcher_ends(app, caller, make_hub):
    runner, job_id = _job(app, caller, make_hub)
    runner.threads[job_id] = watcher = threading.Thread(target=time.sleep, args=(0.2,))
    watcher.start()
    started = time.monotonic()
    runner.wait(job_id, 20)  # the row still says queued: the watcher's end is the sign
    assert time.monotonic() - started < 5 and not watcher.is_alive()
    runner.threads.pop(job_id)


def test_worker_exits_right_after_committing(app, caller, make_hub, database_url, monkeypatch):
    _, job_id = _job(app, caller, make_hub)
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        with transaction(app.extensions["hubmatch.sessions"]) as session:
            assert session.get(t.Job, job_id).state == "succeeded"  # committed before the exit
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(hubmatch.worker.os, "_exit", fake_exit)
    monkeypatch.setattr(hubmatch.worker.sys, "argv", ["hubmatch.worker", job_id])
    monkeypatch.setenv("DATABASE_URL", database_url)
    with pytest.raises(SystemExit):
        hubmatch.worker.main()
    assert exits == [0]
