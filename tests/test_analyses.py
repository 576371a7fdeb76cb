"""Analysis jobs on the solve queue: run like a solve, with parameters, progress and a result, but never moving
their round; failures say why; a round of another hub is out of reach.

Run in this process on a database of its own (``service.tasks.run_job`` runs anywhere a session factory does), with
an analysis module made for the test; the real analyses are tested through the API with a real worker.
"""

from __future__ import annotations

import sys
import types

import pytest
from helpers import TINY
from sqlalchemy import select

from models import load_problem
from models import tables as t
from models.lifecycle import TransitionError, new_analysis_job, new_job
from models.repository import create_hub
from models.store import make_engine, migrate, session_factory, transaction
from service import analyses
from service.analyses import AnalysisContext, AnalysisError
from service.tasks import run_job

SEEN: list[AnalysisContext] = []


def _probe_run(ctx: AnalysisContext) -> dict:
    """Reports progress, reads what it was given, and answers or refuses as its parameters say."""
    SEEN.append(ctx)
    ctx.progress(0.5, "half way")
    if "other" in ctx.params:
        ctx.load_round(ctx.params["other"])
    if ctx.params.get("refuse"):
        raise AnalysisError("Nothing to analyse: the round has no idle adviser.")
    if ctx.params.get("crash"):
        raise KeyError("/srv/secret/path")
    assert ctx.solution is not None
    return {"pairings": sorted(f"{a.school}-{a.partner}" for a in ctx.solution.assignments),
            "schools": len(ctx.problem.schools)}


@pytest.fixture
def probe(monkeypatch):
    module = types.ModuleType("probe_analysis")
    module.run = _probe_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "probe_analysis", module)
    monkeypatch.setitem(analyses.KINDS, "probe", "probe_analysis")
    SEEN.clear()
    return module


@pytest.fixture
def factory(tmp_path):
    url = f"sqlite:///{tmp_path / 'analyses.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        for hub in ("tiny", "other"):
            create_hub(session, hub, hub, load_problem({**TINY, "hub": {**TINY["hub"], "id": hub}}))
            session.add(t.Round(hub_id=hub, term="2026-spring", policy={}))
    yield factory
    engine.dispose()


def solved_round(factory, hub: str = "tiny") -> int:
    with transaction(factory) as session:
        round_ = session.scalars(select(t.Round).where(t.Round.hub_id == hub)).one()
        job = new_job(round_)
        session.add(job)
        round_id, job_id = round_.id, job.id
    assert run_job(job_id, factory)
    return round_id


def analyse(factory, round_id: int, kind: str = "probe", **params) -> t.Job:
    with transaction(factory) as session:
        job = new_analysis_job(session.get(t.Round, round_id), kind, params, requested_by="Hub Lead")
        session.add(job)
        job_id = job.id
    assert run_job(job_id, factory)
    with transaction(factory) as session:
        job = session.get(t.Job, job_id)
        session.expunge(job)
        return job


def round_state(factory, round_id: int) -> str:
    with transaction(factory) as session:
        return session.get(t.Round, round_id).state


def test_a_solve_reports_its_progress_to_the_end(factory):
    round_id = solved_round(factory)
    with transaction(factory) as session:
        job = session.scalars(select(t.Job).where(t.Job.round_id == round_id)).one()
        assert (job.state, job.progress, job.stage) == ("succeeded", 1.0, "writing the proposals")


def test_an_analysis_reads_the_rounds_pairings_and_leaves_the_round_where_it_is(factory, probe):
    round_id = solved_round(factory)
    with transaction(factory) as session:
        rejected = session.scalars(select(t.Proposal).where(t.Proposal.round_id == round_id)).first()
        rejected.state = "rejected"
        kept = sorted(f"{p.school_id}-{p.partner_id}" for p in session.scalars(
            select(t.Proposal).where(t.Proposal.round_id == round_id, t.Proposal.state != "rejected")))
    job = analyse(factory, round_id)
    assert job.state == "succeeded", job.message
    assert job.result == {"pairings": kept, "schools": 3}
    assert (job.progress, job.stage, job.params) == (1.0, "half way", {})
    assert round_state(factory, round_id) == "proposed"
    with transaction(factory) as session:
        event = session.scalars(select(t.Event).where(t.Event.action == "analysis.succeeded")).one()
        assert (event.actor, event.details["kind"], event.details["job"]) == ("Hub Lead", "probe", job.id)


def test_a_failed_analysis_says_why_and_never_moves_a_round_being_solved(factory, probe):
    round_id = solved_round(factory)
    with transaction(factory) as session:
        session.get(t.Round, round_id).state = "solving"  # a re-solve of the round is running meanwhile
    job = analyse(factory, round_id, refuse=True)
    assert (job.state, job.message) == ("failed", "Nothing to analyse: the round has no idle adviser.")
    assert round_state(factory, round_id) == "solving"
    crashed = analyse(factory, round_id, crash=True)
    assert crashed.state == "failed"
    assert crashed.message == (f"the analysis failed unexpectedly (KeyError); the worker's log has the details "
                               f"(job {crashed.id})")
    assert round_state(factory, round_id) == "solving"


def test_another_hubs_round_is_out_of_an_analysis_reach(factory, probe):
    round_id, theirs = solved_round(factory), solved_round(factory, "other")
    job = analyse(factory, round_id, other=theirs)
    assert (job.state, job.message) == ("failed", f"No round {theirs} in hub 'tiny'.")
    assert analyse(factory, round_id, other=round_id).state == "succeeded"


def test_an_unknown_kind_fails_by_name_and_a_draft_round_cannot_be_analysed(factory):
    with transaction(factory) as session:
        draft = session.scalars(select(t.Round).where(t.Round.hub_id == "tiny")).one()
        with pytest.raises(TransitionError, match="solve it before analysing it"):
            new_analysis_job(draft, "probe", {})
        with pytest.raises(ValueError):
            new_analysis_job(draft, "solve", {})
    round_id = solved_round(factory)
    job = analyse(factory, round_id, kind="nope")
    assert (job.state, job.message) == ("failed", "This server has no analysis of kind 'nope'.")
