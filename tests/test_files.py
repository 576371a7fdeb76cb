"""The pure pieces under the imports and exports: the register's kinds, CSV rows and their lines, postcodes, grid
conversion against a published point, and the cells no spreadsheet runs."""

from __future__ import annotations

import csv
import io

import pytest

from models.cells import csv_lines, runs_as_formula, safe_text
from models.dfe import Notes, schools
from models.grid import to_wgs84
from models.postcodes import normalise
from models.sources import UnreadableFile, read_csv

KINDS = frozenset({"mainstream", "send", "ap", "college"})


def register(*rows: dict[str, str]) -> tuple[list[dict], Notes]:
    header = ["URN", "EstablishmentName", "PhaseOfEducation (name)", "TypeOfEstablishment (name)",
              "EstablishmentStatus (name)", "Postcode"]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    notes = Notes.empty()
    found = [record for _, record in schools(read_csv(io.BytesIO(out.getvalue().encode("cp1252"))), notes,
                                             kinds=KINDS)]
    return found, notes


@pytest.mark.parametrize(("phase", "kind", "expected"), [
    ("Secondary", "Academy converter", "mainstream"),
    ("All-through", "Free schools", "mainstream"),
    ("Middle deemed secondary", "Community school", "mainstream"),
    ("16 plus", "Free schools", "college"),
    ("16 plus", "Further education", "college"),
    ("Not applicable", "Sixth form centres", "college"),
    ("Not applicable", "Community special school", "send"),
    ("Secondary", "Academy special sponsor led", "send"),
    ("Not applicable", "Pupil referral unit", "ap"),
    ("Not applicable", "Academy alternative provision converter", "ap"),
    ("Not applicable", "Other independent school", "mainstream"),
])
def test_register_kinds(phase: str, kind: str, expected: str) -> None:
    found, notes = register({"URN": "1", "EstablishmentName": "X", "PhaseOfEducation (name)": phase,
                             "TypeOfEstablishment (name)": kind, "EstablishmentStatus (name)": "Open",
                             "Postcode": "PR1 8JN"})
    assert [r["kind"] for r in found] == [expected] and notes == Notes.empty()


@pytest.mark.parametrize("phase", ["Primary", "Middle deemed primary", "Nursery"])
def test_primaries_are_refused_by_default_and_the_reason_names_the_phase(phase: str) -> None:
    found, notes = register({"URN": "7", "EstablishmentName": "Infants", "PhaseOfEducation (name)": phase,
                             "EstablishmentStatus (name)": "Open"})
    assert found == [] and [n.urn for n in notes.skipped] == ["7"]
    assert notes.skipped[0].reason.startswith(f"a primary school (phase {phase!r})")
    assert notes.skipped[0].place == "line 2"


def test_a_row_spanning_lines_is_named_by_the_line_it_starts_on() -> None:
    text = 'id,name\r\nS1,"Two\r\nLines"\r\n\r\n,\r\nS2,"Three\nline\nname"\r\nS3,x\r\n'
    rows = list(read_csv(io.BytesIO(text.encode())))
    assert [(r.line, r.cells["id"]) for r in rows] == [(2, "S1"), (6, "S2"), (9, "S3")]
    assert rows[1].cells["name"] == "Three\nline\nname"


def test_cp1252_after_a_long_ascii_start_and_bytes_neither_encoding_has() -> None:
    body = b"id,name\r\n" + b"S0,plain\r\n" * 20_000 + "S1,Pr\u00e9s\r\n".encode("cp1252")  # past the first read
    rows = list(read_csv(io.BytesIO(body)))
    assert rows[-1].cells == {"id": "S1", "name": "Pr\u00e9s"} and rows[-1].line == 20_002
    with pytest.raises(UnreadableFile, match=r"^The byte at offset 10 \(0x81\) is not a character in UTF-8 or "):
        list(read_csv(io.BytesIO(b"id,name\r\nS\x81,x\r\n")))


@pytest.mark.parametrize(("typed", "written"), [
    ("bb120ab", "BB12 0AB"), (" BB12  0AB ", "BB12 0AB"), ("pr1 8jn", "PR1 8JN"), ("EC1A1BB", "EC1A 1BB"),
    ("W1A 0AX", "W1A 0AX"), ("M1 1AE", "M1 1AE"), ("BB12 !!!", None), ("PR1", None), ("PR1 8J", None),
    ("12345", None), ("", None),
])
def test_postcodes(typed: str, written: str | None) -> None:
    assert normalise(typed) == written


def test_grid_conversion_against_the_ordnance_surveys_published_point() -> None:
    # OS's worked example (A guide to coordinate systems in Great Britain, annex C): 651409.903 E, 313177.270 N
    # is 52° 39' 27.2531" N, 1° 43' 4.5177" E on OSGB36; on WGS84 (ETRS89) about 52.65798 N, 1.71605 E.
    lat, lon = to_wgs84([651409.903], [313177.270])
    assert lat[0] == pytest.approx(52.65798, abs=2e-4) and lon[0] == pytest.approx(1.71605, abs=2e-4)


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1+1", "\n1", "  =1", "\uff1d1",
                                  "\uff0b1", "\uff0d1", "\uff20x", "\ufe661"])
def test_every_cell_a_spreadsheet_would_run_is_neutralised(text: str) -> None:
    assert runs_as_formula(text) and safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["Moor Park High", "St Mary's", "1+1", "a=b", "", "Two\nLines"])
def test_plain_text_is_left_alone(text: str) -> None:
    assert not runs_as_formula(text) and safe_text(text) == text


def test_csv_lines_quote_every_line_break_and_end_records_in_crlf() -> None:
    body = "".join(csv_lines(["a", "b"], [{"a": "x\ry", "b": ["p", "q"]}, {"a": "x\ny", "b": 3}]))
    assert body == 'a,b\r\n"x\ry",p;q\r\n"x\ny",3\r\n'
