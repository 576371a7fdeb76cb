"""``GET /rounds/{id}/idle``: the willing volunteers a round's last solve gave no school, for the hub's Hub Lead and
admins; an adviser's exact distance to the nearest school for admins only; replaced on each solve."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from helpers import TINY, east

from models import load_problem
from models import tables as t
from models.repository import create_hub
from tests.api.conftest import Caller, issue_token, unit_of_work

_ids = itertools.count(1)
FAR_ADVISER = {"id": "FAR", "name": "Faraway", "company": "C9", "lat": 51.5, "lon": -0.12, "max_travel_km": 20}


@pytest.fixture(scope="module")
def idle_round(app, admin) -> dict[str, Any]:
    """A tiny hub (three schools, two advisers, an employer with room for three) plus an adviser in London, out
    of everyone's reach, and a second employer beside the first: solved once through the API."""
    hub_id = f"idle-{next(_ids)}"
    raw = {
        **TINY,
        "hub": {**TINY["hub"], "id": hub_id},
        "advisers": [*TINY["advisers"], FAR_ADVISER],
        "employers": [*TINY["employers"], {"id": "E2", "name": "Spare", "sites": [{"lat": 53.75, "lon": -2.47}],
                                           "capacity": 1}],
    }
    problem = load_problem(raw)
    with unit_of_work(app) as session:
        create_hub(session, hub_id, "Idle hub", dataclasses.replace(problem, pairs=()))
    lead = Caller(app, issue_token(app, "hub_lead", hub_id, "idle-lead"), "idle-lead")
    round_id = lead.post(f"/hubs/{hub_id}/rounds", json={"term": "2026-spring"}).json["id"]
    job = lead.post(f"/rounds/{round_id}/solve?wait=60").json
    assert job["state"] == "succeeded", job
    return {"hub": hub_id, "round": round_id, "lead": lead, "job": job}


def test_the_hub_lead_reads_each_idle_volunteer_with_a_reason(idle_round) -> None:
    reply = idle_round["lead"].get(f"/rounds/{idle_round['round']}/idle")
    assert reply.status_code == 200, reply.json
    got = {(i["partner_id"], i["role"]): i for i in reply.json}
    assert set(got) == {("FAR", "adviser")}  # E2 is engaged: E1 could take all three schools, but E2 gets one
    far = got["FAR", "adviser"]
    assert far["reason"] == "no_school_in_reach"
    assert far["distance_km"] is None and far["distance_band"] == "over 30 km"
    assert far["detail"] == "No school within travel distance; the nearest is over 30 km away."
    stats = idle_round["job"]["result"]["stats"]
    assert (stats["advisers_engaged"], stats["advisers_idle"]) == (2, 1)
    assert (stats["employers_engaged"], stats["employers_idle"]) == (2, 0)


def test_an_admin_reads_the_exact_distance(idle_round, admin) -> None:
    reply = admin.get(f"/rounds/{idle_round['round']}/idle")
    far = next(i for i in reply.json if i["partner_id"] == "FAR")
    assert far["distance_km"] == pytest.approx(290, abs=15)  # London to the nearest Lancashire school
    assert far["distance_band"] == "over 30 km"


@pytest.mark.parametrize("role", ["coordinator", "read_only"])
def test_other_roles_of_the_hub_are_refused(idle_round, app, expect_error, role) -> None:
    who = Caller(app, issue_token(app, role, idle_round["hub"], f"idle-{role}"), role)
    expect_error(who.get(f"/rounds/{idle_round['round']}/idle"), 403, "forbidden",
                 f"A {role} token cannot do this; it needs one of: admin, hub_lead.")


def test_another_hubs_lead_sees_no_such_round(idle_round, app, make_hub, expect_error) -> None:
    other = make_hub()
    who = Caller(app, issue_token(app, "hub_lead", other, "other-lead"), "other-lead")
    expect_error(who.get(f"/rounds/{idle_round['round']}/idle"), 404, "not_found", f"No round {idle_round['round']}.")


def test_a_new_solve_replaces_the_idle_list(app, admin) -> None:
    """Each solve rewrites the list: after the far adviser moves beside Lancaster, where the only school in its
    reach already has the nearer adviser, it is listed once, for its new reason."""
    hub_id = f"idle-{next(_ids)}"
    raw = {**TINY, "hub": {**TINY["hub"], "id": hub_id}, "advisers": [*TINY["advisers"], FAR_ADVISER]}
    with unit_of_work(app) as session:
        create_hub(session, hub_id, "Idle hub", load_problem(raw))
    round_id = admin.post(f"/hubs/{hub_id}/rounds", json={"term": "2026-spring"}).json["id"]
    assert admin.post(f"/rounds/{round_id}/solve?wait=60").json["state"] == "succeeded"
    assert [i["partner_id"] for i in admin.get(f"/rounds/{round_id}/idle").json] == ["FAR"]
    with unit_of_work(app) as session:
        row = session.query(t.Adviser).filter_by(hub_id=hub_id, id="FAR").one()
        row.lat, row.lon = east(1.0, 54.05, -2.80)
        session.get(t.Round, round_id).state = "draft"
    assert admin.post(f"/rounds/{round_id}/solve?wait=60").json["state"] == "succeeded"
    listed = admin.get(f"/rounds/{round_id}/idle").json
    assert [(i["partner_id"], i["reason"], i["distance_km"]) for i in listed] == [("FAR", "schools_taken", None)]
    assert listed[0]["detail"] == ("The only school within reach is taken by advisers nearer, better fitting or "
                                   "needed there to cover more schools.")
