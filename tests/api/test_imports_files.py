"""Real files in: the DfE register as published (grid positions, phases, statuses, suppressed figures), CSV as
spreadsheets save it (blank rows, other delimiters, encodings, postcodes as typed), and the size limit."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = Path(__file__).resolve().parents[2] / "fixtures" / "data" / "schools_secondary_nw_staffs.csv"


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius), written out here apart from the product's own."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def true_positions() -> dict[str, tuple[float, float]]:
    with TRUTH.open(encoding="utf-8") as handle:
        return {f"URN{r['urn']}": (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(handle)}


def register_lines(path: Path) -> dict[str, tuple[int, str]]:
    """URN -> (file line, status), counted from the raw bytes (every row of these files is one line)."""
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    header = lines[0].split(",")
    out = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = next(csv.reader([line])) if line else []
        if cells and cells[0]:
            out[cells[0]] = (number, dict(zip(header, cells, strict=False))["EstablishmentStatus (name)"])
    return out


def all_schools(who, hub: str) -> dict[str, dict]:
    return {s["id"]: s for s in who.get(f"/hubs/{hub}/schools?per_page=500").json["items"]}


def post_file(who, hub: str, path: Path, query: str = "", collection: str = "schools"):
    return who.post(f"/hubs/{hub}/{collection}/import{query}", data=path.read_bytes(), content_type="text/csv")


def test_the_dfe_sample_lands_every_school_within_50_m_of_its_true_position(admin, make_hub):
    path = DATA / "gias_sample_lancashire_cumbria.csv"
    raw = path.read_bytes()
    assert b"\r\n" in raw and not raw.startswith(b"\xef\xbb\xbf")  # as the register ships
    hub = make_hub()
    reply = post_file(admin, hub, path, "?format=dfe")
    assert reply.status_code == 200, reply.json
    lines = register_lines(path)
    closed = {urn: line for urn, (line, status) in lines.items() if status == "Closed"}
    assert len(closed) == 13 and len(lines) == 123
    assert reply.json["created"] == 110 and reply.json["flagged"] == []
    assert sorted((n["place"], n["urn"]) for n in reply.json["skipped"]) == sorted(
        (f"line {line}", urn) for urn, line in closed.items()
    )
    assert all(n["reason"].startswith("closed on ") for n in reply.json["skipped"])
    truth = true_positions()
    schools = all_schools(admin, hub)
    assert len(schools) == 110
    errors = {sid: metres(s["lat"], s["lon"], *truth[sid]) for sid, s in schools.items()}
    assert max(errors.values()) < 50, sorted(errors.items(), key=lambda kv: -kv[1])[:3]
    # the three open Burnley schools are three places, not one district centre
    burnley = {(s["lat"], s["lon"]) for s in schools.values() if s["postcode"].startswith(("BB10", "BB11", "BB12"))}
    assert len(burnley) == 3


def test_register_phases_types_statuses_and_suppressed_figures(admin, make_hub):
    path = DATA / "gias_edge_cases.csv"
    hub = make_hub()
    reply = post_file(admin, hub, path, "?format=dfe")
    assert reply.status_code == 200, reply.json
    assert reply.json["skipped"] == [
        {"place": "line 3", "urn": "900002", "reason": "a primary school (phase 'Primary'): the hub does not admit "
                                                       "primaries; import with primary=admit to include them"},
        {"place": "line 5", "urn": "900004", "reason": "closed on 31-08-2021"},
        {"place": "line 13", "urn": "900012", "reason": "proposed to open: not open yet"},
    ]
    assert reply.json["flagged"] == [
        {"place": "line 4", "urn": "900003", "reason": "Open, but proposed to close: imported, check before pairing it"}
    ]
    assert (reply.json["created"], reply.json["updated"]) == (10, 0)
    schools = all_schools(admin, hub)
    assert {sid: s["kind"] for sid, s in schools.items()} == {
        "URN900001": "mainstream", "URN900003": "mainstream", "URN900005": "mainstream", "URN900006": "mainstream",
        "URN900007": "college", "URN900008": "mainstream", "URN900009": "send", "URN900010": "ap",
        "URN900011": "college", "URN900013": "mainstream",
    }
    truth = true_positions()  # the edge rows carry these Staffordshire schools' grid references
    by_name = {s["name"]: s for s in schools.values()}
    moorside = by_name["Moorside High School"]  # coordinates and no postcode: placed by its grid reference
    assert moorside["postcode"] is None and metres(moorside["lat"], moorside["lon"], *truth["URN124399"]) < 50
    codsall = schools["URN900006"]  # SUPP pupils, x FSM: unknown, not errors
    assert (codsall["pupils"], codsall["pct_fsm"]) == (None, None)
    assert schools["URN900007"]["pct_fsm"] is None  # "c"
    assert schools["URN900013"]["postcode"] == "WV6 7NR"  # typed "wv6  7nr"
    assert "SchoolWebsite" not in schools["URN900001"] and "website" not in schools["URN900001"]


def test_primaries_come_in_when_the_hub_admits_them(admin, make_hub, expect_error):
    hub = make_hub()
    reply = post_file(admin, hub, DATA / "gias_edge_cases.csv", "?format=dfe&primary=admit")
    assert reply.status_code == 200, reply.json
    assert reply.json["created"] == 11
    assert [n["urn"] for n in reply.json["skipped"]] == ["900004", "900012"]
    assert admin.get(f"/hubs/{hub}/schools/URN900002").json["kind"] == "mainstream"
    error = expect_error(post_file(admin, hub, DATA / "gias_edge_cases.csv", "?format=dfe&primary=some"), 422,
                         "invalid_input")
    assert error["details"] == {"query": {"primary": ["Must be one of: refuse, admit."]}}


def test_a_bad_register_row_is_named_by_its_line_and_urn_not_its_index(admin, make_hub, expect_error):
    text = (DATA / "gias_edge_cases.csv").read_bytes().decode("cp1252").split("\r\n")
    text[4] = text[4].replace("Closed", "Open").replace(",800,", ",many,")  # line 5: was skipped as closed
    text[5] = text[5].replace(",650,", ",65000,")  # line 6 (after the skipped line 3)
    text[6] = text[6].replace(",387441,", ",3874O1,")  # line 7: a letter O in the easting
    hub = make_hub()
    body = "\r\n".join(text).encode("cp1252")
    reply = admin.post(f"/hubs/{hub}/schools/import?format=dfe", data=body, content_type="text/csv")
    expect_error(reply, 422, "invalid_import", "3 problem(s) in the file; nothing was imported.", [
        {"record": "line 5 (URN900004)", "field": "pupils", "message": "Not a valid integer."},
        {"record": "line 6 (URN900005)", "field": "pupils",
         "message": "Must be greater than or equal to 0 and less than or equal to 10000."},
        {"record": "line 7 (URN900006)", "field": "lat", "message": "Not a valid number."},
    ])
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0


def test_excel_csv_with_blank_trailing_rows_and_a_suppressed_cell(admin, make_hub):
    hub = make_hub()
    reply = post_file(admin, hub, DATA / "schools_blank_rows.csv")
    assert reply.status_code == 200, reply.json
    assert reply.json == {"created": 2, "updated": 0}
    fulwood = admin.get(f"/hubs/{hub}/schools/S2").json
    assert (fulwood["pct_fsm"], fulwood["postcode"], fulwood["pupils"]) == (None, "PR2 3TS", 1000)


def test_a_semicolon_separated_windows_1252_file_is_read(admin, make_hub):
    hub = make_hub()
    reply = post_file(admin, hub, DATA / "schools_semicolon.csv")
    assert reply.status_code == 200, reply.json
    schools = all_schools(admin, hub)
    assert schools["S2"]["name"] == "Prés Academy"
    assert schools["S1"]["sectors"] == ["digital, media"]  # the comma is text in a semicolon file


@pytest.mark.parametrize("delimiter", ["\t", "|"])
def test_tab_and_bar_separated_files_read_the_same(admin, make_hub, delimiter):
    hub = make_hub()
    body = f"id{delimiter}name{delimiter}postcode\nS1{delimiter}One{delimiter}PR1 8JN\n"
    reply = admin.post(f"/hubs/{hub}/schools/import", data=body, content_type="text/csv")
    assert reply.json == {"created": 1, "updated": 0}
    assert admin.get(f"/hubs/{hub}/schools/S1").json["postcode"] == "PR1 8JN"


def test_a_header_without_a_delimiter_says_which_was_expected(admin, make_hub, expect_error):
    hub = make_hub()
    reply = admin.post(f"/hubs/{hub}/schools/import", data="id:name:postcode\nS1:One:PR1 8JN\n",
                       content_type="text/csv")
    expect_error(reply, 422, "invalid_input", "The header row has only one column: separate the columns with "
                 "commas (or semicolons, tabs or vertical bars), e.g. id,name,lat.")


def test_postcodes_are_stored_in_one_written_form_and_bad_ones_named(admin, make_hub, expect_error):
    hub = make_hub()
    reply = post_file(admin, hub, DATA / "schools_bad_postcodes.csv")
    rule = "A UK postcode is an outward code, a space and an inward code, e.g. 'PR1 8JN' or 'BB12 0AB'."
    expect_error(reply, 422, "invalid_import", "2 problem(s) in the file; nothing was imported.", [
        {"record": "line 3 (S2)", "field": "postcode", "message": f"Not a UK postcode: 'BB12 !!!'. {rule}"},
        {"record": "line 4 (S3)", "field": "postcode", "message": f"Not a UK postcode: 'PR1'. {rule}"},
    ])
    good = b"id,name,postcode\nS1,Moor Park High,bb120ab\n"
    assert admin.post(f"/hubs/{hub}/schools/import", data=good, content_type="text/csv").status_code == 200
    assert admin.get(f"/hubs/{hub}/schools/S1").json["postcode"] == "BB12 0AB"
    for typed in ("bb12 0ab", "BB120AB", "BB12 0AB"):
        assert admin.get(f"/hubs/{hub}/schools", query_string={"postcode": typed}).json["total"] == 1, typed


def test_a_file_mixing_utf8_and_windows_1252_is_refused(admin, make_hub, expect_error):
    hub = make_hub()
    body = "id,name,postcode\nS1,Prés,PR1 8JN\n".encode() + "S2,Prés,PR1 8JN\n".encode("cp1252")
    reply = admin.post(f"/hubs/{hub}/schools/import", data=body, content_type="text/csv")
    error = expect_error(reply, 422, "invalid_input")
    assert error["message"].startswith("The file is neither UTF-8 nor Windows-1252 throughout (the byte at offset 39 ")
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0


def test_the_413_states_the_limit(admin, make_hub, expect_error):
    hub = make_hub()
    big = b"id,name,postcode\n" + b"S1,x,PR1 8JN\n" * (64 * 1024 * 1024 // 13 + 1)
    reply = admin.post(f"/hubs/{hub}/schools/import", data=big, content_type="text/csv")
    expect_error(reply, 413, "payload_too_large", "The request body is larger than this endpoint's limit of 64 MB "
                 "(67,108,864 bytes); split the file and send it in parts.")
    other = admin.post("/hubs", data=b"x" * (10 * 1024 * 1024 + 1), content_type="application/json")
    expect_error(other, 413, "payload_too_large", "The request body is larger than this endpoint's limit of 10 MB "
                 "(10,485,760 bytes); split the file and send it in parts.")
