"""A corpus of bad input through the HTTP API, on SQLite and (when it answers on 127.0.0.1:5432) PostgreSQL.

Every refused request must get a clear 4xx in the error shape (``{"error": {"code", "message", "details"}}``, JSON,
no stack trace) and leave the database exactly as it was: the row count of every table AND a SHA-256 over every
table's rows in primary-key order are taken before and after each request and must be equal.

The corpus: truncated and malformed JSON (bare NaN tokens too), malformed CSV (unclosed quote, ragged rows, no
header, binary garbage), NaN / Infinity / -Infinity and out-of-range coordinates (JSON and CSV), duplicate ids
within a file and against existing rows, NUL characters, wrong media types and a 50 MB body (413). Inputs that are
valid are checked for what they store: a Windows-1252 CSV (as the DfE register ships) keeps its non-ASCII names,
and names made of SQL (``'; DROP TABLE schools; --``) or HTML (``<script>alert(1)</script>``) are stored verbatim,
come back unchanged in JSON and escaped on the review page; the same strings as ids are refused (422): ids keep to
a URL-safe set, so that every record created can be fetched by its id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from api_harness import Seeded, backend_app, fingerprint, seed
from flask import Flask
from flask.testing import FlaskClient
from pg import postgres_problem
from sqlalchemy import select

from models import tables as t
from models.store import transaction
from service.tasks import run_job as run_worker

HUB = "bad"
CSV = "text/csv"
JSON = "application/json"
SQL_ID = "'; DROP TABLE schools; --"
HTML_ID = "<script>alert(1)</script>"
ID_RULE = "Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."


@dataclass(frozen=True)
class Env:
    app: Flask
    client: FlaskClient
    seeded: Seeded
    backend: str

    def send(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.seeded.admin_token}", **kwargs.pop("headers", {})}
        return self.client.open(url.format(hub=HUB), method=method, headers=headers, **kwargs)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if request.param == "postgresql" and (problem := postgres_problem()):
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {problem}")
    for app in backend_app(request.param, tmp_path_factory.mktemp("bad"), "bad"):
        yield Env(app, app.test_client(), seed(app, HUB), request.param)


def garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def csv_body(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


SCHOOLS_HEADER = "id,name,postcode,lat,lon"
ADVISERS_HEADER = "id,name,company,lat,lon"
NAN_JSON = '{"id": "A9", "name": "Nan", "company": "C9", "lat": NaN, "lon": -2.7}'


# (name, method, url, request keyword arguments, the statuses allowed)
CORPUS: list[tuple[str, str, str, dict[str, Any], set[int]]] = [
    # truncated and malformed JSON
    ("json-truncated-object", "POST", "/hubs/{hub}/schools",
     {"data": '{"id": "X1", "name": "Tru', "content_type": JSON}, {400, 422}),
    ("json-truncated-import", "POST", "/hubs/{hub}/schools/import", {"data": '[{"id": "X1",', "content_type": JSON},
     {400}),
    ("json-unquoted-keys", "POST", "/hubs/{hub}/schools", {"data": "{id: X1, name: Y}", "content_type": JSON},
     {400, 422}),
    ("json-trailing-comma", "POST", "/hubs", {"data": '{"id": "h9", "name": "H",}', "content_type": JSON}, {400, 422}),
    ("json-empty-body", "POST", "/hubs/{hub}/advisers", {"data": "", "content_type": JSON}, {400, 422}),
    ("json-empty-import", "POST", "/hubs/{hub}/advisers/import", {"data": "", "content_type": JSON}, {400}),
    ("json-binary", "POST", "/hubs/{hub}/employers/import", {"data": garbage(4096, 1), "content_type": JSON},
     {400}),
    ("json-binary-record", "POST", "/hubs/{hub}/employers", {"data": garbage(4096, 2), "content_type": JSON},
     {400, 422}),
    ("json-null", "POST", "/hubs/{hub}/schools", {"data": "null", "content_type": JSON}, {400, 422}),
    ("json-list-for-object", "POST", "/hubs/{hub}/rounds", {"data": "[1, 2]", "content_type": JSON}, {400, 422}),
    ("page-beyond-64-bit-offset", "GET", "/hubs/{hub}/schools?page=4315097819605422592", {}, {422}),
    ("proposals-page-huge", "GET", "/rounds/1/proposals?page=99999999999999999999", {}, {422}),
    ("round-id-beyond-integer", "GET", "/rounds/1750830356525835615750691728916480/proposals", {}, {404}),
    ("json-scalar-import", "POST", "/hubs/{hub}/schools/import", {"data": "42", "content_type": JSON}, {422}),
    ("json-object-import", "POST", "/hubs/{hub}/schools/import", {"json": {"schools": {"id": "X"}}}, {422}),
    ("json-empty-list-import", "POST", "/hubs/{hub}/schools/import", {"json": []}, {422}),
    ("json-rows-not-objects", "POST", "/hubs/{hub}/schools/import", {"json": [1, "two", None]}, {422}),
    ("json-deep-nesting", "POST", "/hubs/{hub}/schools/import", {"data": "[" * 100_000 + "]" * 100_000,
                                                                  "content_type": JSON}, {400}),
    ("json-deep-nesting-record", "POST", "/hubs/{hub}/advisers", {"data": '{"id": ' * 50_000 + "1" + "}" * 50_000,
                                                                   "content_type": JSON}, {400}),
    # malformed CSV
    ("csv-unclosed-quote", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body(SCHOOLS_HEADER, 'X1,"Unclosed Academy,PR1 8JN,,'), "content_type": CSV}, {422}),
    ("csv-ragged-long", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body(SCHOOLS_HEADER, "X1,Ok,PR1 8JN,,", "X2,Long,PR1 8JN,53.7,-2.7,extra,cells"),
      "content_type": CSV}, {422}),
    ("csv-ragged-short", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body(SCHOOLS_HEADER, "X1,Ok,PR1 8JN,,", "X2"), "content_type": CSV}, {422}),
    ("csv-no-header", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body("X1,Academy,PR1 8JN,53.7,-2.7"), "content_type": CSV}, {422}),
    ("csv-empty", "POST", "/hubs/{hub}/schools/import", {"data": b"", "content_type": CSV}, {422}),
    ("csv-header-only", "POST", "/hubs/{hub}/advisers/import", {"data": csv_body(ADVISERS_HEADER),
                                                                 "content_type": CSV}, {422}),
    ("csv-binary-garbage", "POST", "/hubs/{hub}/schools/import", {"data": garbage(8192, 3), "content_type": CSV},
     {422}),
    ("csv-binary-garbage-dfe", "POST", "/hubs/{hub}/schools/import?format=dfe",
     {"data": garbage(8192, 4), "content_type": CSV}, {422}),
    ("csv-dfe-for-advisers", "POST", "/hubs/{hub}/advisers/import?format=dfe",
     {"data": csv_body("URN,EstablishmentName,Postcode", "1,A,PR1 8JN"), "content_type": CSV}, {422}),
    ("csv-wrong-media-type", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body(SCHOOLS_HEADER, "X1,Ok,PR1 8JN,,"), "content_type": "text/plain"}, {415}),
    # duplicate ids: within a file, and against existing rows
    ("dup-within-json", "POST", "/hubs/{hub}/schools/import",
     {"json": [{"id": "D1", "name": "One", "postcode": "PR1 8JN"}, {"id": "D1", "name": "Two", "postcode": "PR1 8JN"}]},
     {422}),
    ("dup-within-csv", "POST", "/hubs/{hub}/schools/import",
     {"data": csv_body(SCHOOLS_HEADER, "D1,One,PR1 8JN,,", "D2,Two,PR1 8JN,,", "D1,Again,PR1 8JN,,"),
      "content_type": CSV}, {422}),
    ("dup-existing-school", "POST", "/hubs/{hub}/schools",
     {"json": {"id": "S1", "name": "Again", "postcode": "PR1 8JN"}}, {409}),
    ("dup-existing-hub", "POST", "/hubs", {"json": {"id": HUB, "name": "Again"}}, {409}),
    ("dup-existing-round-term", "POST", "/hubs/{hub}/rounds", {"json": {"term": "2026-spring"}}, {409}),
    ("put-id-mismatch", "PUT", "/hubs/{hub}/schools/S1", {"json": {"id": "S2", "name": "X", "postcode": "PR1 8JN"}},
     {422}),
    # NaN, infinities, out-of-range coordinates
    ("nan-bare-token", "POST", "/hubs/{hub}/advisers", {"data": NAN_JSON, "content_type": JSON}, {422}),
    ("infinity-bare-token", "POST", "/hubs/{hub}/advisers",
     {"data": NAN_JSON.replace("NaN", "Infinity"), "content_type": JSON}, {422}),
    ("minus-infinity-bare-token", "POST", "/hubs/{hub}/advisers",
     {"data": NAN_JSON.replace("NaN", "-Infinity"), "content_type": JSON}, {422}),
    ("nan-bare-token-import", "POST", "/hubs/{hub}/advisers/import", {"data": f"[{NAN_JSON}]", "content_type": JSON},
     {422}),
    ("overflow-1e999", "POST", "/hubs/{hub}/advisers",
     {"data": NAN_JSON.replace("NaN", "1e999"), "content_type": JSON}, {422}),
    ("nan-string", "POST", "/hubs/{hub}/advisers",
     {"json": {"id": "A9", "name": "N", "company": "C", "lat": "NaN", "lon": -2.7}}, {422}),
    ("infinity-string", "POST", "/hubs/{hub}/schools",
     {"json": {"id": "X9", "name": "N", "lat": 53.7, "lon": "-Infinity"}}, {422}),
    ("lat-out-of-range", "POST", "/hubs/{hub}/schools", {"json": {"id": "X9", "name": "N", "lat": 91, "lon": -2.7}},
     {422}),
    ("lon-out-of-range", "POST", "/hubs/{hub}/advisers",
     {"json": {"id": "A9", "name": "N", "company": "C", "lat": 53.7, "lon": -180.5}}, {422}),
    ("site-nan", "POST", "/hubs/{hub}/employers",
     {"data": '{"id": "E9", "name": "N", "sites": [{"lat": NaN, "lon": 1}]}', "content_type": JSON}, {422}),
    ("site-out-of-range", "PUT", "/hubs/{hub}/employers/E1",
     {"json": {"id": "E1", "name": "N", "sites": [{"lat": 53.7, "lon": 500}]}}, {422}),
    ("csv-nan-and-inf", "POST", "/hubs/{hub}/advisers/import",
     {"data": csv_body(ADVISERS_HEADER, "A8,Ok,C1,53.7,-2.7", "A9,Nan,C1,nan,-2.7", "A10,Inf,C1,53.7,inf",
                       "A11,MinusInf,C1,-Infinity,-2.7", "A12,Far,C1,95,-2.7"), "content_type": CSV}, {422}),
    ("round-policy-nan", "POST", "/hubs/{hub}/rounds",
     {"data": '{"term": "2099-x", "policy": {"max_distance_km": NaN}}', "content_type": JSON}, {422}),
    ("hub-priority-nan", "PATCH", "/hubs/{hub}",
     {"data": '{"priority_sectors": {"digital": NaN}}', "content_type": JSON}, {422}),
    # too large: 50 MB (the service accepts 10 MB)
    ("body-70mb-csv", "POST", "/hubs/{hub}/schools/import",  # imports take up to 64 MB
     {"data": csv_body(SCHOOLS_HEADER) + b"X,Y,PR1 8JN,,\r\n" * (70 * 1024 * 1024 // 15), "content_type": CSV}, {413}),
    ("body-50mb-json", "POST", "/hubs/{hub}/schools",
     {"data": b'{"id": "X1", "name": "' + b"x" * (50 * 1024 * 1024) + b'"}', "content_type": JSON}, {413}),
]


def error_of(reply: Any, statuses: set[int]) -> dict[str, Any]:
    """The reply is one of these 4xx in the error shape, with a message and no stack trace."""
    text = reply.get_data(as_text=True)
    assert reply.status_code in statuses, (reply.status_code, text[:500])
    assert reply.mimetype == "application/json", (reply.mimetype, text[:200])
    assert "Traceback" not in text and 'File "' not in text and "<html" not in text.lower()
    assert set(reply.json) == {"error"}
    error = reply.json["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    return error


@pytest.mark.parametrize(("method", "url", "kwargs", "statuses"), [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_bad_request_is_refused_and_writes_nothing(env: Env, method: str, url: str, kwargs: dict[str, Any],
                                                   statuses: set[int]) -> None:
    before = fingerprint(env.app)
    reply = env.send(method, url, **kwargs)
    error_of(reply, statuses)
    after = fingerprint(env.app)
    assert after[0] == before[0], "row counts changed"
    assert after[1] == before[1], "rows changed"


def test_dup_within_file_names_every_bad_row(env: Env) -> None:
    rows = [{"id": f"R{i}", "name": f"R{i}", "postcode": "PR1 8JN"} for i in range(5)] + [
        {"id": "R1", "name": "again", "postcode": "PR1 8JN"},
        {"id": "R3", "name": "again", "postcode": "PR1 8JN"},
    ]
    before = fingerprint(env.app)
    error = error_of(env.send("POST", "/hubs/{hub}/schools/import", json=rows), {422})
    assert error["code"] == "invalid_import"
    named = {(d["record"].rsplit(" ", 1)[-1], d["field"]) for d in error["details"]}
    assert named == {("(R1)", "id"), ("(R3)", "id")}, error["details"]
    assert fingerprint(env.app) == before


def test_windows_1252_csv_keeps_non_ascii_names(env: Env) -> None:
    names = {"W1": "Ysgol Bro Ffestiniog – Café Zoë", "W2": "St Æthelred’s «Prep» £5 façade"}
    body = csv_body("id,name,postcode", *(f"{k},{v},PR1 8JN" for k, v in names.items()), encoding="cp1252")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # it really is not UTF-8
    reply = env.send("POST", "/hubs/{hub}/schools/import?wave=cp1252", data=body, content_type=CSV)
    assert reply.status_code == 200, reply.json
    assert reply.json == {"created": 2, "updated": 0}
    for school_id, name in names.items():
        got = env.send("GET", f"/hubs/{{hub}}/schools/{school_id}")
        assert got.status_code == 200 and got.json["name"] == name, got.json


def test_windows_1252_dfe_register(env: Env) -> None:
    header = "URN,EstablishmentName,EstablishmentStatus (name),TypeOfEstablishment (name),Postcode,NumberOfPupils"
    body = csv_body(
        header,
        "900001,Ysgol Gymraeg – Llanelli,Open,Community school,PR1 8JN,300",
        "900002,Ãœber Closed School,Closed,Academy converter,PR1 8JN,10",
        "900003,Notre-Dame Sixth Form College (Preston),Open,Sixth form centres,PR1 8JN,",
        encoding="cp1252",
    )
    reply = env.send("POST", "/hubs/{hub}/schools/import?format=dfe", data=body, content_type=CSV)
    assert reply.status_code == 200 and reply.json == {
        "created": 2, "updated": 0, "flagged": [], "skipped": [{"place": "line 3", "urn": "900002", "reason": "closed"}]
    }, reply.json
    assert env.send("GET", "/hubs/{hub}/schools/URN900001").json["name"] == "Ysgol Gymraeg – Llanelli"
    assert env.send("GET", "/hubs/{hub}/schools/URN900003").json["kind"] == "college"
    assert env.send("GET", "/hubs/{hub}/schools/URN900002").status_code == 404


HOSTILE = [SQL_ID, HTML_ID, 'Robert"); DELETE FROM hubs; --', "1 OR 1=1", "%_\\", "a/b"]


@pytest.mark.parametrize(("index", "text"), list(enumerate(HOSTILE)))
def test_hostile_strings_stored_verbatim_and_returned_unchanged(env: Env, index: int, text: str) -> None:
    """Hostile text in names and sectors is stored and returned as it is; ids keep to the URL-safe set."""
    school_id = f"HOSTILE{index}"
    record = {"id": school_id, "name": text, "postcode": "PR1 8JN", "sectors": [text[:64]]}
    created = env.send("POST", "/hubs/{hub}/schools", json=record)
    assert created.status_code == 201, created.json
    assert created.json["id"] == school_id and created.json["name"] == text
    got = env.send("GET", f"/hubs/{{hub}}/schools/{school_id}")
    assert got.status_code == 200, got.json
    assert got.json["name"] == text and got.json["sectors"] == [text[:64]]
    found = env.send("GET", f"/hubs/{{hub}}/schools?q={quote(text, safe='')}&per_page=500")
    assert found.status_code == 200, found.json
    assert [s for s in found.json["items"] if s["id"] == school_id] == [created.json], found.json
    with transaction(env.app.extensions["hubmatch.sessions"]) as session:
        assert session.scalar(select(t.School.name).where(t.School.hub_id == HUB, t.School.id == school_id)) == text
    counts, _ = fingerprint(env.app)
    assert counts["schools"] >= 4 and counts["hubs"] >= 1  # nothing was dropped


NUL_CASES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("nul-in-id", "POST", "/hubs/{hub}/schools", {"json": {"id": "N\u0000L", "name": "Nul", "postcode": "PR1 8JN"}}),
    ("nul-in-name-import", "POST", "/hubs/{hub}/schools/import",
     {"json": [{"id": "N1", "name": "Nul\u0000School", "postcode": "PR1 8JN"}]}),
    ("nul-in-csv", "POST", "/hubs/{hub}/advisers/import",
     {"data": csv_body(ADVISERS_HEADER, "N2,Nul\x00Adviser,C1,53.7,-2.7"), "content_type": CSV}),
    ("nul-in-hub", "POST", "/hubs", {"json": {"id": "nul\u0000hub", "name": "Nul"}}),
    ("nul-in-query", "GET", "/hubs/{hub}/schools?q=a%00b", {}),
]


@pytest.mark.parametrize(("method", "url", "kwargs"), [c[1:] for c in NUL_CASES], ids=[c[0] for c in NUL_CASES])
def test_nul_characters_never_a_server_error(env: Env, method: str, url: str, kwargs: dict[str, Any]) -> None:
    """PostgreSQL text cannot hold NUL: refused there (422, nothing written); SQLite may store it verbatim."""
    before = fingerprint(env.app)
    reply = env.send(method, url, **kwargs)
    assert reply.status_code < 500, reply.get_data(as_text=True)[:500]
    if reply.status_code >= 400 or env.backend == "postgresql":
        error_of(reply, {422})
        assert fingerprint(env.app) == before
    elif method == "POST":
        assert reply.status_code in (200, 201), reply.json
        assert fingerprint(env.app) != before  # stored verbatim (SQLite text holds NUL)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_ids_are_refused_by_name(env: Env, text: str) -> None:
    """An id outside the URL-safe set could be created but never fetched (``/schools/a%2Fb``): refused, 422."""
    before = fingerprint(env.app)
    error = error_of(env.send("POST", "/hubs/{hub}/schools", json={"id": text, "name": "N", "postcode": "PR1 8JN"}),
                     {422})
    assert error["details"] == {"json": {"id": [ID_RULE]}}
    assert fingerprint(env.app) == before


def test_hostile_query_matches_nothing(env: Env) -> None:
    for q in ("' OR '1'='1", "%", "_", "S1' --"):
        reply = env.send("GET", f"/hubs/{{hub}}/schools?q={quote(q, safe='')}")
        assert reply.status_code == 200, reply.json
        assert all(q in s["id"] or q in s["name"] for s in reply.json["items"]), (q, reply.json)


def test_hostile_names_escaped_on_review_page(env: Env) -> None:
    """A hub whose records carry HTML and SQL, solved: the review page shows them escaped, JSON unchanged."""
    hub = "hostile"
    hub_reply = env.send("POST", "/hubs", json={"id": hub, "name": HTML_ID})
    assert hub_reply.status_code == 201, hub_reply.json
    schools = [
        {"id": "H1", "name": HTML_ID, "postcode": "PR1 8JN", "sectors": ["<b>digital</b>"]},
        {"id": "H2", "name": SQL_ID, "postcode": "PR1 8JN"},
    ]
    advisers = [{"id": "A1", "name": "<img src=x onerror=alert(2)>", "company": "<i>Co</i>",
                 "lat": 53.76, "lon": -2.70, "capacity": 2}]
    for collection, rows in (("schools", schools), ("advisers", advisers)):
        reply = env.send("POST", f"/hubs/{hub}/{collection}/import", json=rows)
        assert reply.status_code == 200, reply.json
    round_reply = env.send("POST", f"/hubs/{hub}/rounds", json={"term": "2026-spring"})
    assert round_reply.status_code == 201, round_reply.json
    round_id = round_reply.json["id"]
    factory = env.app.extensions["hubmatch.sessions"]
    with transaction(factory) as session:
        job_id = env.app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round_id)).id
    run_worker(job_id, factory)  # in this process: no worker process start-up
    assert env.send("GET", f"/jobs/{job_id}").json["state"] == "succeeded"

    page = env.send("GET", f"/ui/rounds/{round_id}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for raw in (HTML_ID, "<img src=x onerror=alert(2)>", "<i>Co</i>"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#39;; DROP TABLE schools; --" in html or "&#x27;; DROP TABLE schools; --" in html
    index = env.send("GET", "/ui/").get_data(as_text=True)
    assert HTML_ID not in index

    proposals = env.send("GET", f"/rounds/{round_id}/proposals?per_page=500").json["items"]
    assert {p["school_id"] for p in proposals} <= {"H1", "H2"} and proposals
    exported = env.send("GET", f"/rounds/{round_id}/export?format=json")
    assert exported.status_code == 200
    assert HTML_ID in json.dumps(exported.json, ensure_ascii=False)
