"""``hubmatch import`` and ``hubmatch export`` file to file: the register or a workbook to a problem JSON, and a
solution to a workbook, checked against the documents themselves."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from openpyxl import load_workbook

import fixtures
from hubmatch.cli import main
from matcher import solve
from models import dump_solution, load_problem

DATA = Path(__file__).resolve().parent / "data"
TRUTH = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "schools_secondary_nw_staffs.csv"


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def test_import_the_dfe_register_to_a_problem_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "problem.json"
    code = main(["import", str(DATA / "gias_sample_lancashire_cumbria.csv"), "--dfe", "-o", str(out),
                 "--hub-id", "lancs", "--hub-name", "Lancashire and Cumbria"])
    assert code == 0
    captured = capsys.readouterr()
    assert "imported 110 schools" in captured.out
    assert "skipped: line 15 (URN 112400): closed on 31-08-2021" in captured.err.splitlines()
    assert sum(line.startswith("skipped: ") for line in captured.err.splitlines()) == 13
    problem = load_problem(json.loads(out.read_text(encoding="utf-8")))
    assert problem.hub.id == "lancs" and len(problem.schools) == 110
    with TRUTH.open(encoding="utf-8") as handle:
        truth = {f"URN{r['urn']}": (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(handle)}
    assert max(metres(s.lat, s.lon, *truth[s.id]) for s in problem.schools) < 50


def test_import_a_workbook_keeps_a_base_problem_and_reads_every_sheet(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"hub": {"id": "h", "name": "H"}, "policy": {"advisers_per_school": 2},
                                "schools": []}), encoding="utf-8")
    out = tmp_path / "problem.json"
    assert main(["import", str(DATA / "hub_good.xlsx"), "--base", str(base), "-o", str(out)]) == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["policy"] == {"advisers_per_school": 2}
    assert [s["id"] for s in doc["schools"]] == ["S1", "S2"] and doc["schools"][1]["postcode"] == "PR2 3TS"
    assert doc["advisers"] == [{"id": "A1", "name": "Ann", "company": "C1", "skills": ["send"],
                                "lat": doc["advisers"][0]["lat"], "lon": doc["advisers"][0]["lon"],
                                "capacity": 2, "unavailable": False}]
    assert doc["employers"][0]["sites"] == [{"lat": 53.76, "lon": -2.7}]


def test_a_bad_workbook_exits_2_naming_each_cell_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "problem.json"
    assert main(["import", str(DATA / "hub_bad.xlsx"), "--collection", "schools", "-o", str(out)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: 3 problem(s) in the file; nothing was imported."
    assert err[1] == "  Schools!D5 (S3): pupils: Not a valid integer."
    assert err[2].startswith("  Schools!C6 (S4): postcode: Not a UK postcode: 'BB12 !!!'.")
    assert not out.exists()


def test_export_a_solution_to_a_workbook(tmp_path: Path) -> None:
    raw = fixtures.lancashire_problem()
    raw["schools"][0]["name"] = "=HYPERLINK(\"http://evil\")"
    problem = load_problem(raw)
    solution = dump_solution(solve(problem))
    (tmp_path / "p.json").write_text(json.dumps(raw), encoding="utf-8")
    (tmp_path / "s.json").write_text(json.dumps(solution), encoding="utf-8")
    out = tmp_path / "round.xlsx"
    assert main(["export", str(tmp_path / "s.json"), "--problem", str(tmp_path / "p.json"), "-o", str(out)]) == 0
    book = load_workbook(out)
    assert book.sheetnames == ["Pairings", "Unmatched"]
    names = {r["id"]: r["name"] for c in ("schools", "advisers", "employers") for r in raw.get(c, [])}
    rows = list(book["Pairings"].iter_rows(min_row=2, values_only=True))
    roles = {"adviser": "Enterprise Adviser", "cornerstone": "Cornerstone Employer"}
    assert sorted(rows) == sorted(
        (a["school"], names[a["school"]], roles[a["role"]], a["partner"], names[a["partner"]], a["distance_km"],
         a["cost"], a["locked"])
        for a in solution["assignments"]
    )
    assert len(rows) == len(solution["assignments"]) > 100
    unmatched = list(book["Unmatched"].iter_rows(min_row=2, values_only=True))
    assert sorted(unmatched) == sorted(
        (u["school"], names[u["school"]], roles[u["role"]], u["reason"], u["detail"]) for u in solution["unmatched"]
    )
    first = next(c for row in book["Pairings"].iter_rows(min_row=2) for c in row[1:2] if c.value.startswith("="))
    assert first.data_type == "s"  # text, not a formula


def test_export_refuses_other_formats_and_import_other_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    assert main(["export", str(tmp_path / "s.json"), "-o", str(tmp_path / "x.csv")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'x.csv'}: a solution is exported as .xlsx\n"
    assert main(["import", str(tmp_path / "x.ods"), "-o", str(tmp_path / "p.json")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'x.ods'}: give a .csv or .xlsx file\n"
