"""``hubmatch recommend``: the placements printed and written, the first equal to ``solve --previous`` with the
newcomer added; bad input exits 2 naming the record and field and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import CENTRE, adviser, document, east, school

from hubmatch.cli import main

BURNLEY = document(
    [school("BH", *CENTRE, name="Burnley High"), school("PG", *east(10), name="Padiham Green")],
    [adviser("SJ", *east(4), name="Sam Jones")],
    cornerstones_per_school=0,
)
ANA = adviser("AP", *east(-5), name="Ana Patel", max_travel_km=8)


def files(tmp_path: Path, newcomer: dict) -> tuple[Path, Path, Path]:
    problem, solution, new = tmp_path / "p.json", tmp_path / "s.json", tmp_path / "new.json"
    problem.write_text(json.dumps(BURNLEY))
    new.write_text(json.dumps(newcomer))
    assert main(["solve", str(problem), "-o", str(solution)]) == 0
    return problem, solution, new


def test_recommend_prints_and_writes_the_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem, solution, new = files(tmp_path, ANA)
    out = tmp_path / "placements.json"
    capsys.readouterr()
    assert main(["recommend", str(problem), "--solution", str(solution), "--adviser", str(new), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    written = json.loads(out.read_text())
    change = written["roles"][0]["recommendations"][0]["cost_change"]
    assert printed[:4] == [
        "newcomer adviser AP (Ana Patel)",
        "advisers: 1 recommendation(s), by augmenting paths from the current pairings, no re-solve",
        f"  1. +1 school(s) covered, need +0.5, +1 volunteer(s) engaged, cost change {change:+.3f}",
        "     Ana Patel takes Burnley High; Burnley High's adviser Sam Jones moves to Padiham Green, which had none",
    ]
    [role] = written["roles"]
    assert role["recommendations"][0]["partners_engaged"] == 1  # Ana as well as Sam Jones now has a school
    assert written["newcomer"] == {"kind": "adviser", "id": "AP"}
    assert [(c["school"], c["partner"]) for c in role["recommendations"][0]["added"]] == [("BH", "AP"), ("PG", "SJ")]
    # the full incremental re-solve with Ana added makes the same pairings
    again = tmp_path / "again.json"
    problem.write_text(json.dumps({**BURNLEY, "advisers": [*BURNLEY["advisers"], ANA]}))
    assert main(["solve", str(problem), "-o", str(again), "--previous", str(solution)]) == 0
    assert {(a["school"], a["partner"]) for a in json.loads(again.read_text())["assignments"]} == {
        ("BH", "AP"),
        ("PG", "SJ"),
    }


def test_a_newcomer_with_a_taken_id_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem, solution, new = files(tmp_path, {**ANA, "id": "SJ"})
    out = tmp_path / "placements.json"
    capsys.readouterr()
    assert main(["recommend", str(problem), "--solution", str(solution), "--adviser", str(new), "-o", str(out)]) == 2
    assert capsys.readouterr().err == (
        "error: invalid problem: 1 fault(s)\n"
        "  adviser (SJ): id: Id already used by an adviser or employer of the round; a newcomer needs a new id.\n"
    )
    assert not out.exists()
    assert main(["recommend", str(problem), "--solution", str(solution), "--adviser", str(new), "--top", "0"]) == 2
    assert capsys.readouterr().err == "error: --top must be a whole number from 1 to 50\n"
