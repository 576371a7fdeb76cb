"""``POST /rounds/{id}/gaps``: where to recruit, as a job on the solve queue; the result is the core's search of
the round's problem; who may ask, what is refused, and that no reader learns where an existing adviser lives."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from api.gapmap import LAYER
from matcher.gaps import as_document, default_recruit, find_gaps
from models import tables as t
from models.repository import round_problem
from models.store import transaction

WAIT = "?wait=120"
NS = "{http://www.w3.org/2000/svg}"


def _problem(app, round_id: int):
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        return round_problem(session, session.get(t.Round, round_id))


def _without_seconds(doc: dict) -> dict:
    return {**doc, "search": {k: v for k, v in doc["search"].items() if k != "seconds"}}


def test_a_hub_lead_finds_where_to_recruit(app, caller, admin, make_hub, lancs_raw, solve_now):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    reply = lead.post(f"/rounds/{round_id}/gaps{WAIT}", json={"top": 3, "capacity": 2, "radius_km": 20})
    assert reply.status_code == 200, reply.json
    assert (reply.json["kind"], reply.json["state"], reply.json["progress"]) == ("gaps", "succeeded", 1.0)
    problem = _problem(app, round_id)
    for role, capacity in (("adviser", 2), ("cornerstone", None)):
        recruit = default_recruit(problem, role, capacity, 20)
        exact = json.loads(json.dumps(as_document(problem, find_gaps(problem, role, recruit, top=3))))
        assert _without_seconds(reply.json["result"][role]) == _without_seconds(exact)
    assert reply.json["result"]["adviser"]["places"], "the Lancashire round leaves schools a recruit can reach"
    assert admin.get(reply.json["url"]).json["result"] == lead.get(reply.json["url"]).json["result"]
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        assert session.get(t.Round, round_id).state == "proposed"  # an analysis never moves its round


def test_no_reader_learns_where_an_adviser_lives(app, caller, make_hub, lancs_raw, solve_now):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    reply = lead.post(f"/rounds/{round_id}/gaps{WAIT}", json={"role": "adviser", "ranking": "independent"})
    text = json.dumps(lead.get(reply.json["url"]).json)
    for a in lancs_raw["advisers"]:
        assert f'"{a["id"]}"' not in text
        assert f"{a['lat']:.3f}" not in text or f"{a['lon']:.3f}" not in text
    places = reply.json["result"]["adviser"]["places"]
    assert places and all(set(p) >= {"lat", "lon", "town", "covers", "schools"} for p in places)


@pytest.mark.parametrize("role", ["coordinator", "read_only"])
def test_only_hub_leads_and_admins_look_for_gaps(caller, make_hub, expect_error, solve_now, role):
    hub = make_hub("tiny")
    round_id = caller("hub_lead", hub).post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    expect_error(caller(role, hub).post(f"/rounds/{round_id}/gaps", json={}), 403, "forbidden")


def test_another_hubs_round_is_not_there(caller, make_hub, expect_error, solve_now):
    mine, theirs = make_hub("tiny"), make_hub("tiny")
    their_round = caller("hub_lead", theirs).post(f"/hubs/{theirs}/rounds", json={"term": "t1"}).json["id"]
    solve_now(their_round)
    expect_error(
        caller("hub_lead", mine).post(f"/rounds/{their_round}/gaps", json={}),
        404,
        "not_found",
        f"No round {their_round}.",
    )


def test_what_cannot_be_searched_is_refused(caller, make_hub, expect_error, solve_now):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    solved, draft = (lead.post(f"/hubs/{hub}/rounds", json={"term": term}).json["id"] for term in ("t1", "t2"))
    solve_now(solved)
    expect_error(
        lead.post(f"/rounds/{draft}/gaps", json={}),
        422,
        "invalid_input",
        f"Round {draft} has not been solved yet: solve it before looking for gaps.",
    )
    error = expect_error(
        lead.post(f"/rounds/{solved}/gaps", json={"capacity": 1.5, "radius_km": 0, "top": 21, "role": "employer"}),
        422,
        "invalid_input",
        "The request is not valid: see details.",
    )
    assert error["details"] == {
        "json": {
            "capacity": ["Not a valid integer."],
            "radius_km": ["Must be greater than 0 and less than or equal to 200."],
            "role": ["Must be one of: adviser, cornerstone, both."],
            "top": ["Must be greater than or equal to 1 and less than or equal to 20."],
        }
    }


def test_the_map_draws_the_places_for_hub_leads_only(caller, make_hub, lancs_raw, solve_now, expect_error):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    job = lead.post(f"/rounds/{round_id}/gaps{WAIT}", json={"top": 3}).json
    assert job["state"] == "succeeded", job
    svg = lead.get(f"/ui/rounds/{round_id}/map.svg?gaps={job['id']}")
    assert svg.status_code == 200, svg.get_data(as_text=True)[:300]
    root = ET.fromstring(svg.data)
    drawn: dict[str, list[int]] = {LAYER["adviser"]: [], LAYER["cornerstone"]: []}
    for g in root.iter(f"{NS}g"):
        if g.get("class") == "pt marker":
            drawn[g.get("data-layer") or ""] += [int(t.text or "") for t in g.iter(f"{NS}text")]
    assert drawn[LAYER["adviser"]] and drawn == {
        LAYER[role]: [p["rank"] for p in job["result"][role]["places"]] for role in ("adviser", "cornerstone")
    }
    assert LAYER["adviser"] in svg.get_data(as_text=True)  # its legend entry
    assert LAYER["adviser"] not in lead.get(f"/ui/rounds/{round_id}/map.svg").get_data(as_text=True)
    png = lead.get(f"/ui/rounds/{round_id}/map.png?gaps={job['id']}")
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert caller("coordinator", hub).get(f"/ui/rounds/{round_id}/map.svg?gaps={job['id']}").status_code == 403
    other = lead.post(f"/hubs/{hub}/rounds", json={"term": "t2"}).json["id"]
    assert lead.get(f"/ui/rounds/{other}/map.svg?gaps={job['id']}").status_code == 404  # another round's job
    assert lead.get(f"/ui/rounds/{round_id}/map.svg?gaps=x1").status_code == 404
    page = lead.get(f"/ui/rounds/{round_id}").get_data(as_text=True)
    assert 'id="gaps-form"' in page and "gaps.js" in page
    assert 'id="gaps-form"' not in caller("coordinator", hub).get(f"/ui/rounds/{round_id}").get_data(as_text=True)
