"""Jobs as the API shows them, and starting them: a round's solve, or an analysis of a round.

Shared by the blueprints that start jobs (rounds and waves, and each analysis' own resource), so none of them
imports another. A job is committed before it is sent to the workers; ``?wait=S`` answers 200 with the finished
job when it ends within S seconds (capped by ``SYNC_SOLVE_SECONDS``), else 202 with its URL.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for
from marshmallow import Schema, fields, validate

from api.auth import principal
from api.context import db, jobs
from models import tables as t
from models.audit import Action, record_event
from models.lifecycle import JOB_OVER, SOLVE, new_analysis_job
from models.privacy import coarse_summary, sees_homes
from models.schemas import MAX_WAIT_S
from service import analyses
from service.jobs import position

JOB_FIELDS = ("id", "round_id", "kind", "state", "progress", "stage", "message", "result", "created_at",
              "started_at", "finished_at")


class JobSchema(Schema):
    id = fields.String()
    round_id = fields.Integer()
    kind = fields.String(metadata={"description": "solve, or the analysis it runs (gaps, recommend, compare...)"})
    state = fields.String(metadata={"description": "queued, running, succeeded, failed"})
    position = fields.Integer(
        allow_none=True, metadata={"description": "a queued job's place in the queue (1: next to start)"}
    )
    progress = fields.Float(allow_none=True, metadata={"description": "how far a started job is, 0 to 1"})
    stage = fields.String(allow_none=True, metadata={"description": "what a started job is doing"})
    message = fields.String()
    result = fields.Dict(metadata={"description": "a solve's summary, or an analysis' answer"})
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    url = fields.String()
    round_url = fields.String()


class WaitArgs(Schema):
    wait = fields.Float(
        load_default=0.0,
        validate=validate.Range(0, MAX_WAIT_S),
        metadata={"description": "seconds to wait for the job to finish before answering 202"},
    )


def job_view(job: t.Job) -> dict[str, Any]:
    """A job as its readers see it: no process ids or host names of the workers; non-admins' results coarse."""
    view = {
        **{key: getattr(job, key) for key in JOB_FIELDS},
        "position": position(db(), job),
        "url": url_for("rounds.JobItem", job_id=job.id),
        "round_url": url_for("rounds.RoundItem", round_id=job.round_id),
    }
    if sees_homes(principal().role):
        return view
    return {**view, "result": _for_reader(job)}


def _for_reader(job: t.Job) -> dict[str, Any]:
    if job.kind == SOLVE:
        return coarse_summary(job.result)
    if job.state != "succeeded":
        return job.result or {}
    try:
        return analyses.for_reader(job.kind, job.result or {})
    except analyses.UnknownAnalysis:
        return {}  # a kind this server cannot redact is not shown


def start_solve(round_: t.Round, wait: float) -> Any:
    """Queue the round's solve (the round moves to ``solving``), send it after commit, optionally wait for it."""
    job = jobs().submit(db(), round_, requested_by=principal().name)
    record_event(db(), round_.hub_id, principal().name, Action.SOLVE_STARTED, f"rounds/{round_.id}", {"job": job.id})
    return _send(job, wait)


def start_analysis(round_: t.Round, kind: str, params: dict[str, Any], wait: float) -> Any:
    """Queue an analysis of the round with its validated parameters (the round stays where it is)."""
    analyses.module(kind)  # a kind this server does not know is a programming error, raised here and not in a worker
    job = new_analysis_job(round_, kind, params, requested_by=principal().name)
    db().add(job)
    record_event(db(), round_.hub_id, principal().name, Action.ANALYSIS_STARTED, f"rounds/{round_.id}",
                 {"job": job.id, "kind": kind})
    return _send(job, wait)


def _send(job: t.Job, wait: float) -> Any:
    db().commit()
    jobs().send(job.id)
    if wait := min(wait, current_app.config["SYNC_SOLVE_SECONDS"]):
        jobs().wait(job.id, wait)
        db().refresh(job)
    status = 200 if job.state in JOB_OVER else 202
    return job_view(job), status, {"Location": url_for("rounds.JobItem", job_id=job.id)}
