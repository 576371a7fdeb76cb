"""The ``hubmatch`` command, driven through ``hubmatch.cli.main`` with argument lists."""

from __future__ import annotations

import contextlib
import email
import email.policy
import gc
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import CENTRE, Record, adviser, document, employer, north, school
from locks import lock_held

import matcher
from hubmatch import cli
from hubmatch.cli import main
from matcher import solve
from matcher.solvers import SOLVERS
from models import dump_solution, load_problem

SOLUTION_KEYS = {"status", "objective", "bound", "gap", "assignments", "unmatched", "idle", "stats"}
TIMINGS = ("solve_seconds", "build_seconds", "total_seconds")


def small() -> Record:
    return document(
        [school("s0", *CENTRE), school("s1", *north(4)), school("far", *north(90))],
        [adviser("a0", *north(1)), adviser("a1", *north(5))],
        [employer("e0", [north(2)], capacity=2)],
    )


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def untimed(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "stats": {k: v for k, v in doc["stats"].items() if k not in TIMINGS}}


def test_solve_writes_the_solution_document(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem, out = write(tmp_path / "p.json", small()), tmp_path / "sub" / "solution.json"
    assert main(["solve", str(problem), "-o", str(out)]) == 0
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written) == SOLUTION_KEYS
    assert untimed(written) == untimed(json.loads(json.dumps(dump_solution(solve(load_problem(small()))))))
    assert (written["status"], written["gap"]) == ("optimal", 0.0)
    assert {(a["school"], a["partner"]) for a in written["assignments"]} == {
        ("s0", "a0"),
        ("s1", "a1"),
        ("s0", "e0"),
        ("s1", "e0"),
    }
    assert [(u["school"], u["role"], u["reason"]) for u in written["unmatched"]] == [
        ("far", "adviser", "out_of_reach"),
        ("far", "cornerstone", "out_of_reach"),
    ]
    stdout = capsys.readouterr().out
    assert "status optimal" in stdout
    assert "\nvolunteers: 2 advisers engaged, 0 idle; 1 employer engaged, 0 idle\n" in stdout
    assert stdout.endswith(f"solution written to {out}\n")
    assert list(out.parent.iterdir()) == [out]


def test_the_summary_names_idle_volunteers_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = small()
    raw["advisers"].append(adviser("a2", *north(200)))
    problem, out = write(tmp_path / "p.json", raw), tmp_path / "solution.json"
    assert main(["solve", str(problem), "-o", str(out)]) == 0
    assert "\nvolunteers: 2 advisers engaged, 1 idle (1 no_school_in_reach); 1 employer engaged, 0 idle\n" in (
        capsys.readouterr().out
    )
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [(i["partner"], i["reason"], i["distance_band"]) for i in written["idle"]] == [
        ("a2", "no_school_in_reach", "over 30 km")
    ]


def test_solve_options_reach_the_solver(tmp_path: Path) -> None:
    problem, out = write(tmp_path / "p.json", small()), tmp_path / "s.json"
    assert (
        main(["solve", str(problem), "-o", str(out), "--solver", "mip", "--time-limit", "5", "--alternatives", "0"])
        == 0
    )
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["stats"]["solver"] == {"adviser": "mip", "cornerstone": "mip"}
    assert all(a["alternatives"] == [] for a in written["assignments"])


def test_solve_with_previous_keeps_pairings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem, first, second = write(tmp_path / "p.json", small()), tmp_path / "1.json", tmp_path / "2.json"
    assert main(["solve", str(problem), "-o", str(first)]) == 0
    assert main(["solve", str(problem), "-o", str(second), "--previous", str(first)]) == 0
    assert "pairings: 4 kept, 0 changed, 0 new" in capsys.readouterr().out
    pairs = [{(a["school"], a["partner"]) for a in json.loads(p.read_text())["assignments"]} for p in (first, second)]
    assert pairs[0] == pairs[1]


def test_bad_problem_exits_2_writes_nothing_and_lists_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = small()
    raw["schools"][0]["lat"] = 91
    raw["advisers"][1]["capacity"] = -1
    problem, out = write(tmp_path / "p.json", raw), tmp_path / "solution.json"
    assert main(["solve", str(problem), "-o", str(out)]) == 2
    assert not out.exists() and not list(tmp_path.glob("solution*"))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "error: invalid problem: 2 fault(s)\n"
        "  schools[0] (s0): lat: Must be greater than or equal to -90 and less than or equal to 90.\n"
        "  advisers[1] (a1): capacity: Must be greater than or equal to 0 and less than or equal to 10.\n"
    )


def test_bad_problem_leaves_an_earlier_output_alone(tmp_path: Path) -> None:
    raw = small()
    raw["pairs"] = [{"school": "nobody", "partner": "a0"}]
    problem, out = write(tmp_path / "p.json", raw), tmp_path / "solution.json"
    out.write_text("earlier", encoding="utf-8")
    assert main(["solve", str(problem), "-o", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "earlier"


def test_malformed_json_exits_2_with_line_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = '{"hub": {"id": "h",\n  "name": "H"},\n  "schools": [,]\n}'
    problem, out = tmp_path / "p.json", tmp_path / "s.json"
    problem.write_text(text, encoding="utf-8")
    assert main(["solve", str(problem), "-o", str(out)]) == 2
    assert not out.exists()
    # the third line is '  "schools": [,]': the stray comma is its 15th character
    assert capsys.readouterr().err == (f"error: {problem}: not valid JSON: Expecting value at line 3, column 15\n")


def test_missing_and_non_utf8_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.json"
    assert main(["validate", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such file\n"
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"hub": "caf\u00e9"}'.encode("latin-1"))
    assert main(["validate", str(latin)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {latin}: not UTF-8 text")


def test_demo_runs_the_lancashire_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.json"
    assert main(["demo", "-o", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "status optimal" in stdout
    assert stdout.startswith("Lancashire Careers Hub: 84 schools, 90 advisers, 15 Cornerstone Employers\n")
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written) == SOLUTION_KEYS
    assert written["status"] == "optimal"
    mail = sorted((tmp_path / "demo-mail").glob("*.eml"))  # the messages a publish would send, one per person
    assert f"{len(mail)} messages a publish would send" in stdout and f"written to {tmp_path / 'demo-mail'}/" in stdout
    assert len(mail) > 100
    for path in mail:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert len(message["To"].addresses) == 1 and message["To"].addresses[0].domain == "demo.invalid"


def test_validate_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = write(tmp_path / "p.json", small())
    assert main(["validate", str(problem)]) == 0
    assert capsys.readouterr().out == "valid: 3 schools, 2 advisers, 1 Cornerstone Employers, 0 pair rules\n"


def test_validate_refuses_a_bad_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problem = write(tmp_path / "p.json", [small()])
    assert main(["validate", str(problem)]) == 2
    assert capsys.readouterr().err == "error: invalid problem: 1 fault(s)\n  problem: A problem is a JSON object.\n"


def test_fixture_writes_a_valid_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cumbria.json"
    assert main(["fixture", "cumbria", "-o", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.endswith("valid: 39 schools, 30 advisers, 6 Cornerstone Employers, 0 pair rules\n")


def test_a_national_round_of_any_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "national.json"
    args = ["fixture", "national", "-o", str(out), "--schools", "120", "--advisers", "80", "--employers", "0"]
    assert main([*args, "--radius", "25", "--company-cap", "2"]) == 0
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert (len(raw["schools"]), len(raw["advisers"]), raw["employers"]) == (120, 80, [])
    policy = raw["policy"]
    assert (policy["cornerstones_per_school"], policy["default_max_travel_km"], policy["max_schools_per_company"]) \
        == (0, 25.0, 2)
    assert set(solve(load_problem(raw)).stats["solver"]) == {"adviser"}  # no Cornerstone role to leave unmatched
    capsys.readouterr()
    assert main(["fixture", "cumbria", "-o", str(tmp_path / "c.json"), "--schools", "10"]) == 2
    assert capsys.readouterr().err == "hubmatch fixture: the size options apply to the national round, not cumbria\n"
    assert not (tmp_path / "c.json").exists()
    with pytest.raises(SystemExit) as caught:
        main(["fixture", "national", "-o", str(out), "--schools", "-5"])
    assert caught.value.code == 2


def test_unknown_solver_is_a_usage_error(tmp_path: Path) -> None:
    problem = write(tmp_path / "p.json", small())
    with pytest.raises(SystemExit) as caught:
        main(["solve", str(problem), "-o", str(tmp_path / "s.json"), "--solver", "simplex"])
    assert caught.value.code == 2


def test_solve_runs_without_the_cyclic_collector_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return solve(*args, **kwargs)

    monkeypatch.setattr(matcher, "solve", spy)
    problem, out = write(tmp_path / "p.json", small()), tmp_path / "s.json"
    assert gc.isenabled()
    assert main(["solve", str(problem), "-o", str(out)]) == 0
    assert (seen, gc.isenabled()) == ([False], True)
    assert main(["solve", str(tmp_path / "missing.json"), "-o", str(out)]) == 2  # failing inside the command
    assert gc.isenabled()


def test_the_console_command_flushes_everything_before_its_fast_exit(tmp_path: Path) -> None:
    """`python -m hubmatch` ends with os._exit: the piped summary, the solution file and the exit codes survive."""
    problem, out = write(tmp_path / "p.json", small()), tmp_path / "s.json"
    ok = subprocess.run([sys.executable, "-m", "hubmatch", "solve", str(problem), "-o", str(out)],
                        capture_output=True, text=True, check=False)
    assert (ok.returncode, ok.stdout.splitlines()[-1]) == (0, f"solution written to {out}")
    assert untimed(json.loads(out.read_text(encoding="utf-8"))) == untimed(
        json.loads(json.dumps(dump_solution(solve(load_problem(small())))))
    )
    bad = subprocess.run([sys.executable, "-m", "hubmatch", "solve", str(tmp_path / "none.json"), "-o", str(out)],
                         capture_output=True, text=True, check=False)
    assert (bad.returncode, bad.stdout, bad.stderr) == (2, "", f"error: {tmp_path / 'none.json'}: no such file\n")


def test_a_bad_problem_validated_in_the_forked_child_reports_like_a_plain_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fresh ``python -m hubmatch solve`` validates in a child while it imports the solver: its faults must
    reach the user exactly as an in-process run prints them, and no solution file may appear."""
    raw = small()
    raw["advisers"][0]["lat"] = 123
    raw["schools"][1]["id"] = "s0"
    problem, out = write(tmp_path / "p.json", raw), tmp_path / "s.json"
    assert main(["solve", str(problem), "-o", str(out)]) == 2
    in_process = capsys.readouterr().err
    forked = subprocess.run([sys.executable, "-m", "hubmatch", "solve", str(problem), "-o", str(out)],
                            capture_output=True, text=True, check=False)
    assert (forked.returncode, forked.stderr, out.exists()) == (2, in_process, False)
    assert in_process.startswith("error: invalid problem: 2 fault(s)\n")


def test_the_command_line_offers_exactly_the_core_solvers() -> None:
    assert cli.SOLVERS == SOLVERS


def test_a_previous_solution_reaches_the_solver_through_the_forked_child(tmp_path: Path) -> None:
    problem, first, second = write(tmp_path / "p.json", small()), tmp_path / "1.json", tmp_path / "2.json"
    assert main(["solve", str(problem), "-o", str(first)]) == 0
    again = subprocess.run(
        [sys.executable, "-m", "hubmatch", "solve", str(problem), "-o", str(second), "--previous", str(first)],
        capture_output=True, text=True, check=False,
    )
    assert (again.returncode, again.stderr) == (0, "")
    assert "pairings: 4 kept, 0 changed, 0 new" in again.stdout


def test_a_database_locked_by_another_process_exits_75_saying_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hubmatch.sqlite"
    monkeypatch.setenv("HUBMATCH_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HUBMATCH_LOCK_WAIT_S", "0.3")
    assert main(["db", "upgrade"]) == 0
    # WAL from the start: switching a file to it while another connection writes fails at once, without waiting
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with lock_held(f"sqlite:///{path}"):  # as a server stopped in the middle of a write would hold it
        capsys.readouterr()
        began = time.monotonic()
        assert main(["token", "create", "--role", "admin", "--name", "root"]) == 75
        assert time.monotonic() - began < 10.0  # HUBMATCH_LOCK_WAIT_S, not the default 30 s
    out, err = capsys.readouterr()
    assert (out, err) == ("", "error: the database is busy (another process held a lock on it for too long); nothing "
                              "was changed: try again in a moment\n")
    assert main(["token", "list"]) == 0
    assert "root" not in capsys.readouterr().out
    assert main(["token", "create", "--role", "admin", "--name", "root"]) == 0
