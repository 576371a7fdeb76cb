"""``POST /rounds/{id}/compare``: a policy change or another round, side by side, as a job on the solve queue run by
the worker process; Hub Leads see advisers' travel as bands, admins exactly; who may ask, and what is refused."""

from __future__ import annotations

import dataclasses
import json

import pytest

from matcher import solve
from matcher.compare import compare, for_reader, table
from models import tables as t
from models.policies import changed_policy
from models.repository import round_problem, round_solution
from models.store import transaction

WAIT = "?wait=120"


def _round(app, round_id: int):
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        round_ = session.get(t.Round, round_id)
        return round_problem(session, round_), round_solution(session, round_)


def _plain(data):
    return json.loads(json.dumps(data))


def test_a_hub_lead_compares_a_policy_change(app, caller, admin, make_hub, lancs_raw, solve_now):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    change = {"default_max_travel_km": 40, "max_schools_per_company": 2}
    reply = lead.post(f"/rounds/{round_id}/compare{WAIT}", json={"policy": change})
    assert reply.status_code == 200, reply.json
    assert (reply.json["kind"], reply.json["state"], reply.json["progress"]) == ("compare", "succeeded", 1.0)
    problem, _ = _round(app, round_id)
    changed = dataclasses.replace(problem, policy=changed_policy(problem.policy, change))
    exact = compare((problem, solve(problem)), (changed, solve(changed)), ("round's policy", "policy changed"))
    expected = {"kind": "policy", "change": change, **exact, "rows": table(exact)}
    assert reply.json["result"] == _plain(
        {**for_reader(exact), "kind": "policy", "change": change, "rows": table(for_reader(exact))}
    )
    assert reply.json["result"]["b"]["worst_travel_km"]["adviser"].endswith("km")  # a band's label, not a number
    assert admin.get(reply.json["url"]).json["result"] == _plain(expected)
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        assert session.get(t.Round, round_id).state == "proposed"  # an analysis never moves its round


def test_two_rounds_compare_by_their_pairings(app, caller, make_hub, lancs_raw, solve_now):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    ids = []
    for term, km in (("t1", 25), ("t2", 40)):
        policy = {**lancs_raw["policy"], "default_max_travel_km": km}
        ids.append(lead.post(f"/hubs/{hub}/rounds", json={"term": term, "policy": policy}).json["id"])
        solve_now(ids[-1])
    reply = lead.post(f"/rounds/{ids[0]}/compare{WAIT}", json={"other_round": ids[1]})
    assert reply.status_code == 200 and reply.json["state"] == "succeeded", reply.json
    result = reply.json["result"]
    mine, theirs = _round(app, ids[0]), _round(app, ids[1])
    has = [{(p.school, p.role) for p in side[1].assignments} for side in (mine, theirs)]
    assert {(x["school"], x["role"]) for x in result["gained"]} == has[1] - has[0]
    assert {(x["school"], x["role"]) for x in result["lost"]} == has[0] - has[1]
    assert result["gained"] or result["lost"]
    proposals = lead.get(f"/rounds/{ids[1]}/proposals?per_page=1000").json["items"]
    assert result["b"]["covered"]["adviser"] == len({p["school_id"] for p in proposals if p["role"] == "adviser"})
    assert (result["a"]["label"], result["b"]["label"]) == ("this round", f"round {ids[1]}")


@pytest.mark.parametrize("role", ["coordinator", "read_only"])
def test_only_hub_leads_and_admins_compare(caller, make_hub, expect_error, solve_now, role):
    hub = make_hub("tiny")
    round_id = caller("hub_lead", hub).post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    reply = caller(role, hub).post(f"/rounds/{round_id}/compare", json={"policy": {"default_max_travel_km": 40}})
    expect_error(reply, 403, "forbidden")


def test_another_hubs_rounds_are_not_there(caller, admin, make_hub, expect_error, solve_now):
    mine, theirs = make_hub("tiny"), make_hub("tiny")
    lead = caller("hub_lead", mine)
    my_round = lead.post(f"/hubs/{mine}/rounds", json={"term": "t1"}).json["id"]
    their_round = caller("hub_lead", theirs).post(f"/hubs/{theirs}/rounds", json={"term": "t1"}).json["id"]
    solve_now(my_round)
    solve_now(their_round)
    expect_error(
        lead.post(f"/rounds/{their_round}/compare", json={"policy": {"default_max_travel_km": 40}}),
        404,
        "not_found",
        f"No round {their_round}.",
    )
    for who in (lead, admin):  # an admin sees both hubs, and still no round of another hub is comparable
        expect_error(
            who.post(f"/rounds/{my_round}/compare", json={"other_round": their_round}),
            404,
            "not_found",
            f"No round {their_round}.",
        )


def test_what_cannot_be_compared_is_refused(caller, make_hub, expect_error, solve_now):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    solved, draft = (lead.post(f"/hubs/{hub}/rounds", json={"term": t}).json["id"] for t in ("t1", "t2"))
    solve_now(solved)
    url = f"/rounds/{solved}/compare"
    error = expect_error(
        lead.post(url, json={"policy": {"kinds": {"colege": {}}, "default_max_travel_km": 0}}), 422, "invalid_problem"
    )
    assert sorted((d["field"], d["message"]) for d in error["details"]) == [
        ("policy.default_max_travel_km", "Must be greater than 0 and less than or equal to 200."),
        ("policy.kinds.colege", "Unknown kind of school; the kinds are mainstream, send, ap, college."),
    ]
    expect_error(
        lead.post(url, json={"policy": {}}),
        422,
        "invalid_input",
        "The policy change leaves the round's policy as it is: nothing to compare.",
    )
    expect_error(
        lead.post(url, json={"other_round": solved}),
        422,
        "invalid_input",
        "A round compared with itself changes nothing; give another round or a policy change.",
    )
    expect_error(
        lead.post(url, json={"other_round": draft}),
        422,
        "invalid_input",
        f"Round {draft} has no pairings yet: solve it before comparing.",
    )
    for body in ({}, {"policy": {"default_max_travel_km": 40}, "other_round": draft}):
        error = expect_error(lead.post(url, json=body), 422, "invalid_input")
        assert "Give either a policy change or another round to compare with." in json.dumps(error["details"])
    expect_error(lead.post(url, json={"other_round": "2"}), 422, "invalid_input")
