"""A synchronous solve (``?wait=``) notices its job's end from the job's row, and no sooner or later."""

from __future__ import annotations

import time

from models import tables as t
from models.store import transaction
from service.jobs import JobQueue


def _job(app, caller, make_hub) -> tuple[JobQueue, str]:
    """A queued job of a new tiny round, submitted as the API does but never sent to the workers."""
    hub = make_hub("tiny")
    round_id = caller("hub_lead", hub).post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    jobs: JobQueue = app.extensions["hubmatch.jobs"]
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        job_id = jobs.submit(session, session.get(t.Round, round_id)).id
    return jobs, job_id


def _set_state(app, job_id: str, state: str) -> None:
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        session.get(t.Job, job_id).state = state


def test_wait_returns_once_the_row_records_the_outcome(app, caller, make_hub):
    jobs, job_id = _job(app, caller, make_hub)
    started = time.monotonic()
    jobs.wait(job_id, 0.3)
    assert time.monotonic() - started >= 0.3  # still queued: waits the whole timeout
    _set_state(app, job_id, "running")
    started = time.monotonic()
    jobs.wait(job_id, 0.3)
    assert time.monotonic() - started >= 0.3  # running is not over either
    _set_state(app, job_id, "failed")
    started = time.monotonic()
    jobs.wait(job_id, 20)
    assert time.monotonic() - started < 2


def test_a_queued_job_shows_its_place_in_the_queue(app, caller, make_hub):
    first, second = _job(app, caller, make_hub)[1], _job(app, caller, make_hub)[1]
    lead = caller("admin")
    ahead = lead.get(f"/jobs/{first}").json["position"]
    assert lead.get(f"/jobs/{second}").json["position"] == ahead + 1
    _set_state(app, first, "running")  # taken by a worker: everything behind it moves up one
    assert lead.get(f"/jobs/{first}").json["position"] is None
    assert lead.get(f"/jobs/{second}").json["position"] == ahead
    _set_state(app, first, "failed")
    _set_state(app, second, "failed")
