"""``POST /rounds/{id}/recommend``: the recommend analysis through the API and a real worker, who may start it, what
a bad newcomer gets, and what a non-admin reads of the other advisers in the chains."""

from __future__ import annotations

import pytest

from matcher.recommend import as_dict, recommend
from models import tables as t
from models.newcomers import load_newcomer
from models.repository import round_problem, round_solution
from models.store import transaction

ANA = {"id": "NEW-ANA", "name": "Ana Patel", "company": "New Co", "postcode": "BB11 2DL", "capacity": 2}
SCHOOL = {"id": "NEW-SCH", "name": "Padiham New Academy", "postcode": "BB12 7AU", "pct_fsm": 35}


@pytest.fixture
def solved(caller, make_hub, solve_now):
    """A Lancashire hub with a proposed round, its Hub Lead and its coordinator."""
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring"}).json["id"]
    solve_now(round_id)
    return hub, round_id, lead, caller("coordinator", hub)


def local(app, round_id: int, kind: str, record: dict, top: int) -> list[dict]:
    """The same recommendations computed here from the round's problem and pairings."""
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        round_ = session.get(t.Round, round_id)
        problem, solution = round_problem(session, round_), round_solution(session, round_)
    return as_dict(recommend(problem, solution, load_newcomer(kind, record, problem), top))


@pytest.mark.backends("sqlite")
def test_a_hub_lead_starts_the_recommendations_of_the_core_and_an_admin_reads_them_exactly(
    app, admin, solved, poll_job
):
    _, round_id, lead, _ = solved
    reply = lead.post(f"/rounds/{round_id}/recommend?wait=60", json={"kind": "adviser", "record": ANA, "top": 3})
    assert reply.status_code in (200, 202), reply.json
    job = poll_job(admin, reply.headers["Location"])
    assert (job["state"], job["kind"], job["progress"]) == ("succeeded", "recommend", 1.0), job["message"]
    roles = job["result"]["roles"]
    assert job["result"]["newcomer"] == {"kind": "adviser", "id": "NEW-ANA", "name": "Ana Patel"}
    expected = local(app, round_id, "adviser", ANA, 3)
    for role in roles:
        for rec in role["recommendations"]:
            for change in rec["added"] + rec["dropped"]:
                change.pop("reader")
    assert roles == expected
    assert roles[0]["method"] == "augmenting paths" and len(roles[0]["recommendations"]) == 3


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("reader", ["coordinator", "hub_lead"])
def test_a_non_admin_reads_other_advisers_as_bands_and_the_newcomer_exactly(app, admin, solved, poll_job, reader):
    _, round_id, lead, coordinator = solved
    coordinator = coordinator if reader == "coordinator" else lead
    reply = lead.post(f"/rounds/{round_id}/recommend?wait=60", json={"kind": "school", "record": SCHOOL, "top": 3})
    job_url = reply.headers["Location"]
    exact = poll_job(admin, job_url)["result"]
    seen = poll_job(coordinator, job_url)["result"]
    advisers = next(r for r in seen["roles"] if r["role"] == "adviser")
    exact_advisers = next(r for r in exact["roles"] if r["role"] == "adviser")
    assert "cost_units" not in advisers["base"]
    changes = 0
    for rec, full in zip(advisers["recommendations"], exact_advisers["recommendations"], strict=True):
        assert "value" not in rec and "cost_units" not in rec
        for change, original in zip(rec["added"] + rec["dropped"], full["added"] + full["dropped"], strict=True):
            changes += 1
            assert change["distance_km"] is None and "reader" not in change
            assert change["distance_band"] == original["reader"]["distance_band"]
            assert change["cost"] == original["reader"]["cost"]
        coarse = sum(c["cost"] for c in rec["added"]) - sum(c["cost"] for c in rec["dropped"])
        assert rec["cost_change"] == round(coarse, 3)
        assert rec["chain"] == full["chain"]
    assert changes > 0
    reply = lead.post(f"/rounds/{round_id}/recommend?wait=60", json={"kind": "adviser", "record": ANA})
    seen = poll_job(coordinator, reply.headers["Location"])["result"]
    own = [c for rec in seen["roles"][0]["recommendations"] for c in rec["added"] if c["partner"] == "NEW-ANA"]
    assert own and all(isinstance(c["distance_km"], float) for c in own)  # what the Hub Lead typed


@pytest.mark.backends("sqlite")
def test_only_the_hubs_lead_or_an_admin_may_ask_and_a_draft_round_is_refused(caller, make_hub, solved, expect_error):
    hub, round_id, lead, coordinator = solved
    body = {"kind": "adviser", "record": ANA}
    expect_error(
        coordinator.post(f"/rounds/{round_id}/recommend", json=body),
        403,
        "forbidden",
        "A coordinator token cannot do this; it needs one of: admin, hub_lead.",
    )
    other = caller("hub_lead", make_hub("tiny"))
    expect_error(other.post(f"/rounds/{round_id}/recommend", json=body), 404, "not_found", f"No round {round_id}.")
    draft = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-summer"}).json["id"]
    expect_error(
        lead.post(f"/rounds/{draft}/recommend", json=body),
        409,
        "conflict",
        "The round has not been solved yet; solve it before analysing it.",
    )


@pytest.mark.backends("sqlite")
def test_a_bad_newcomer_is_a_422_naming_the_field(solved, expect_error):
    _, round_id, lead, _ = solved
    url = f"/rounds/{round_id}/recommend"
    expect_error(
        lead.post(url, json={"kind": "adviser", "record": {**ANA, "capacity": 11}}),
        422,
        "invalid_problem",
        details=[
            {
                "record": "adviser (NEW-ANA)",
                "field": "capacity",
                "message": "Must be greater than or equal to 0 and less than or equal to 10.",
            }
        ],
    )
    taken = lead.post(url, json={"kind": "school", "record": {**SCHOOL, "id": "URN119707"}})
    expect_error(
        taken,
        422,
        "invalid_problem",
        details=[
            {
                "record": "school (URN119707)",
                "field": "id",
                "message": "Id already used by a record of the hub; a newcomer needs a new id.",
            }
        ],
    )
    conflicted = lead.post(url, json={"kind": "adviser", "record": {**ANA, "conflicts": ["NOPE"]}})
    expect_error(
        conflicted,
        422,
        "invalid_problem",
        details=[{"record": "adviser (NEW-ANA)", "field": "conflicts", "message": "Unknown school id 'NOPE'."}],
    )
    error = expect_error(lead.post(url, json={"kind": "volunteer", "record": ANA}), 422, "invalid_input")
    assert "kind" in str(error["details"])
    error = expect_error(lead.post(url, json={"kind": "adviser", "record": ANA, "top": 0}), 422, "invalid_input")
    assert "top" in str(error["details"])
