"""Rules per kind of school through the service: a college's slots in the termly cycle."""

from __future__ import annotations


def test_a_colleges_two_locked_advisers_carry_into_the_next_round(caller, make_hub, list_all, solve_now):
    """Rules per kind reach the termly cycle: a college's slots (two advisers, where other schools take one) decide
    how many of its published locked pairings the next round keeps locked."""
    hub = make_hub(None)
    lead, coord = caller("hub_lead", hub), caller("coordinator", hub)
    near = {"lat": 53.76, "lon": -2.70}
    for collection, record in [
        ("schools", {"id": "ACAD", "name": "Academy", **near}),
        ("schools", {"id": "COLL", "name": "College", "kind": "college", **near}),
        *[("advisers", {"id": a, "company": f"C{a}", **near}) for a in ("X", "Y", "Z")],
    ]:
        assert lead.post(f"/hubs/{hub}/{collection}", json=record).status_code == 201
    policy = {"advisers_per_school": 1, "cornerstones_per_school": 0, "kinds": {"college": {"advisers_per_school": 2}}}
    spring = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1", "policy": policy}).json["id"]
    solve_now(spring)
    proposals = list_all(coord, f"/rounds/{spring}/proposals")
    assert sorted(p["school_id"] for p in proposals) == ["ACAD", "COLL", "COLL"]
    decisions = [{"proposal": p["id"], "action": "lock"} for p in proposals]
    assert coord.post(f"/rounds/{spring}/decisions/batch", json={"decisions": decisions}).status_code == 200
    assert lead.post(f"/rounds/{spring}/publish").status_code == 200
    summer = lead.post(f"/hubs/{hub}/rounds", json={"term": "t2"}).json
    assert summer["policy"]["kinds"] == {
        "college": {
            "advisers_per_school": 2,
            "cornerstones_per_school": None,
            "required_skills": [],
            "max_travel_km": None,
        }
    }
    solve_now(summer["id"])
    again = list_all(coord, f"/rounds/{summer['id']}/proposals")
    assert sorted((p["school_id"], p["state"]) for p in again) == [
        ("ACAD", "locked"),
        ("COLL", "locked"),
        ("COLL", "locked"),
    ]
