"""Bad numbers and bad text through the HTTP API, on SQLite and (when it answers) PostgreSQL: each gets a 422 that
names the record and field, and nothing is written (the database's fingerprint is unchanged).

The first cases are the fuzzer's own findings (``test_fuzz_openapi``): a proposal id beyond 64 bits, a proposal id
of 156.9 (once truncated to 156 and decided), an employer capacity of 2^70 (once stored, then every solve of the
hub failed), a company cap of 2^70, a distance weight and a time limit of 1e308. Then the same numbers in imports
(JSON and CSV) and waves, ids that cannot be addressed in a URL, and control characters, including the one that
made the hub's map SVG ill-formed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from api_harness import Seeded, backend_app, fingerprint, seed
from flask import Flask
from flask.testing import FlaskClient
from pg import postgres_problem

HUB = "ranges"
CSV = "text/csv"
BIG = 2**70
FUZZED_ID = -198320664785689765147640669778477056
ID_RULE = "Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."
ROW_ID = "Must be greater than or equal to 1 and less than or equal to 2147483647."
PUPILS = "Must be greater than or equal to 0 and less than or equal to 10000."
ADVISER_CAPACITY = "Must be greater than or equal to 0 and less than or equal to 10."
EMPLOYER_CAPACITY = "Must be greater than or equal to 0 and less than or equal to 1000."
COMPANY_CAP = "Must be greater than or equal to 0 and less than or equal to 1000."
WEIGHT = "Must be greater than or equal to 0 and less than or equal to 1000."
TIME_LIMIT = "Must be greater than 0 and less than or equal to 3600."
RADIUS = "Must be greater than 0 and less than or equal to 200."
WAIT = "Must be greater than or equal to 0 and less than or equal to 120."
NOT_INTEGER = "Not a valid integer."
INVALID = "The request is not valid: see details."


def control(code: int, at: int) -> str:
    return f"Must not contain control characters, tabs or line breaks (found U+{code:04X} at position {at})."


@dataclass(frozen=True)
class Env:
    app: Flask
    client: FlaskClient
    seeded: Seeded

    def send(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.seeded.admin_token}", **kwargs.pop("headers", {})}
        return self.client.open(url.format(hub=HUB, round=self.seeded.round_id), method=method, headers=headers,
                                **kwargs)

    def refused(self, method: str, url: str, code: str = "invalid_input", **kwargs: Any) -> dict[str, Any]:
        """Send a request that must get a 422 with ``code`` and change nothing; its error body."""
        before = fingerprint(self.app)
        reply = self.send(method, url, **kwargs)
        assert reply.status_code == 422, (reply.status_code, reply.get_data(as_text=True)[:500])
        assert reply.json["error"]["code"] == code, reply.json
        assert fingerprint(self.app) == before, "a refused request wrote something"
        return reply.json["error"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if request.param == "postgresql" and (problem := postgres_problem()):
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {problem}")
    for app in backend_app(request.param, tmp_path_factory.mktemp("ranges"), "ranges"):
        yield Env(app, app.test_client(), seed(app, HUB))


def school(sid: str = "X1", **extra: Any) -> dict[str, Any]:
    return {"id": sid, "name": f"School {sid}", "postcode": "PR1 8JN", **extra}


def adviser(aid: str = "A9", **extra: Any) -> dict[str, Any]:
    return {"id": aid, "company": "C1", "lat": 53.76, "lon": -2.70, **extra}


def employer(eid: str = "E9", **extra: Any) -> dict[str, Any]:
    return {"id": eid, "name": f"Employer {eid}", "sites": [{"lat": 53.75, "lon": -2.48}], "capacity": 2, **extra}


# --- the fuzzer's findings ------------------------------------------------------------------------------------


def test_batch_decision_with_a_proposal_id_beyond_64_bits(env: Env) -> None:
    error = env.refused("POST", "/rounds/{round}/decisions/batch",
                        json={"decisions": [{"proposal": FUZZED_ID, "action": "approve"}]})
    assert error == {"code": "invalid_input", "message": INVALID,
                     "details": {"json": {"decisions": {"0": {"proposal": [ROW_ID]}}}}}


def test_batch_decision_with_a_fractional_proposal_id_decides_nothing(env: Env) -> None:
    proposal = env.seeded.proposal_id
    error = env.refused("POST", "/rounds/{round}/decisions/batch",
                        json={"decisions": [{"proposal": proposal + 0.9, "action": "approve", "version": 1.5}]})
    assert error["details"] == {"json": {"decisions": {"0": {"proposal": [NOT_INTEGER], "version": [NOT_INTEGER]}}}}
    assert env.send("GET", f"/proposals/{proposal}").json["state"] == "proposed"


@pytest.mark.parametrize(("collection", "record", "field", "message"), [
    ("employers", employer(capacity=BIG), "capacity", EMPLOYER_CAPACITY),
    ("employers", employer(capacity=1000.5), "capacity", EMPLOYER_CAPACITY),
    ("advisers", adviser(capacity=BIG), "capacity", ADVISER_CAPACITY),
    ("advisers", adviser(capacity=11), "capacity", ADVISER_CAPACITY),
    ("advisers", adviser(capacity=1.5), "capacity", NOT_INTEGER),
    ("advisers", adviser(max_travel_km=1e308), "max_travel_km", RADIUS),
    ("schools", school(pupils=BIG), "pupils", PUPILS),
    ("schools", school(pupils=-BIG), "pupils", PUPILS),
    ("schools", school(pupils=900.5), "pupils", NOT_INTEGER),
    ("schools", school(load=BIG), "load", "Must be greater than 0 and less than or equal to 100."),
])
def test_record_number_out_of_range(env: Env, collection: str, record: dict[str, Any], field: str,
                                    message: str) -> None:
    error = env.refused("POST", f"/hubs/{{hub}}/{collection}", json=record)
    assert error["details"] == {"json": {field: [message]}}


def test_replacing_a_record_with_a_huge_capacity_is_refused(env: Env) -> None:
    error = env.refused("PUT", "/hubs/{hub}/employers/E1", json=employer("E1", capacity=BIG))
    assert error["details"] == {"json": {"capacity": [EMPLOYER_CAPACITY]}}
    assert env.send("GET", "/hubs/{hub}/employers/E1").json["capacity"] == 3


def test_round_policy_beyond_its_ranges(env: Env) -> None:
    policy = {"max_schools_per_company": BIG, "weights": {"distance": 1e308}, "time_limit_s": 1e308}
    error = env.refused("POST", "/hubs/{hub}/rounds", json={"term": "2099-x", "policy": policy})
    assert error["details"] == {"json": {"policy": {
        "max_schools_per_company": [COMPANY_CAP], "weights": {"distance": [WEIGHT]}, "time_limit_s": [TIME_LIMIT]}}}
    error = env.refused("PATCH", "/rounds/{round}", json={"policy": {"time_limit_s": 3600.5}})
    assert error["details"] == {"json": {"policy": {"time_limit_s": [TIME_LIMIT]}}}


def test_round_policy_at_its_limits_is_accepted(env: Env) -> None:
    policy = {"max_schools_per_company": 1000, "weights": {"distance": 1000}, "time_limit_s": 3600,
              "advisers_per_school": 5, "default_max_travel_km": 200}
    reply = env.send("POST", "/hubs/{hub}/rounds", json={"term": "2099-limits", "policy": policy})
    assert reply.status_code == 201, reply.json
    assert reply.json["policy"]["time_limit_s"] == 3600 and reply.json["policy"]["max_schools_per_company"] == 1000


def test_solve_wait_beyond_its_range(env: Env) -> None:
    error = env.refused("POST", "/rounds/{round}/solve?wait=1e308")
    assert error["details"] == {"query": {"wait": [WAIT]}}


# --- the same numbers in imports and waves --------------------------------------------------------------------


def test_json_import_with_a_huge_integer_names_row_and_field(env: Env) -> None:
    rows = [school("X1"), school("X2", pupils=BIG), school("X3", pupils=12.5)]
    error = env.refused("POST", "/hubs/{hub}/schools/import", code="invalid_import", json=rows)
    assert error["details"] == [
        {"record": "schools[1] (X2)", "field": "pupils", "message": PUPILS},
        {"record": "schools[2] (X3)", "field": "pupils", "message": NOT_INTEGER},
    ]


def test_csv_import_with_a_2_70_cell_names_row_and_field(env: Env) -> None:
    body = f"id,name,company,lat,lon,capacity\r\nA8,Ok,C1,53.7,-2.7,2\r\nA9,Big,C1,53.7,-2.7,{BIG}\r\n"
    error = env.refused("POST", "/hubs/{hub}/advisers/import", code="invalid_import", data=body, content_type=CSV)
    assert error["message"] == "1 problem(s) in the file; nothing was imported."
    assert error["details"] == [{"record": "line 3 (A9)", "field": "capacity", "message": ADVISER_CAPACITY}]


def test_csv_import_refuses_a_fractional_integer_and_reads_whole_ones(env: Env) -> None:
    body = "id,name,postcode,pupils\r\nC1,One,PR1 8JN,900.5\r\n"
    error = env.refused("POST", "/hubs/{hub}/schools/import", code="invalid_import", data=body, content_type=CSV)
    assert error["details"] == [{"record": "line 2 (C1)", "field": "pupils", "message": NOT_INTEGER}]
    body = "id,name,postcode,pupils\r\nC2,Two,PR1 8JN,900\r\n"
    reply = env.send("POST", "/hubs/{hub}/schools/import", data=body, content_type=CSV)
    assert reply.status_code == 200 and reply.json == {"created": 1, "updated": 0}, reply.json
    assert env.send("GET", "/hubs/{hub}/schools/C2").json["pupils"] == 900


def test_dfe_register_with_a_huge_pupil_count(env: Env) -> None:
    body = f"URN,EstablishmentName,Postcode,NumberOfPupils\r\n900009,Huge,PR1 8JN,{BIG}\r\n"
    error = env.refused("POST", "/hubs/{hub}/schools/import?format=dfe", code="invalid_import", data=body,
                        content_type=CSV)
    assert error["details"] == [{"record": "line 2 (URN900009)", "field": "pupils", "message": PUPILS}]


def test_wave_with_a_huge_integer_starts_nothing(env: Env) -> None:
    wave = {"wave": "w9", "schools": [school("W1"), school("W2", pupils=BIG)]}
    error = env.refused("POST", "/hubs/{hub}/waves", code="invalid_import", json=wave)
    assert error["details"] == [{"record": "schools[1] (W2)", "field": "pupils", "message": PUPILS}]


# --- ids that a URL cannot address ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a/b", "a b", "-lead", ".", "Zoë", "x" * 65, "%2F"])
def test_record_id_outside_the_safe_set(env: Env, bad: str) -> None:
    error = env.refused("POST", "/hubs/{hub}/advisers", json=adviser(bad))
    assert error["details"] == {"json": {"id": [ID_RULE]}}


def test_slash_id_in_an_import_names_the_row(env: Env) -> None:
    error = env.refused("POST", "/hubs/{hub}/advisers/import", code="invalid_import",
                        json=[adviser("A7"), adviser("a/b")])
    assert error["details"] == [{"record": "advisers[1] (a/b)", "field": "id", "message": ID_RULE}]
    assert env.send("GET", "/hubs/{hub}/advisers/A7").status_code == 404  # nothing half-written


@pytest.mark.parametrize(("collection", "record", "field", "message"), [
    ("advisers", adviser(conflicts=["S1", "x/y"]), "conflicts", "Item 1: " + ID_RULE),
    ("schools", school(current_adviser="A 1"), "current_adviser", ID_RULE),
    ("schools", school(current_cornerstones=["E1/2"]), "current_cornerstones", "Item 0: " + ID_RULE),
])
def test_references_outside_the_safe_set(env: Env, collection: str, record: dict[str, Any], field: str,
                                         message: str) -> None:
    error = env.refused("POST", f"/hubs/{{hub}}/{collection}", json=record)
    assert error["details"] == {"json": {field: [message]}}


def test_hub_id_outside_the_safe_set(env: Env) -> None:
    error = env.refused("POST", "/hubs", json={"id": "-a/b", "name": "Slash"})
    assert error["details"] == {"json": {"id": [ID_RULE]}}


def test_safe_ids_can_be_fetched_after_creation(env: Env) -> None:
    for rid in ("A.b-c_9", "9" * 64):
        assert env.send("POST", "/hubs/{hub}/advisers", json=adviser(rid)).status_code == 201
        got = env.send("GET", f"/hubs/{{hub}}/advisers/{rid}")
        assert got.status_code == 200 and got.json["id"] == rid


# --- control characters ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "body", "details"), [
    ("POST", "/hubs/{hub}/schools", school(name="Bell\x07School"), {"name": [control(7, 4)]}),
    ("POST", "/hubs/{hub}/schools", school(name="Two\nLines"), {"name": [control(10, 3)]}),
    ("POST", "/hubs/{hub}/schools", school(postcode="PR1\t8JN"), {"postcode": [control(9, 3)]}),
    ("POST", "/hubs/{hub}/schools", school(sectors=["digital", "he\u0085alth"]),
     {"sectors": ["Item 1: must not contain control characters, tabs or line breaks (found U+0085 at position 2)."]}),
    ("POST", "/hubs/{hub}/advisers", adviser(company="Acme\x1b[31m"), {"company": [control(0x1B, 4)]}),
    ("POST", "/hubs/{hub}/advisers", adviser(name="\x7fAda"), {"name": [control(0x7F, 0)]}),
    ("POST", "/hubs/{hub}/advisers", adviser(skills=["send\r"]),
     {"skills": ["Item 0: must not contain control characters, tabs or line breaks (found U+000D at position 4)."]}),
    ("POST", "/hubs/{hub}/employers", employer(name="Rolls\x9b"), {"name": [control(0x9B, 5)]}),
    ("POST", "/hubs", {"id": "bell", "name": "Bell\x07Hub"}, {"name": [control(7, 4)]}),
    ("PATCH", "/hubs/{hub}", {"priority_sectors": {"dig\x00ital": 1}},
     {"priority_sectors": {"dig\x00ital": {"key": [control(0, 3)]}}}),
])
def test_control_characters_are_refused(env: Env, method: str, url: str, body: dict[str, Any],
                                        details: dict[str, Any]) -> None:
    error = env.refused(method, url, json=body)
    assert error["details"] == {"json": details}


def test_control_character_in_a_rejection_reason(env: Env) -> None:
    proposal = env.seeded.proposal_id
    error = env.refused("POST", f"/proposals/{proposal}/decision", json={"action": "reject", "reason": "far\naway"})
    assert error["details"] == {"json": {"reason": [control(10, 3)]}}


def test_control_character_in_a_csv_import(env: Env) -> None:
    body = "id,name,postcode\r\nB1,Fine,PR1 8JN\r\nB2,Bell\x07School,PR1 8JN\r\n"
    error = env.refused("POST", "/hubs/{hub}/schools/import", code="invalid_import", data=body, content_type=CSV)
    assert error["details"] == [{"record": "line 3 (B2)", "field": "name", "message": control(7, 4)}]


def test_control_character_in_a_query_filter(env: Env) -> None:
    error = env.refused("GET", "/hubs/{hub}/schools?q=a%07b")
    assert error["details"] == {"query": {"q": [control(7, 1)]}}


def test_map_svg_still_parses_after_an_attempted_control_character_name(env: Env) -> None:
    """Every school of the hub and every employer of its proposals is drawn on the round's map: one accepted
    control character would make the document ill-formed for every user."""
    attempts = [env.send("POST", "/hubs/{hub}/schools", json=school("M1", name="Bell\x07School")),
                env.send("PUT", "/hubs/{hub}/employers/E1", json=employer("E1", name="Rolls\x0cRoyce", capacity=3))]
    svg = env.send("GET", "/ui/rounds/{round}/map.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    root = ET.fromstring(svg.data)  # raises ParseError on an ill-formed document
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "Rolls" in svg.get_data(as_text=True)  # the employer's own name is still drawn
    assert [a.status_code for a in attempts] == [422, 422]


# --- the ranges are in the OpenAPI document -------------------------------------------------------------------


def test_openapi_document_carries_the_ranges(env: Env) -> None:
    schemas = env.send("GET", "/openapi.json").json["components"]["schemas"]
    assert {k: schemas["School"]["properties"]["pupils"][k] for k in ("minimum", "maximum")} == {
        "minimum": 0, "maximum": 10000}
    assert schemas["Employer"]["properties"]["capacity"]["maximum"] == 1000
    assert schemas["Adviser"]["properties"]["id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
    assert schemas["Policy"]["properties"]["time_limit_s"]["maximum"] == 3600
    assert {k: schemas["BatchItem"]["properties"]["proposal"][k] for k in ("minimum", "maximum")} == {
        "minimum": 1, "maximum": 2**31 - 1}
