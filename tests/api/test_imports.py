"""Bulk imports: JSON, CSV in the problem format (lists ``;``-separated, Compass marks as gatsby_1..8), multipart
uploads, and the DfE register (Windows-1252, closed establishments skipped). An import is all or nothing: one bad
row is a 422 naming the row, the field and the problem, and nothing is written."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

SCHOOL_COLUMNS = [
    "id",
    "name",
    "lat",
    "lon",
    "postcode",
    "kind",
    "pupils",
    "pct_fsm",
    "sectors",
    "needs",
    "current_advisers",
    "current_cornerstones",
    "load",
] + [f"gatsby_{i}" for i in range(1, 9)]
ADVISER_COLUMNS = [
    "id",
    "name",
    "company",
    "sectors",
    "skills",
    "lat",
    "lon",
    "max_travel_km",
    "capacity",
    "conflicts",
    "unavailable",
]
EMPLOYER_COLUMNS = ["id", "name", "sectors", "capacity", "max_travel_km", "lat", "lon"]
DFE_HEADER = [
    "URN",
    "LA (name)",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentStatus (name)",
    "Postcode",
    "NumberOfPupils",
    "PercentageFSM",
    "Town",
]


def to_csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Records in the service's CSV columns (what a Hub Lead's spreadsheet would hold)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        cells: dict[str, Any] = {}
        for key in columns:
            if key.startswith("gatsby_"):
                value = row.get("gatsby", {}).get(key.removeprefix("gatsby_"))
            elif key in ("lat", "lon") and "sites" in row:
                value = row["sites"][0][key]
            else:
                value = row.get(key)
            if isinstance(value, list):
                value = ";".join(value)
            if isinstance(value, bool):
                value = "true" if value else "false"
            cells[key] = "" if value is None else value
        writer.writerow(cells)
    return out.getvalue()


def listing(who, hub: str, collection: str) -> list[dict[str, Any]]:
    items = who.get(f"/hubs/{hub}/{collection}?per_page=500").json["items"]
    return [{k: v for k, v in item.items() if k != "hub_id"} for item in items]


def test_json_import_creates_then_updates(admin, make_hub, lancs_raw):
    hub = make_hub()
    for collection in ("schools", "advisers", "employers"):
        reply = admin.post(f"/hubs/{hub}/{collection}/import", json=lancs_raw[collection])
        assert reply.status_code == 200
        assert reply.json == {"created": len(lancs_raw[collection]), "updated": 0}
    assert [admin.get(f"/hubs/{hub}/{c}").json["total"] for c in ("schools", "advisers", "employers")] == [84, 90, 15]
    # an object with the collection's list works too, and existing ids are updated
    lancs_raw["schools"][0]["name"] = "Renamed School"
    reply = admin.post(f"/hubs/{hub}/schools/import", json={"schools": lancs_raw["schools"]})
    assert reply.json == {"created": 0, "updated": 84}
    first = lancs_raw["schools"][0]["id"]
    assert admin.get(f"/hubs/{hub}/schools/{first}").json["name"] == "Renamed School"
    reply = admin.post(f"/hubs/{hub}/employers/import", json={"records": lancs_raw["employers"][:2]})
    assert reply.json == {"created": 0, "updated": 2}


def test_csv_import_reads_the_same_records_as_json(admin, make_hub, lancs_raw):
    from_json, from_csv = make_hub(), make_hub()
    columns = {"schools": SCHOOL_COLUMNS, "advisers": ADVISER_COLUMNS}
    for collection, cols in columns.items():
        admin.post(f"/hubs/{from_json}/{collection}/import", json=lancs_raw[collection])
        text = to_csv(lancs_raw[collection], cols)
        reply = admin.post(f"/hubs/{from_csv}/{collection}/import", data=text.encode(), content_type="text/csv")
        assert reply.status_code == 200, reply.json
        assert reply.json == {"created": len(lancs_raw[collection]), "updated": 0}
        assert listing(admin, from_csv, collection) == listing(admin, from_json, collection)
    # list fields and Compass marks really came through (not just equally empty)
    school = next(s for s in lancs_raw["schools"] if s.get("current_cornerstones") and s.get("gatsby"))
    got = admin.get(f"/hubs/{from_csv}/schools/{school['id']}").json
    assert got["current_cornerstones"] == school["current_cornerstones"]
    assert got["gatsby"] == {k: float(v) for k, v in school["gatsby"].items()}
    assert got["sectors"] == school["sectors"]
    # employers: one site per CSV row, from its lat and lon
    one_site = [{**e, "sites": e["sites"][:1]} for e in lancs_raw["employers"]]
    admin.post(f"/hubs/{from_json}/employers/import", json=one_site)
    text = to_csv(lancs_raw["employers"], EMPLOYER_COLUMNS)
    assert admin.post(f"/hubs/{from_csv}/employers/import", data=text, content_type="text/csv").json == {
        "created": 15,
        "updated": 0,
    }
    assert listing(admin, from_csv, "employers") == listing(admin, from_json, "employers")


def test_csv_import_as_multipart_file_with_a_wave_tag(admin, make_hub):
    hub = make_hub()
    text = "id,name,postcode,sectors,gatsby_1,gatsby_8\nM1,Moor Park High,PR1 8JN,digital; health ,40,75.5\n"
    reply = admin.post(
        f"/hubs/{hub}/schools/import?wave=autumn",
        data={"file": (io.BytesIO(text.encode()), "schools.csv")},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 200, reply.json
    assert reply.json == {"created": 1, "updated": 0}
    got = admin.get(f"/hubs/{hub}/schools/M1").json
    assert (got["sectors"], got["gatsby"], got["wave"]) == (["digital", "health"], {"1": 40.0, "8": 75.5}, "autumn")


def dfe_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(DFE_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("cp1252")


DFE_ROWS = [
    [
        "100001",
        "Lancashire",
        "St Mary’s Catholic High School",
        "Voluntary aided school",
        "Open",
        "PR1 8JN",
        "912",
        "21.5",
        "Preston",
    ],
    ["100002", "Lancashire", "Prés Academy", "Academy converter", "Open", "BB1 1AA", "", "", "Blackburn"],
    ["100003", "Lancashire", "Old Closed School", "Community school", "Closed", "PR2 1SL", "10", "1", "Preston"],
    [
        "100004",
        "Lancashire",
        "Brookfield Special School",
        "Community special school",
        "Open",
        "LA1 1AA",
        "120",
        "45.0",
        "Lancaster",
    ],
    [
        "100005",
        "Lancashire",
        "Preston Pupil Referral Unit",
        "Pupil referral unit",
        "Open, but proposed to close",
        "PR2 1SL",
        "30",
        "",
        "Preston",
    ],
    [
        "100006",
        "Lancashire",
        "Cardinal Newman College",
        "Sixth form centres",
        "Open",
        "PR1 8JN",
        "2000",
        "12",
        "Preston",
    ],
]


FLAG = "Open, but proposed to close: imported, check before pairing it"


def test_dfe_register_import_windows_1252(admin, make_hub):
    hub = make_hub()
    data = dfe_file(DFE_ROWS)
    assert "’".encode("cp1252") in data and b"\xe9" in data  # really Windows-1252, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    reply = admin.post(f"/hubs/{hub}/schools/import?format=dfe", data=data, content_type="text/csv")
    assert reply.status_code == 200, reply.json
    assert reply.json == {  # six rows, one closed; each row left out or flagged is named by its line and URN
        "created": 5,
        "updated": 0,
        "skipped": [{"place": "line 4", "urn": "100003", "reason": "closed"}],
        "flagged": [{"place": "line 6", "urn": "100005", "reason": FLAG}],
    }
    schools = {s["id"]: s for s in admin.get(f"/hubs/{hub}/schools").json["items"]}
    assert sorted(schools) == ["URN100001", "URN100002", "URN100004", "URN100005", "URN100006"]
    assert schools["URN100001"]["name"] == "St Mary’s Catholic High School"
    assert schools["URN100002"]["name"] == "Prés Academy"
    assert {k: v["kind"] for k, v in schools.items()} == {
        "URN100001": "mainstream",
        "URN100002": "mainstream",
        "URN100004": "send",
        "URN100005": "ap",
        "URN100006": "college",
    }
    assert (schools["URN100001"]["pupils"], schools["URN100001"]["pct_fsm"]) == (912, 21.5)
    assert (schools["URN100002"]["pupils"], schools["URN100002"]["pct_fsm"]) == (None, None)
    assert schools["URN100004"]["postcode"] == "LA1 1AA"
    # a UTF-8 register (with its BOM, as Excel writes it) reads the same
    other = make_hub()
    utf8 = b"\xef\xbb\xbf" + data.decode("cp1252").encode("utf-8")
    assert admin.post(f"/hubs/{other}/schools/import?format=dfe", data=utf8, content_type="text/csv").json == reply.json
    assert admin.get(f"/hubs/{other}/schools/URN100001").json["name"] == "St Mary’s Catholic High School"


def test_dfe_format_is_for_schools_only(admin, make_hub, expect_error):
    hub = make_hub()
    reply = admin.post(f"/hubs/{hub}/advisers/import?format=dfe", data=dfe_file(DFE_ROWS), content_type="text/csv")
    expect_error(reply, 422, "invalid_input", "The DfE register format is for schools only.")
    error = expect_error(admin.post(f"/hubs/{hub}/schools/import?format=xml", json=[]), 422, "invalid_input")
    assert error["details"] == {"query": {"format": ["Must be one of: hubmatch, dfe."]}}


def school_rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"URN2000{i}", "name": f"New School {i}", "postcode": "PR1 8JN", "pupils": 500} for i in range(n)]


def test_one_bad_json_row_is_422_naming_it_and_nothing_is_written(admin, make_hub, lancs, expect_error):
    hub = make_hub("lancashire")
    rows = school_rows(6)
    rows[3]["pupils"] = "many"
    existing = lancs.schools[0]
    rows.insert(0, {"id": existing.id, "name": "Changed By A Failed Import", "lat": 53.7, "lon": -2.7})
    rows[4], rows[3] = rows[3], rows[4]  # the bad row is schools[3] of the file
    assert rows[3]["pupils"] == "many"
    reply = admin.post(f"/hubs/{hub}/schools/import", json=rows)
    expect_error(
        reply,
        422,
        "invalid_import",
        "1 problem(s) in the file; nothing was imported.",
        [{"record": f"schools[3] ({rows[3]['id']})", "field": "pupils", "message": "Not a valid integer."}],
    )
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 84
    assert admin.get(f"/hubs/{hub}/schools?q=New School").json["total"] == 0
    assert admin.get(f"/hubs/{hub}/schools/{existing.id}").json["name"] == existing.name


def test_bad_csv_rows_are_all_named_and_nothing_is_written(admin, make_hub, expect_error):
    hub = make_hub("tiny")
    rows = school_rows(6)
    rows[3]["pct_fsm"] = "140"
    rows[5]["id"] = rows[1]["id"]
    rows[2]["postcode"] = ""
    text = to_csv(rows, ["id", "name", "postcode", "pupils", "pct_fsm"])
    reply = admin.post(f"/hubs/{hub}/schools/import", data=text, content_type="text/csv")
    expect_error(
        reply,
        422,
        "invalid_import",
        "3 problem(s) in the file; nothing was imported.",
        [
            {
                "record": "line 4 (URN20002)",
                "field": "lat",
                "message": "Missing coordinates: give lat and lon, or a postcode.",
            },
            {
                "record": "line 5 (URN20003)",
                "field": "pct_fsm",
                "message": "Must be greater than or equal to 0 and less than or equal to 100.",
            },
            {"record": "line 7 (URN20001)", "field": "id", "message": "Duplicate id; first at line 3."},
        ],
    )
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 3


def test_bad_dfe_row_is_named_and_nothing_is_written(admin, make_hub, expect_error):
    hub = make_hub()
    rows = [list(r) for r in DFE_ROWS]
    rows[1][5] = "ZZ99 9ZZ"
    reply = admin.post(f"/hubs/{hub}/schools/import?format=dfe", data=dfe_file(rows), content_type="text/csv")
    expect_error(
        reply,
        422,
        "invalid_import",
        "1 problem(s) in the file; nothing was imported.",
        [
            {
                "record": "line 3 (URN100002)",
                "field": "postcode",
                "message": "Unknown postcode district for 'ZZ99 9ZZ'; give lat and lon.",
            }
        ],
    )
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0


@pytest.mark.parametrize(
    ("body", "mimetype", "message"),
    [
        ("[]", "application/json", "The file has no records."),
        ('{"wrong": []}', "application/json", "Send a JSON list of schools, or an object with a 'schools' list."),
        ("id,name\n", "text/csv", "The file has no records."),
        ("", "text/csv", "The file has no header row."),
        (
            "id,name\nS1,One\nS2,Two,extra\n",
            "text/csv",
            "Line 3 of the CSV has more cells than the header (3 against 2).",
        ),
    ],
)
def test_unreadable_uploads_are_422(admin, make_hub, expect_error, body, mimetype, message):
    hub = make_hub("tiny")
    reply = admin.post(f"/hubs/{hub}/schools/import", data=body, content_type=mimetype)
    expect_error(reply, 422, "invalid_input", message)
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 3
