"""Spreadsheets out: CSV cells no spreadsheet runs and no line break splits, and Excel workbooks of a round and of
a hub's pairings, read back with openpyxl and checked against the JSON the API serves."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models import tables as t

# Names a spreadsheet would run or split, as stored by an older release or written to the database directly (the
# record schemas refuse control characters today).
NASTY = {
    "N1": "\r=1+1",
    "N2": "\t=1+1",
    "N3": "\uff1d1+1",  # full-width equals sign
    "N4": "\uff0bSUM(A1)",  # full-width plus
    "N5": "\uff20cmd",  # full-width commercial at
    "N6": "  =2*3",
    "N7": "Two\nLines",
    "N8": "-1",
    "N9": "=1+1",
}


def rename(db, hub: str, names: dict[str, str]) -> None:
    with db() as session:
        for school in session.scalars(select(t.School).where(t.School.hub_id == hub, t.School.id.in_(names))):
            school.name = names[school.id]


@pytest.fixture
def nasty_round(admin, make_hub, solve_now, db):
    hub = make_hub("tiny")
    for school_id in NASTY:
        school = {"id": school_id, "name": "x", "postcode": "PR1 8JN"}
        assert admin.post(f"/hubs/{hub}/schools", json=school).status_code == 201
    round_id = admin.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    rename(db, hub, NASTY)  # after the solve, which refuses such names
    return hub, round_id


def test_csv_exports_neutralise_every_executable_cell_and_quote_line_breaks(admin, nasty_round):
    hub, round_id = nasty_round
    for url in (f"/rounds/{round_id}/export?format=csv", f"/hubs/{hub}/pairings?format=csv"):
        reply = admin.get(url)
        assert reply.status_code == 200 and reply.mimetype == "text/csv"
        body = reply.get_data(as_text=True)
        rows = list(csv.reader(io.StringIO(body, newline="")))
        assert len(rows) == 1 + 3 + len(NASTY)  # the header, the tiny hub's three schools and ours: no row split
        names = {r[0]: r[1] for r in rows[1:]}
        for school_id, name in NASTY.items():
            assert names[school_id] == (name if school_id == "N7" else "'" + name), school_id
        assert '"\'\r=1+1"' in body and '"Two\nLines"' in body  # line breaks only inside quotes
        outside = body.replace('"\'\r=1+1"', "").replace('"Two\nLines"', "")
        assert "\r" not in outside.replace("\r\n", "") and "\n" not in outside.replace("\r\n", "")
        assert body.endswith("\r\n") and body.count("\r\n") == len(rows)  # one CRLF per record


def sheet_rows(book, title: str) -> tuple[list[str], list[dict]]:
    rows = list(book[title].iter_rows(values_only=True))
    header = list(rows[0])
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]]


def test_round_workbook_round_trips_against_the_api(lancashire_round, list_all, lancs):
    reader, round_id = lancashire_round.reader, lancashire_round.round_id
    reply = reader.get(f"/rounds/{round_id}/export?format=xlsx")
    assert reply.status_code == 200
    assert reply.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert reply.headers["Content-Disposition"] == f"attachment; filename=round-{round_id}.xlsx"
    book = load_workbook(io.BytesIO(reply.get_data()))
    assert book.sheetnames == ["Pairings", "Unmatched", "Idle volunteers"]
    assert sheet_rows(book, "Idle volunteers")[1] == []  # the idle list is the Hub Lead's, not a reader's
    names = {s.id: s.name for s in lancs.schools}
    roles = {"adviser": "Enterprise Adviser", "cornerstone": "Cornerstone Employer"}
    proposals = [p for p in list_all(reader, f"/rounds/{round_id}/proposals") if p["state"] != "rejected"]
    header, rows = sheet_rows(book, "Pairings")
    assert header == ["School URN / id", "School", "Role", "Partner id", "Partner", "Decision", "Distance (km)",
                      "Score"]
    expected = sorted(
        (p["school_id"], names[p["school_id"]], roles[p["role"]], p["partner_id"], p["state"],
         p["distance_band"] if p["distance_km"] is None else round(p["distance_km"], 2), round(p["cost"], 4))
        for p in proposals
    )
    got = sorted((r["School URN / id"], r["School"], r["Role"], r["Partner id"], r["Decision"], r["Distance (km)"],
                  r["Score"]) for r in rows)
    assert got == expected and len(got) > 80
    assert all(isinstance(r["Distance (km)"], str) for r in rows if r["Role"] == "Enterprise Adviser")  # bands
    unmatched = reader.get(f"/rounds/{round_id}/unmatched").json
    header, rows = sheet_rows(book, "Unmatched")
    assert header == ["School URN / id", "School", "Place for", "Reason", "What would fill it"]
    assert sorted((r["School URN / id"], r["Place for"], r["Reason"], r["What would fill it"]) for r in rows) == sorted(
        (u["school_id"], roles[u["role"]], u["reason"], u["detail"]) for u in unmatched
    )
    for sheet in book.worksheets:  # printable: frozen bold header repeated on each page, set widths, landscape
        assert sheet.freeze_panes == "A2" and sheet.print_title_rows == "$1:$1"
        assert all(c.font.b for c in sheet[1]) and sheet.page_setup.orientation == "landscape"
        assert sheet.column_dimensions["B"].width == (12 if sheet.title == "Idle volunteers" else 40)


def test_the_hub_leads_round_workbook_lists_the_idle_volunteers(lancashire_round, admin):
    """The sheet holds exactly the idle list the Hub Lead reads from the API, and advisers' distances only as bands
    in the words (the km column is for admins)."""
    lead, round_id = lancashire_round.lead, lancashire_round.round_id
    idle = lead.get(f"/rounds/{round_id}/idle").json
    assert idle, "the Lancashire round leaves some volunteers idle"
    roles = {"adviser": "Enterprise Adviser", "cornerstone": "Cornerstone Employer"}
    for caller, exact in ((lead, False), (admin, True)):
        book = load_workbook(io.BytesIO(caller.get(f"/rounds/{round_id}/export?format=xlsx").get_data()))
        header, rows = sheet_rows(book, "Idle volunteers")
        assert header == ["Role", "Partner id", "Partner", "Reason", "Why", "Nearest school (km)"]
        seen = caller.get(f"/rounds/{round_id}/idle").json
        assert sorted((r["Role"], r["Partner id"], r["Reason"], r["Why"]) for r in rows) == sorted(
            (roles[i["role"]], i["partner_id"], i["reason"], i["detail"]) for i in seen)
        adviser_km = [r["Nearest school (km)"] for r in rows if r["Role"] == "Enterprise Adviser"]
        assert all((km is not None) == (exact and i is not None) for km, i in zip(
            adviser_km, [i["distance_km"] for i in sorted(seen, key=lambda i: (i["role"], i["partner_id"]))
                         if i["role"] == "adviser"], strict=True))


def test_an_admins_round_workbook_has_exact_distances(lancashire_round, admin, list_all):
    round_id = lancashire_round.round_id
    book = load_workbook(io.BytesIO(admin.get(f"/rounds/{round_id}/export?format=xlsx").get_data()))
    _, rows = sheet_rows(book, "Pairings")
    km = {(p["school_id"], p["partner_id"]): round(p["distance_km"], 2)
          for p in list_all(admin, f"/rounds/{round_id}/proposals") if p["state"] != "rejected"}
    assert {(r["School URN / id"], r["Partner id"]): r["Distance (km)"] for r in rows} == km


def test_hub_pairings_workbook_after_publish_and_text_stays_text(admin, caller, nasty_round, list_all):
    hub, round_id = nasty_round
    proposals = list_all(admin, f"/rounds/{round_id}/proposals")
    body = {"decisions": [{"proposal": p["id"], "action": "approve"} for p in proposals]}
    assert admin.post(f"/rounds/{round_id}/decisions/batch", json=body).status_code == 200
    assert admin.post(f"/rounds/{round_id}/publish").status_code == 200
    json_rows = admin.get(f"/hubs/{hub}/pairings").json
    reply = admin.get(f"/hubs/{hub}/pairings?format=xlsx")
    book = load_workbook(io.BytesIO(reply.get_data()))
    assert book.sheetnames == ["Pairings", "Without a partner"]
    _, rows = sheet_rows(book, "Pairings")
    expected = sorted(
        (r["school_id"], role, partner, km)
        for r in json_rows
        for role, key in (("Enterprise Adviser", "adviser"), ("Cornerstone Employer", "cornerstone"))
        for partner, km in zip(r[f"{key}s"], r[f"{key}_km"], strict=True)
    )
    assert sorted((r["School URN / id"], r["Role"], r["Partner id"], r["Distance (km)"]) for r in rows) == expected
    assert expected
    _, gaps = sheet_rows(book, "Without a partner")
    assert sorted((g["School URN / id"], g["Place for"]) for g in gaps) == sorted(
        (r["school_id"], role)
        for r in json_rows
        for role, key in (("Enterprise Adviser", "advisers"), ("Cornerstone Employer", "cornerstones"))
        if not r[key]
    )
    # a non-admin's workbook shows advisers' distances as the bands the API shows it, never exact figures
    reader = caller("read_only", hub)
    shown = {(r["school_id"], a): km for r in reader.get(f"/hubs/{hub}/pairings").json
             for a, km in zip(r["advisers"], r["adviser_km"], strict=True)}
    _, theirs = sheet_rows(load_workbook(io.BytesIO(reader.get(f"/hubs/{hub}/pairings?format=xlsx").get_data())),
                           "Pairings")
    bands = {(r["School URN / id"], r["Partner id"]): r["Distance (km)"] for r in theirs
             if r["Role"] == "Enterprise Adviser"}
    assert bands == shown and bands and all(isinstance(b, str) and "km" in b for b in bands.values())
    # a workbook's text cells are text, never a formula, shown as typed (a line break as Excel's own, LF)
    cells = {c.value: c.data_type for s in book.worksheets for row in s.iter_rows(min_row=2) for c in row[1:2]}
    shown = {name.replace("\r", "\n") for name in NASTY.values()}
    assert shown <= set(cells) and {cells[name] for name in shown} == {"s"}
