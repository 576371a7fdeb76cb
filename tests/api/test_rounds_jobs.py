"""Rounds, their solve jobs and what a solve leaves: proposals and unmatched slots. Solves through the API run in the
worker process; failures end as a failed job with a readable message and the round as it was before."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest

import service.tasks
from matcher import solve
from models import load_problem
from models import tables as t
from models.repository import problem_document
from models.store import transaction


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite keeps no zone; the service writes UTC


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def same_round(one: dict, other: dict) -> bool:
    """Equal, comparing created_at as instants (SQLite gives it back without its UTC offset)."""
    strip = ("created_at", "published_at")
    return {k: v for k, v in one.items() if k not in strip} == {
        k: v for k, v in other.items() if k not in strip
    } and all((one[k] is None and other[k] is None) or parse_time(one[k]) == parse_time(other[k]) for k in strip)


# --- rounds ----------------------------------------------------------------------------------------------------------


def test_round_create_list_get_patch(caller, make_hub, lancs_raw, expect_error):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub, name="Lena Lead")
    before = datetime.now(UTC)
    reply = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": lancs_raw["policy"]})
    assert reply.status_code == 201
    spring = reply.json
    assert {k: v for k, v in spring.items() if k not in ("id", "created_at")} == {
        "hub_id": hub,
        "term": "2026-spring",
        "policy": lancs_raw["policy"],
        "keep_current": False,
        "state": "draft",
        "solves": 0,
        "summary": {},
        "proposals": {},
        "created_by": "Lena Lead",
        "published_at": None,
    }
    assert before.timestamp() - 1 <= parse_time(spring["created_at"]).timestamp() <= time.time() + 1
    expect_error(
        lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring"}),
        409,
        "conflict",
        f"Hub '{hub}' already has a round for '2026-spring'.",
    )
    error = expect_error(lead.post(f"/hubs/{hub}/rounds", json={"term": "spring 2026!"}), 422, "invalid_input")
    assert error["details"] == {"json": {"term": ["A term looks like '2026-spring'."]}}
    error = expect_error(
        lead.post(f"/hubs/{hub}/rounds", json={"term": "x", "policy": {"advisers_per_school": 9, "speed": 1}}),
        422,
        "invalid_input",
    )
    assert error["details"] == {
        "json": {
            "policy": {
                "advisers_per_school": ["Must be greater than or equal to 0 and less than or equal to 5."],
                "speed": ["Unknown field."],
            }
        }
    }
    summer = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-summer", "keep_current": True}).json
    assert summer["policy"] == lancs_raw["policy"]  # no policy given: last term's, not the defaults
    assert summer["keep_current"] is True
    listed = lead.get(f"/hubs/{hub}/rounds").json
    assert [r["id"] for r in listed] == [summer["id"], spring["id"]]  # newest first
    assert same_round(lead.get(f"/rounds/{spring['id']}").json, spring)
    new_policy = {**lancs_raw["policy"], "cornerstones_per_school": 1}
    reply = lead.patch(f"/rounds/{spring['id']}", json={"policy": new_policy})
    assert reply.status_code == 200
    assert reply.json["policy"] == new_policy
    assert lead.get(f"/rounds/{spring['id']}").json["policy"] == new_policy
    error = expect_error(lead.patch(f"/rounds/{spring['id']}", json={}), 422, "invalid_input")
    assert error["details"] == {"json": {"policy": ["Missing data for required field."]}}
    expect_error(lead.get("/rounds/987654321"), 404, "not_found", "No round 987654321.")


# --- the shared solved round -----------------------------------------------------------------------------------------


def test_solve_with_wait_answers_200_with_the_finished_job(lancashire_round):
    job = lancashire_round.job
    assert lancashire_round.reply_status == 200
    assert lancashire_round.reply_location == f"/jobs/{job['id']}"
    assert job["state"] == "succeeded" and job["message"] == "" and job["kind"] == "solve"
    assert job["url"] == f"/jobs/{job['id']}"
    assert job["round_url"] == f"/rounds/{lancashire_round.round_id}"
    assert job["round_id"] == lancashire_round.round_id
    started, finished = parse_time(job["started_at"]), parse_time(job["finished_at"])
    assert parse_time(job["created_at"]) <= started <= finished
    assert job["result"]["status"] == "optimal"


def test_job_polling_and_unknown_job(lancashire_round, expect_error):
    job = lancashire_round.job
    for who in (lancashire_round.reader, lancashire_round.coordinator, lancashire_round.lead):
        reply = who.get(job["url"])
        assert reply.status_code == 200
        assert reply.json == job
    expect_error(lancashire_round.reader.get("/jobs/nope"), 404, "not_found", "No job 'nope'.")


def test_solved_round_holds_the_solution_of_its_problem(app, admin, lancashire_round, list_all, lancs):
    """The stored proposals and unmatched slots are the solution of the round's problem, solved again here (read
    as an admin: the exact figures)."""
    reader = admin
    round_ = reader.get(f"/rounds/{lancashire_round.round_id}").json
    proposals = list_all(reader, f"/rounds/{lancashire_round.round_id}/proposals")
    unmatched = reader.get(f"/rounds/{lancashire_round.round_id}/unmatched").json
    assert round_["state"] == "proposed" and round_["solves"] == 1
    assert round_["proposals"] == {"proposed": len(proposals)}
    # every school slot is either filled or reported unmatched: 84 schools x (1 adviser + 2 cornerstones)
    assert len(proposals) + len(unmatched) == len(lancs.schools) * 3 == 252
    summary = round_["summary"]
    baseline = summary.pop("baseline")  # the hub as the solve found it, kept with the round (not the job's)
    assert set(baseline) == {"gatsby_low", "gatsby_low_with_cornerstone"}
    assert summary == admin.get(f"/jobs/{lancashire_round.job['id']}").json["result"]
    assert (summary["assignments"], summary["unmatched"]) == (len(proposals), len(unmatched))
    assert summary["unmatched_reasons"] == dict(Counter(f"{u['role']}:{u['reason']}" for u in unmatched))
    with app.extensions["hubmatch.sessions"]() as session:
        problem = load_problem(problem_document(session, session.get(t.Round, lancashire_round.round_id)))
    again = solve(problem, time_limit_s=problem.policy.time_limit_s)
    assert summary["objective"] == pytest.approx(again.objective, abs=1e-6)
    assert {(p["school_id"], p["partner_id"], p["role"]) for p in proposals} == {
        (a.school, a.partner, a.role) for a in again.assignments
    }
    assert Counter((u["school_id"], u["role"], u["reason"]) for u in unmatched) == Counter(
        (u.school, u.role, u.reason) for u in again.unmatched
    )


def test_proposals_respect_the_hubs_rules(admin, lancashire_round, list_all, lancs_raw):
    """Capacities, availability, company caps, slots and travel limits, checked against the fixture's records
    (read as an admin, who sees exact distances)."""
    proposals = list_all(admin, f"/rounds/{lancashire_round.round_id}/proposals")
    policy = lancs_raw["policy"]
    schools = {s["id"]: s for s in lancs_raw["schools"]}
    advisers = {a["id"]: a for a in lancs_raw["advisers"]}
    employers = {e["id"]: e for e in lancs_raw["employers"]}
    slots = Counter((p["school_id"], p["role"]) for p in proposals)
    assert max(n for (_, role), n in slots.items() if role == "adviser") <= policy["advisers_per_school"]
    assert max(n for (_, role), n in slots.items() if role == "cornerstone") <= policy["cornerstones_per_school"]
    adviser_load = Counter(p["partner_id"] for p in proposals if p["role"] == "adviser")
    employer_load: dict[str, float] = defaultdict(float)
    companies: dict[str, set[str]] = defaultdict(set)
    for p in proposals:
        school = schools[p["school_id"]]
        if p["role"] == "adviser":
            partner = advisers[p["partner_id"]]
            assert not partner.get("unavailable", False)
            companies[partner["company"]].add(p["school_id"])
            distance = km(school["lat"], school["lon"], partner["lat"], partner["lon"])
        else:
            partner = employers[p["partner_id"]]
            employer_load[partner["id"]] += school.get("load", 1.0)
            distance = min(km(school["lat"], school["lon"], s["lat"], s["lon"]) for s in partner["sites"])
        assert p["distance_km"] == pytest.approx(distance, abs=0.05)
        limit = partner.get("max_travel_km") or policy["default_max_travel_km"]
        assert distance <= limit + 0.05, p
        assert p["state"] == "proposed" and p["version"] == 1 and p["decided_by"] is None
    assert all(n <= advisers[a].get("capacity", 1) for a, n in adviser_load.items())
    assert all(load <= employers[e]["capacity"] + 1e-9 for e, load in employer_load.items())
    assert max(len(s) for s in companies.values()) <= policy["max_schools_per_company"]


def test_unmatched_lists_each_open_slot_with_a_reason(lancashire_round, list_all, lancs):
    reader = lancashire_round.reader
    proposals = list_all(reader, f"/rounds/{lancashire_round.round_id}/proposals")
    unmatched = reader.get(f"/rounds/{lancashire_round.round_id}/unmatched").json
    assert unmatched, "the Lancashire hub has fewer places than school slots"
    filled = Counter((p["school_id"], p["role"]) for p in proposals)
    open_slots = Counter((u["school_id"], u["role"]) for u in unmatched)
    for school in lancs.schools:
        assert filled[school.id, "adviser"] + open_slots[school.id, "adviser"] == 1
        assert filled[school.id, "cornerstone"] + open_slots[school.id, "cornerstone"] == 2
    for u in unmatched:
        assert set(u) == {"school_id", "role", "reason", "detail"}
        assert u["reason"] and u["detail"]


# --- asynchronous solves ---------------------------------------------------------------------------------------------


def test_solve_without_wait_is_202_with_the_job_location(caller, make_hub, solve_now, poll_job, expect_error):
    hub = make_hub("tiny")
    lead, coord = caller("hub_lead", hub), caller("coordinator", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    before = lead.get(f"/rounds/{round_id}/proposals").json["items"]
    proposal = before[0]
    reply = lead.post(f"/rounds/{round_id}/solve")
    assert reply.status_code == 202
    job = reply.json
    assert reply.headers["Location"] == job["url"] == f"/jobs/{job['id']}"
    assert job["state"] == "queued" and job["finished_at"] is None
    # while it runs (a worker process takes over a second to start) the round is locked for changes
    assert lead.get(f"/rounds/{round_id}").json["state"] == "solving"
    expect_error(
        lead.post(f"/rounds/{round_id}/solve"), 409, "conflict", "The round is already being solved; poll its job."
    )
    expect_error(
        coord.post(f"/proposals/{proposal['id']}/decision", json={"action": "approve"}),
        409,
        "conflict",
        "The round is being solved; decide once the new proposals are in.",
    )
    expect_error(
        lead.patch(f"/rounds/{round_id}", json={"policy": {}}),
        409,
        "conflict",
        "The round is solving; its policy can no longer change.",
    )
    expect_error(
        lead.post(f"/rounds/{round_id}/publish"),
        409,
        "conflict",
        "Only a proposed round can be published; this one is solving.",
    )
    done = poll_job(lead, reply.headers["Location"])
    assert done["state"] == "succeeded", done["message"]
    round_ = lead.get(f"/rounds/{round_id}").json
    assert (round_["state"], round_["solves"]) == ("proposed", 2)
    after = lead.get(f"/rounds/{round_id}/proposals").json["items"]
    pairs = {(p["school_id"], p["partner_id"], p["role"], p["state"]) for p in before}
    assert {(p["school_id"], p["partner_id"], p["role"], p["state"]) for p in after} == pairs  # same data, same answer


@pytest.mark.parametrize("wait", ["-1", "121", "soon"])
def test_bad_wait_is_422_and_starts_nothing(caller, make_hub, expect_error, wait):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    error = expect_error(lead.post(f"/rounds/{round_id}/solve?wait={wait}"), 422, "invalid_input")
    assert list(error["details"]["query"]) == ["wait"]
    assert lead.get(f"/rounds/{round_id}").json["state"] == "draft"


# --- failures --------------------------------------------------------------------------------------------------------


def test_solve_of_unsound_hub_data_fails_and_the_draft_round_stays_draft(admin, caller, make_hub):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    # an employer with an adviser's id: each record is valid, the hub as a problem is not
    clash = {"id": "A1", "name": "Clash Ltd", "sites": [{"lat": 53.7, "lon": -2.6}], "capacity": 1}
    assert admin.post(f"/hubs/{hub}/employers", json=clash).status_code == 201
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    reply = lead.post(f"/rounds/{round_id}/solve?wait=120")
    assert reply.status_code == 200
    job = reply.json
    fault = "employers[0] (A1): id: Id already used by an adviser; partner ids must be unique."
    assert job["state"] == "failed"
    assert job["message"] == f"the hub's data is not a valid problem: {fault}"
    assert job["result"] == {
        "code": "invalid_problem",
        "message": fault,
        "details": [
            {
                "record": "employers[0] (A1)",
                "field": "id",
                "message": "Id already used by an adviser; partner ids must be unique.",
            }
        ],
    }
    assert job["started_at"] is not None and job["finished_at"] is not None
    round_ = lead.get(f"/rounds/{round_id}").json
    assert (round_["state"], round_["solves"], round_["summary"], round_["proposals"]) == ("draft", 0, {}, {})
    assert lead.get(job["url"]).json == job


def test_solve_with_a_locked_pair_over_capacity_fails_and_the_round_keeps_its_proposals(
    admin, caller, make_hub, solve_now, list_all
):
    hub = make_hub("lancashire")
    lead, coord = caller("hub_lead", hub), caller("coordinator", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    before_round = lead.get(f"/rounds/{round_id}").json
    proposal = lead.get(f"/rounds/{round_id}/proposals?role=adviser&per_page=1").json["items"][0]
    assert coord.post(f"/proposals/{proposal['id']}/decision", json={"action": "lock"}).status_code == 200
    before = list_all(lead, f"/rounds/{round_id}/proposals")
    unmatched = lead.get(f"/rounds/{round_id}/unmatched").json
    adviser = admin.get(f"/hubs/{hub}/advisers/{proposal['partner_id']}").json
    del adviser["hub_id"]
    assert lead.put(f"/hubs/{hub}/advisers/{adviser['id']}", json={**adviser, "capacity": 0}).status_code == 200
    job = lead.post(f"/rounds/{round_id}/solve?wait=120").json
    pair = f"{proposal['school_id']}~{adviser['id']}"
    fault = f"pairs[0] ({pair}): locked: Locked pairs need 1 of '{adviser['id']}''s capacity of 0."
    assert job["state"] == "failed"
    assert job["message"] == f"the hub's data is not a valid problem: {fault}"
    assert job["result"]["details"] == [
        {
            "record": f"pairs[0] ({pair})",
            "field": "locked",
            "message": f"Locked pairs need 1 of '{adviser['id']}''s capacity of 0.",
        }
    ]
    after_round = lead.get(f"/rounds/{round_id}").json
    assert after_round["state"] == "proposed"
    assert {k: after_round[k] for k in ("solves", "summary", "policy")} == {
        k: before_round[k] for k in ("solves", "summary", "policy")
    }
    assert list_all(lead, f"/rounds/{round_id}/proposals") == before
    assert lead.get(f"/rounds/{round_id}/unmatched").json == unmatched


def test_an_unexpected_solver_error_shows_no_trace_or_text_to_readers(app, caller, make_hub, monkeypatch, caplog):
    hub = make_hub("tiny")
    lead, reader = caller("hub_lead", hub), caller("read_only", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    secret = "/srv/hubmatch/private/path.py line 12"

    def broken(*_args, **_kwargs):
        raise RuntimeError(secret)

    monkeypatch.setattr(service.tasks, "solve", broken)
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        job_id = app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round_id)).id
    with caplog.at_level("ERROR", logger="hubmatch.worker"):
        assert service.tasks.run_job(job_id, app.extensions["hubmatch.sessions"])
    job = reader.get(f"/jobs/{job_id}")
    assert job.status_code == 200
    assert job.json["state"] == "failed"
    assert job.json["message"] == (f"the solve failed unexpectedly (RuntimeError); the worker's log has the details "
                                   f"(job {job_id})")
    assert job.json["result"] == {}
    assert secret not in job.get_data(as_text=True) and "Traceback" not in job.get_data(as_text=True)
    assert secret in caplog.text and "Traceback" in caplog.text  # the operator still has it
    assert lead.get(f"/rounds/{round_id}").json["state"] == "draft"


def test_a_time_limit_stored_before_limits_fails_its_job_naming_the_field(app, db, caller, make_hub):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    with db() as session:  # as a database written before time limits had a range would hold it
        round_ = session.get(t.Round, round_id)
        round_.policy = {**round_.policy, "time_limit_s": 1e308}
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        job_id = app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round_id)).id
    assert service.tasks.run_job(job_id, app.extensions["hubmatch.sessions"])
    job = lead.get(f"/jobs/{job_id}").json
    assert job["state"] == "failed"
    assert job["message"] == ("the hub's data is not a valid problem: problem: policy.time_limit_s: Must be greater "
                              "than 0 and less than or equal to 3600.")
    assert job["result"]["details"][0]["field"] == "policy.time_limit_s"
    assert lead.get(f"/rounds/{round_id}").json["state"] == "draft"
