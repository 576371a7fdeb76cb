"""Hubs, and the schools, Enterprise Advisers and Cornerstone Employers of a hub: create, read, replace, list with
paging and filters. Expected lists and counts are recomputed from the fixture data, not read back from the API."""

from __future__ import annotations

import pytest

from models.geocode import locate


def test_hub_create_read_list_patch(admin, caller, expect_error):
    body = {"id": "hub-crud", "name": "Crud Hub", "priority_sectors": {"digital": 0.7}}
    reply = admin.post("/hubs", json=body)
    assert reply.status_code == 201
    assert reply.json == body
    expect_error(admin.post("/hubs", json=body), 409, "conflict", "Hub 'hub-crud' already exists.")
    assert admin.get("/hubs/hub-crud").json == body
    assert body in admin.get("/hubs").json
    lead = caller("hub_lead", "hub-crud")
    assert lead.get("/hubs").json == [body]  # a hub token sees its own hub only
    reply = lead.patch("/hubs/hub-crud", json={"name": "Renamed", "priority_sectors": {"energy": 1.0}})
    assert reply.status_code == 200
    assert reply.json == {"id": "hub-crud", "name": "Renamed", "priority_sectors": {"energy": 1.0}}
    assert admin.get("/hubs/hub-crud").json["name"] == "Renamed"
    error = expect_error(lead.patch("/hubs/hub-crud", json={"priority_sectors": {"energy": 2}}), 422, "invalid_input")
    assert error["details"] == {
        "json": {
            "priority_sectors": {
                "energy": {"value": ["Must be greater than or equal to 0 and less than or equal to 1."]}
            }
        }
    }
    expect_error(caller("coordinator", "hub-crud").patch("/hubs/hub-crud", json={"name": "x"}), 403, "forbidden")
    assert admin.get("/hubs/hub-crud").json["name"] == "Renamed"
    expect_error(admin.get("/hubs/no-such-hub"), 404, "not_found", "No hub 'no-such-hub'.")


def test_hub_without_name_or_with_bad_id_is_422(admin, expect_error):
    error = expect_error(admin.post("/hubs", json={"id": "a/b"}), 422, "invalid_input")
    assert error["details"] == {
        "json": {
            "id": ["Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."],
            "name": ["Missing data for required field."],
        }
    }
    assert all(h["id"] != "a/b" for h in admin.get("/hubs").json)


def test_school_create_read_replace(admin, caller, make_hub, expect_error):
    hub = make_hub()
    lead = caller("hub_lead", hub)
    school = {"id": "S1", "name": "St Mary’s", "postcode": "PR1 8JN", "pupils": 900, "sectors": ["digital"]}
    reply = lead.post(f"/hubs/{hub}/schools", json=school)
    assert reply.status_code == 201
    lat, lon = locate("PR1 8JN")
    expected = {
        "id": "S1",
        "name": "St Mary’s",
        "lat": lat,
        "lon": lon,
        "postcode": "PR1 8JN",
        "kind": "mainstream",
        "pupils": 900,
        "pct_fsm": None,
        "gatsby": {},
        "sectors": ["digital"],
        "needs": [],
        "load": 1.0,
        "current_advisers": [],
        "current_cornerstones": [],
        "hub_id": hub,
        "wave": None,
        "retired_at": None,
    }
    assert reply.json == expected
    assert lead.get(f"/hubs/{hub}/schools/S1").json == expected
    expect_error(
        lead.post(f"/hubs/{hub}/schools", json=school), 409, "conflict", f"School 'S1' already exists in hub '{hub}'."
    )
    replaced = {"id": "S1", "name": "St Mary's RC", "lat": 53.8, "lon": -2.6, "kind": "send", "gatsby": {"3": 40}}
    reply = lead.put(f"/hubs/{hub}/schools/S1", json=replaced)
    assert reply.status_code == 200
    now = {
        **expected,
        "name": "St Mary's RC",
        "lat": 53.8,
        "lon": -2.6,
        "postcode": None,
        "kind": "send",
        "pupils": None,
        "gatsby": {"3": 40.0},
        "sectors": [],
    }
    assert reply.json == now
    assert lead.get(f"/hubs/{hub}/schools/S1").json == now
    expect_error(
        lead.put(f"/hubs/{hub}/schools/S1", json={**replaced, "id": "S9"}),
        422,
        "invalid_input",
        "The body's id must match the URL's.",
        {"id": ["S9"]},
    )
    expect_error(
        lead.put(f"/hubs/{hub}/schools/S9", json={**replaced, "id": "S9"}),
        404,
        "not_found",
        f"No school 'S9' in hub '{hub}'.",
    )
    expect_error(lead.get(f"/hubs/{hub}/schools/NOPE"), 404, "not_found", f"No school 'NOPE' in hub '{hub}'.")
    assert lead.get(f"/hubs/{hub}/schools").json["total"] == 1


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"id": "S2", "name": "x", "pct_fsm": 120, "lat": 53, "lon": -2},
            {"pct_fsm": ["Must be greater than or equal to 0 and less than or equal to 100."]},
        ),
        ({"id": "S2", "name": "x"}, {"lat": ["Missing coordinates: give lat and lon, or a postcode."]}),
        (
            {"id": "S2", "name": "x", "postcode": "ZZ99 9ZZ"},
            {"postcode": ["Unknown postcode district for 'ZZ99 9ZZ'; give lat and lon."]},
        ),
        (
            {"id": "S2", "name": "x", "lat": 53, "lon": -2, "kind": "grammar"},
            {"kind": ["Must be one of: mainstream, send, ap, college."]},
        ),
        ({"id": "S2", "name": "x", "lat": 53, "lon": -2, "colour": "red"}, {"colour": ["Unknown field."]}),
    ],
)
def test_invalid_school_is_422_naming_the_field_and_writes_nothing(admin, make_hub, expect_error, body, details):
    hub = make_hub()
    reply = admin.post(f"/hubs/{hub}/schools", json=body)
    expect_error(reply, 422, "invalid_input", "The request is not valid: see details.", {"json": details})
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0


def test_schools_paging_covers_every_school_once_in_id_order(admin, make_hub, lancs):
    hub = make_hub("lancashire")
    ids = sorted(s.id for s in lancs.schools)
    assert len(ids) == 84
    seen = []
    for page in range(1, 6):
        reply = admin.get(f"/hubs/{hub}/schools?page={page}&per_page=20")
        assert reply.status_code == 200
        assert (reply.json["page"], reply.json["per_page"], reply.json["total"]) == (page, 20, 84)
        assert len(reply.json["items"]) == (20 if page < 5 else 4)
        seen += [s["id"] for s in reply.json["items"]]
    assert seen == ids
    beyond = admin.get(f"/hubs/{hub}/schools?page=6&per_page=20").json
    assert (beyond["items"], beyond["total"]) == ([], 84)
    default = admin.get(f"/hubs/{hub}/schools").json
    assert (default["page"], default["per_page"], len(default["items"])) == (1, 50, 50)


@pytest.mark.parametrize("query", ["page=0", "per_page=0", "per_page=501", "page=x"])
def test_bad_paging_is_422(admin, make_hub, expect_error, query):
    hub = make_hub()
    error = expect_error(admin.get(f"/hubs/{hub}/schools?{query}"), 422, "invalid_input")
    assert list(error["details"]["query"]) == [query.split("=")[0]]


@pytest.mark.parametrize("q", ["high", "HIGH", "urn1197", "Academy", "zzzz"])
def test_school_q_filter_matches_id_or_name(admin, make_hub, lancs, q):
    hub = make_hub("lancashire")
    expected = sorted(s.id for s in lancs.schools if q.lower() in s.id.lower() or q.lower() in s.name.lower())
    reply = admin.get(f"/hubs/{hub}/schools?q={q}&per_page=500").json
    assert reply["total"] == len(expected)
    assert [s["id"] for s in reply["items"]] == expected


def test_school_kind_wave_and_postcode_filters(admin, make_hub, lancs):
    hub = make_hub("lancashire")
    new = [
        {"id": "W1", "name": "Wave One", "postcode": "PR1 8JN", "kind": "send"},
        {"id": "W2", "name": "Wave Two", "postcode": "BB1 1AA"},
    ]
    assert admin.post(f"/hubs/{hub}/schools/import?wave=w1", json=new).json == {"created": 2, "updated": 0}
    assert [s["id"] for s in admin.get(f"/hubs/{hub}/schools?kind=send").json["items"]] == ["W1"]
    mainstream = admin.get(f"/hubs/{hub}/schools?kind=mainstream&per_page=500").json
    assert mainstream["total"] == sum(s.kind == "mainstream" for s in lancs.schools) + 1
    waved = admin.get(f"/hubs/{hub}/schools?wave=w1").json
    assert [(s["id"], s["wave"]) for s in waved["items"]] == [("W1", "w1"), ("W2", "w1")]
    assert admin.get(f"/hubs/{hub}/schools?wave=w2").json["total"] == 0
    postcode = lancs.schools[0].postcode
    expected = sorted(s.id for s in lancs.schools if s.postcode == postcode)
    assert [s["id"] for s in admin.get(f"/hubs/{hub}/schools?postcode={postcode}").json["items"]] == expected
    combined = admin.get(f"/hubs/{hub}/schools?wave=w1&kind=mainstream&q=two").json
    assert [s["id"] for s in combined["items"]] == ["W2"]


def test_adviser_filters_company_and_unavailable(admin, make_hub, lancs):
    hub = make_hub("lancashire")
    for company in ("C0002", "C0005", "NOPE"):
        expected = sorted(a.id for a in lancs.advisers if a.company == company)
        reply = admin.get(f"/hubs/{hub}/advisers?company={company}&per_page=500").json
        assert (reply["total"], [a["id"] for a in reply["items"]]) == (len(expected), expected)
    unavailable = sorted(a.id for a in lancs.advisers if a.unavailable)
    assert len(unavailable) == 2
    for value in ("true", "1", "yes"):
        reply = admin.get(f"/hubs/{hub}/advisers?unavailable={value}&per_page=500").json
        assert [a["id"] for a in reply["items"]] == unavailable
    reply = admin.get(f"/hubs/{hub}/advisers?unavailable=false&per_page=500").json
    assert reply["total"] == len(lancs.advisers) - 2
    assert all(a["unavailable"] is False for a in reply["items"])
    both = admin.get(f"/hubs/{hub}/advisers?company=C0002&unavailable=false&q=adviser&per_page=500").json
    assert both["total"] == sum(a.company == "C0002" and not a.unavailable for a in lancs.advisers)


def test_adviser_create_read_replace_and_privacy_of_home(admin, caller, make_hub, expect_error):
    hub = make_hub()
    lead = caller("hub_lead", hub)
    adviser = {"id": "A1", "name": "Ada", "company": "Acme", "lat": 53.76, "lon": -2.7, "skills": ["cv"]}
    reply = lead.post(f"/hubs/{hub}/advisers", json=adviser)
    assert reply.status_code == 201
    public = {
        "id": "A1",
        "name": "Ada",
        "company": "Acme",
        "sectors": [],
        "skills": ["cv"],
        "max_travel_km": None,
        "capacity": 1,
        "conflicts": [],
        "unavailable": False,
        "hub_id": hub,
        "retired_at": None,
    }
    assert reply.json == public  # no lat/lon for a hub lead, even of what they just sent
    assert lead.get(f"/hubs/{hub}/advisers/A1").json == public
    assert admin.get(f"/hubs/{hub}/advisers/A1").json == {**public, "lat": 53.76, "lon": -2.7}
    reply = lead.put(f"/hubs/{hub}/advisers/A1", json={**adviser, "capacity": 3, "unavailable": True})
    assert reply.status_code == 200
    assert reply.json == {**public, "capacity": 3, "unavailable": True}
    expect_error(
        lead.post(f"/hubs/{hub}/advisers", json={"id": "A2", "lat": 53, "lon": -2}),
        422,
        "invalid_input",
        details={"json": {"company": ["Missing data for required field."]}},
    )
    assert lead.get(f"/hubs/{hub}/advisers").json["total"] == 1


def test_employer_create_read_replace_list(admin, make_hub, expect_error):
    hub = make_hub()
    employer = {
        "id": "E1",
        "name": "BAE",
        "sites": [{"lat": 53.75, "lon": -2.48}],
        "capacity": 4,
        "sectors": ["energy"],
    }
    reply = admin.post(f"/hubs/{hub}/employers", json=employer)
    assert reply.status_code == 201
    expected = {**employer, "max_travel_km": None, "hub_id": hub, "capacity": 4.0, "retired_at": None}
    assert reply.json == expected
    two_sites = {**employer, "sites": [{"lat": 53.7, "lon": -2.5}, {"lat": 54.0, "lon": -2.8}], "capacity": 2.5}
    assert admin.put(f"/hubs/{hub}/employers/E1", json=two_sites).json == {**expected, **two_sites}
    expect_error(
        admin.post(f"/hubs/{hub}/employers", json={**employer, "id": "E2", "sites": []}),
        422,
        "invalid_input",
        details={"json": {"sites": ["Shorter than minimum length 1."]}},
    )
    admin.post(f"/hubs/{hub}/employers", json={**employer, "id": "E0", "name": "Zeta"})
    listed = admin.get(f"/hubs/{hub}/employers?q=bae").json
    assert (listed["total"], [e["id"] for e in listed["items"]]) == (1, ["E1"])
    assert [e["id"] for e in admin.get(f"/hubs/{hub}/employers").json["items"]] == ["E0", "E1"]


def test_records_of_one_hub_are_not_visible_in_another(admin, make_hub, expect_error):
    one, two = make_hub("tiny"), make_hub()
    assert admin.get(f"/hubs/{one}/schools").json["total"] == 3
    assert admin.get(f"/hubs/{two}/schools").json["total"] == 0
    expect_error(admin.get(f"/hubs/{two}/schools/S1"), 404, "not_found", f"No school 'S1' in hub '{two}'.")
    # the same id may exist in two hubs
    reply = admin.post(f"/hubs/{two}/schools", json={"id": "S1", "name": "Other", "lat": 53, "lon": -2})
    assert reply.status_code == 201
    assert admin.get(f"/hubs/{one}/schools/S1").json["name"] == "Preston Academy"
