"""An import's rows reach the same records whichever way they go: read as numbers and true/false where their text
spells one (``models.intake.typed``) and loaded by the fast path, or as the text itself through marshmallow, the
schemas' own reading of every cell. Each cell below is tried both ways and must give the same record or the same
fault, word for word."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError, fields

import fixtures
from models import intake
from models.dfe import FIELD_COLUMNS, Notes
from models.intake import FileFaults, problem_rows, register_rows, validated
from models.repository import FIELDS, columns
from models.sources import Sheet, SourceRow, read_csv

DATA = Path(__file__).resolve().parent / "data"
INTEGERS = {collection: {name for name, field in schema().fields.items() if isinstance(field, fields.Integer)}
            for collection, schema in intake.SCHEMAS.items()}
ROWS: dict[str, dict[str, str]] = {
    "schools": {"id": "S1", "name": "Ash", "lat": "53.75", "lon": "-2.7", "pupils": "900", "pct_fsm": "12.5"},
    "advisers": {"id": "A1", "company": "C1", "lat": "53.75", "lon": "-2.7", "capacity": "2", "unavailable": "no"},
    "employers": {"id": "E1", "name": "Works", "lat": "53.75", "lon": "-2.7", "capacity": "1.5"},
}
CELLS = [
    ("schools", "lat", ["53.5", "5.35e1", "1_0", "nan", "inf", "-inf", "1e999", "53,5", "north", "९०", "91"]),
    ("schools", "pct_fsm", ["0", "100", "100.5", "-1", "12.", ".5", "half"]),
    ("schools", "pupils", ["0", "900.5", "9e2", "-3", "2" * 30, "many"]),
    ("advisers", "unavailable", ["true", "True", "TRUE", "yes", "Y", "on", "1", "0", "off", "N", "maybe", "tRuE"]),
    ("advisers", "capacity", ["1", "2.0", "0", "-1", "x"]),
    ("advisers", "max_travel_km", ["25", "2.5e1", "0", "-5", "far"]),
    ("employers", "capacity", ["1.5", "3", "0", "lots"]),
    ("employers", "lat", ["53.1", "-91", "x"]),
]


def through_the_import(collection: str, cells: dict[str, str]) -> list[Any] | list[str]:
    """The records of one row, or its faults' messages."""
    row = SourceRow(Sheet(None, tuple(cells)), 2, cells)
    try:
        return [r for chunk in validated(collection, problem_rows(collection, [row])) for r in chunk]
    except FileFaults as err:
        return sorted(f"{f.field}: {f.message}" for f in err.faults)


def through_marshmallow(collection: str, cells: dict[str, str]) -> list[Any] | list[str]:
    """The oracle: the row as text (only a whole number's text read as an integer, as the strict integer fields
    need, and an employer's lat/lon as its site) loaded by the schema."""
    raw: dict[str, Any] = {k: int(v) if k in INTEGERS[collection] and v.lstrip("-").isdigit() else v
                           for k, v in cells.items()}
    if collection == "employers":
        raw["sites"] = [{"lat": raw.pop("lat"), "lon": raw.pop("lon")}]
    try:
        return [intake.SCHEMAS[collection]().load(raw)]
    except ValidationError as err:
        assert isinstance(err.messages, dict)
        return sorted(f"{field}: {intake._text(message)}" for field, message in err.messages.items())


@pytest.mark.parametrize(("collection", "field", "text"),
                         [(c, f, t) for c, f, texts in CELLS for t in texts])
def test_a_cell_gives_what_marshmallow_makes_of_its_text(collection: str, field: str, text: str) -> None:
    cells = {**ROWS[collection], field: text}
    assert through_the_import(collection, cells) == through_marshmallow(collection, cells)


def register_records(path: Path) -> list[Any]:
    with path.open("rb") as stream:
        rows = register_rows(read_csv(stream), Notes.empty())
        return [r for chunk in validated("schools", rows, columns=FIELD_COLUMNS) for r in chunk]


def hub_csv(tmp_path: Path, collection: str) -> Path:
    """A fixture hub's records of one collection written as an upload's CSV (lists ``;``-joined)."""
    problem = fixtures.lancashire_problem()
    names = [n for n in FIELDS[collection] if n not in ("sites", "gatsby")]
    names += ["lat", "lon"] if collection == "employers" else []
    path = tmp_path / f"{collection}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.DictWriter(handle, names + (["gatsby_1", "gatsby_5"] if collection == "schools" else []))
        out.writeheader()
        for record in problem[collection]:
            row = {k: ";".join(v) if isinstance(v, list) else v for k, v in record.items() if k in names}
            if collection == "employers":
                row.update(lat=record["sites"][0]["lat"], lon=record["sites"][0]["lon"])
            if collection == "schools":
                row.update({f"gatsby_{b}": record.get("gatsby", {}).get(str(b), "") for b in (1, 5)})
            out.writerow(row)
    return path


def upload_records(path: Path, collection: str) -> list[Any]:
    with path.open("rb") as stream:
        rows = problem_rows(collection, read_csv(stream, expected=FIELDS[collection]))
        return [r for chunk in validated(collection, rows) for r in chunk]


def old_typed(row: dict[str, Any], collection: str) -> dict[str, Any]:
    """How rows were read before the fast path took them: only integer fields' whole numbers."""
    for name in INTEGERS[collection] & row.keys():
        if isinstance(row[name], str) and row[name].lstrip("-").isdigit():
            row[name] = int(row[name])
    return row


def spy_on_the_fast_path(monkeypatch: pytest.MonkeyPatch, module: Any = intake) -> list[bool]:
    """Whether the fast path took each chunk, as the import runs."""
    taken: list[bool] = []
    fast = module.fast_records

    def spy(collection: str, raws: list) -> list | None:
        records = fast(collection, raws)
        taken.append(records is not None)
        return records

    monkeypatch.setattr(module, "fast_records", spy)
    return taken


@pytest.mark.parametrize("collection", ["schools", "advisers", "employers"])
def test_a_hubs_upload_loads_by_the_fast_path_to_marshmallows_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collection: str
) -> None:
    path = hub_csv(tmp_path, collection)
    taken = spy_on_the_fast_path(monkeypatch)
    got = upload_records(path, collection)
    assert taken and all(taken) and len(got) == len(fixtures.lancashire_problem()[collection])
    monkeypatch.setattr(intake, "fast_records", lambda c, raws: None)
    monkeypatch.setattr(intake, "typed", old_typed)
    assert got == upload_records(path, collection)


def test_the_registers_rows_load_by_the_fast_path_to_marshmallows_records(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = spy_on_the_fast_path(monkeypatch)
    got = register_records(DATA / "gias_sample_lancashire_cumbria.csv")
    assert taken and all(taken) and len(got) == 110
    monkeypatch.setattr(intake, "fast_records", lambda c, raws: None)
    monkeypatch.setattr(intake, "typed", old_typed)
    assert got == register_records(DATA / "gias_sample_lancashire_cumbria.csv")


def test_a_records_columns_are_its_fields_as_the_standard_librarys_asdict_gives_them() -> None:
    import dataclasses

    from models import load_problem

    problem = load_problem(fixtures.lancashire_problem())
    records = [*problem.schools, *problem.advisers, *problem.employers]
    assert problem.employers and any(s.gatsby for s in problem.schools)
    for record in records:
        want = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(record).items()}
        assert columns(record) == want


def test_a_fast_chunk_with_an_id_twice_is_named_by_its_lines() -> None:
    text = "id,name,lat,lon\r\nS1,Ash,53.7,-2.7\r\nS2,Birch,53.7,-2.7\r\nS1,Cedar,53.7,-2.7\r\n"
    with pytest.raises(FileFaults) as err:
        list(validated("schools", problem_rows("schools", read_csv(io.BytesIO(text.encode())))))
    assert [(f.record, f.field, f.message) for f in err.value.faults] == [
        ("line 4 (S1)", "id", "Duplicate id; first at line 2.")]


@pytest.mark.parametrize("collection", ["schools", "advisers", "employers"])
def test_a_json_upload_takes_the_fast_path_to_marshmallows_records(
    monkeypatch: pytest.MonkeyPatch, collection: str
) -> None:
    from api import imports

    rows = fixtures.lancashire_problem()[collection]
    taken = spy_on_the_fast_path(monkeypatch, imports)
    got = imports.validate_rows(collection, intake.SCHEMAS[collection], rows)
    assert taken == [True] and got == [intake.SCHEMAS[collection]().load(row) for row in rows]


def test_a_json_upload_with_an_id_twice_still_names_both_rows() -> None:
    from api import imports
    from api.errors import ApiError

    rows = fixtures.lancashire_problem()["schools"][:3]
    rows = [*rows, {**rows[0], "name": "Again"}]
    with pytest.raises(ApiError) as err:
        imports.validate_rows("schools", intake.SCHEMAS["schools"], rows)
    assert [d["message"] for d in err.value.details] == ["Duplicate id; first in row 0."]
