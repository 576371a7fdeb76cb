"""Shared set-up of the reliability tests that drive the HTTP API (``test_fuzz_openapi``, ``test_bad_input``).

A plain module rather than a conftest: ``tests/api/conftest.py`` cannot be imported from here (the folder ``api``
would be the service's package), and other suites also live in ``tests/reliability``. It gives an app per backend
(SQLite in a temporary file; PostgreSQL in a database of its own whenever one answers on 127.0.0.1:5432), an admin
token, a seeded hub with one round solved in this process (no worker process), and a fingerprint of the whole
database (row counts and a SHA-256 over every table's rows in primary-key order) to prove a refused request wrote
nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Flask
from helpers import TINY
from pg import scratch_database
from sqlalchemy import select

from api.app import create_app
from api.auth import create_token
from models import load_problem
from models import tables as t
from models.repository import create_hub
from models.store import transaction
from service.tasks import run_job as run_worker


@dataclass(frozen=True)
class Seeded:
    """A hub with the tiny records and one round solved in-process: ids for path parameters."""

    hub_id: str
    round_id: int
    job_id: str
    proposal_id: int
    admin_token: str


def backend_app(backend: str, tmp_dir: Any, suffix: str, **config: Any) -> Iterator[Flask]:
    """A fresh app on ``backend`` with ``config`` (generator: disposes and drops its database afterwards)."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = "sqlite:///" + str((tmp_dir / "hubmatch.sqlite").resolve())
        else:
            url = stack.enter_context(scratch_database(f"hubmatch_{suffix}"))
        app = create_app({"DATABASE_URL": url, **config})
        stack.callback(app.extensions["hubmatch.engine"].dispose)  # runs before the database is dropped
        yield app


def seed(app: Flask, hub_id: str = "fuzz") -> Seeded:
    """An admin token and a hub with the tiny records and one solved round."""
    factory = app.extensions["hubmatch.sessions"]
    with transaction(factory) as session:
        token = create_token(session, f"admin-{hub_id}", "admin", None)
        create_hub(session, hub_id, f"Hub {hub_id}", load_problem({**TINY, "hub": {**TINY["hub"], "id": hub_id}}))
        round_ = t.Round(hub_id=hub_id, term="2026-spring", policy={})
        session.add(round_)
        session.flush()
        round_id = round_.id
    with transaction(factory) as session:
        job_id = app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round_id)).id
    run_worker(job_id, factory)
    with transaction(factory) as session:
        job = session.get(t.Job, job_id)
        assert job.state == "succeeded", job.message
        proposal_id = session.scalar(select(t.Proposal.id).where(t.Proposal.round_id == round_id).limit(1))
        assert proposal_id is not None
    return Seeded(hub_id, round_id, job_id, proposal_id, token)


def fingerprint(app: Flask) -> tuple[dict[str, int], str]:
    """Row counts per table and a SHA-256 over every row of every table, in primary-key order."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        for table in t.Base.metadata.sorted_tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            counts[table.name] = len(rows)
            digest.update(table.name.encode())
            for row in rows:
                digest.update(repr(tuple(row)).encode("utf-8", "backslashreplace"))
    return counts, digest.hexdigest()
