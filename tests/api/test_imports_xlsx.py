"""Excel workbooks in: the sheet named after the collection (else the first), the same all-or-nothing validation as
CSV, and every error named by the cell as Excel shows it (``Schools!D5``)."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook

DATA = Path(__file__).resolve().parent.parent / "data"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RULE = "A UK postcode is an outward code, a space and an inward code, e.g. 'PR1 8JN' or 'BB12 0AB'."


def upload(who, hub: str, collection: str, data: bytes, *, multipart: bool = True):
    if multipart:
        return who.post(f"/hubs/{hub}/{collection}/import", data={"file": (io.BytesIO(data), "hub.xlsx")},
                        content_type="multipart/form-data")
    return who.post(f"/hubs/{hub}/{collection}/import", data=data, content_type=XLSX)


def listing(who, hub: str, collection: str) -> list[dict]:
    items = who.get(f"/hubs/{hub}/{collection}?per_page=500").json["items"]
    return [{k: v for k, v in item.items() if k != "hub_id"} for item in items]


def test_a_workbook_imports_each_collection_from_its_own_sheet(admin, make_hub):
    data = (DATA / "hub_good.xlsx").read_bytes()
    from_xlsx, from_json = make_hub(), make_hub()
    for collection, multipart in (("schools", True), ("advisers", False), ("employers", True)):
        reply = upload(admin, from_xlsx, collection, data, multipart=multipart)
        assert reply.status_code == 200, reply.json
    json_records = {
        "schools": [
            {"id": "S1", "name": "Moor Park High", "postcode": "PR1 8JN", "pupils": 900, "pct_fsm": 21.5,
             "sectors": ["digital", "health"], "gatsby": {"1": 40}},
            {"id": "S2", "name": "Fulwood Academy", "postcode": "PR2 3TS", "pupils": 1000},
        ],
        "advisers": [{"id": "A1", "name": "Ann", "company": "C1", "postcode": "PR1 8JN", "capacity": 2,
                      "skills": ["send"]}],
        "employers": [{"id": "E1", "name": "BAE Systems", "sectors": ["advanced manufacturing"], "capacity": 3,
                       "sites": [{"lat": 53.76, "lon": -2.70}]}],
    }
    for collection, records in json_records.items():
        assert admin.post(f"/hubs/{from_json}/{collection}/import", json=records).status_code == 200
        assert listing(admin, from_xlsx, collection) == listing(admin, from_json, collection), collection
    assert len(listing(admin, from_xlsx, "schools")) == 2  # the two blank rows are skipped


def test_workbook_errors_name_the_cell_and_nothing_is_written(admin, make_hub, expect_error):
    data = (DATA / "hub_bad.xlsx").read_bytes()
    hub = make_hub()
    error = expect_error(upload(admin, hub, "schools", data), 422, "invalid_import",
                         "3 problem(s) in the file; nothing was imported.")
    assert sorted(error["details"], key=lambda d: d["record"]) == [
        {"record": "Schools!C6 (S4)", "field": "postcode", "message": f"Not a UK postcode: 'BB12 !!!'. {RULE}"},
        {"record": "Schools!D5 (S3)", "field": "pupils", "message": "Not a valid integer."},
        {"record": "Schools!E6 (S4)", "field": "pct_fsm",
         "message": "Must be greater than or equal to 0 and less than or equal to 100."},
    ]
    error = expect_error(upload(admin, hub, "advisers", data, multipart=False), 422, "invalid_import")
    assert error["details"] == [{"record": "Advisers!E3 (A2)", "field": "capacity",
                                 "message": "Must be greater than or equal to 0 and less than or equal to 10."}]
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0
    assert admin.get(f"/hubs/{hub}/advisers").json["total"] == 0


def book_bytes(rows: list[list], title: str = "Sheet1") -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_value_without_a_header_and_a_duplicate_id_are_named_by_cell(admin, make_hub, expect_error):
    hub = make_hub()
    data = book_bytes([["id", "name", "postcode"], ["S1", "One", "PR1 8JN"], ["S2", "Two", "PR1 8JN", "stray"]])
    expect_error(upload(admin, hub, "schools", data), 422, "invalid_input",
                 "Cell Sheet1!D3 holds a value in a column without a header.")
    data = book_bytes([["id", "name", "postcode"], ["S1", "One", "PR1 8JN"], ["S1", "Again", "PR1 8JN"]], "Schools")
    expect_error(upload(admin, hub, "schools", data), 422, "invalid_import", details=[
        {"record": "Schools!A3 (S1)", "field": "id", "message": "Duplicate id; first at Schools!2:2."}
    ])


def test_a_damaged_workbook_is_422_not_500(admin, make_hub, expect_error):
    hub = make_hub()
    data = (DATA / "hub_good.xlsx").read_bytes()[:2000]
    error = expect_error(upload(admin, hub, "schools", data), 422, "invalid_input")
    assert error["message"].startswith("The file is not a readable Excel workbook (.xlsx): ")
    expect_error(upload(admin, hub, "schools", book_bytes([])), 422, "invalid_input",
                 "Sheet 'Sheet1' has no header row (row 1).")
