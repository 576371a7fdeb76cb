"""Long work shows its progress: the core names each step of a solve as it starts, the command line draws it as
a bar on stderr (an import's too), and a solve job records it for the API and the page."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import CENTRE, SECTORS, TINY, adviser, document, employer, north, school
from openpyxl import Workbook
from sqlalchemy import select

from hubmatch.cli import main
from hubmatch.progress import ProgressBar
from matcher import solve
from matcher.objective import LevelUnits
from matcher.progress import Steps, band
from models import load_problem
from models import tables as t
from models.lifecycle import new_analysis_job, new_job
from models.repository import create_hub
from models.store import make_engine, migrate, session_factory, transaction
from service import tasks

Seen = list[tuple[float, str]]


def solved_with_progress(raw: dict[str, Any]) -> Seen:
    seen: Seen = []
    solve(load_problem(raw), progress=lambda fraction, stage: seen.append((fraction, stage)))
    return seen


def fills_every_slot() -> dict[str, Any]:
    return document([school("s0", *CENTRE), school("s1", *north(4))], [adviser("a0", *north(1)),
                    adviser("a1", *north(5))], cornerstones_per_school=0)


NEED = "the cheapest matching that covers the most need"  # the need step's name, as the bar shows it


def leaves_one_open() -> dict[str, Any]:
    """Two advisers and one Cornerstone Employer; the school 90 km north has no candidate of either."""
    return document(
        [school("s0", *CENTRE), school("s1", *north(4)), school("far", *north(90))],
        [adviser("a0", *north(1)), adviser("a1", *north(5))],
        [employer("e0", [north(2)], capacity=2)],
    )


def assert_a_progress(seen: Seen) -> None:
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] >= 0.0 and seen[-1] == (1.0, "matched")
    assert len({stage for _, stage in seen}) == len(seen)  # every call names a new step


def test_a_round_that_fills_every_slot_names_each_step_in_order() -> None:
    seen = solved_with_progress(fills_every_slot())
    assert_a_progress(seen)
    assert seen == [(0.0, "advisers: finding candidates"),
                    (pytest.approx(0.08), "advisers: the cheapest matching that fills every open slot"),
                    (pytest.approx(0.95), "advisers: explaining"), (1.0, "matched")]


def test_each_role_takes_its_share_of_the_bar_by_its_partners() -> None:
    """Two advisers and one employer: the advisers take the first two thirds, and need decides who stays open."""
    seen = solved_with_progress(leaves_one_open())
    assert_a_progress(seen)
    start = dict((stage, fraction) for fraction, stage in seen)
    assert start["Cornerstone Employers: finding candidates"] == pytest.approx(2 / 3)
    assert start["advisers: explaining"] == pytest.approx(0.95 * 2 / 3)
    assert [stage for _, stage in seen if NEED in stage] == [f"advisers: {NEED}", f"Cornerstone Employers: {NEED}"]


def test_a_need_unit_that_fails_its_check_names_the_solve_with_need_weighed_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One adviser, the less needy school nearer: a need unit of one cost unit picks it, the exchange check refuses
    that, and the bar names the second solve."""
    raw = document([school("near", *north(1), pct_fsm=4.0), school("needy", *north(20), pct_fsm=40.0)],
                   [adviser("a0", *CENTRE)], cornerstones_per_school=0)
    monkeypatch.setattr(LevelUnits, "need_trial", property(lambda self: 1))
    seen = solved_with_progress(raw)
    assert_a_progress(seen)
    assert [stage for _, stage in seen if NEED in stage] == [f"advisers: {NEED}",
                                                             f"advisers: {NEED}, need weighed in full"]


def test_a_round_the_mip_solves_says_so_with_its_time_limit() -> None:
    advisers = [adviser(f"a{i}", *north(i), sectors=[SECTORS[i % 3]]) for i in range(4)]
    raw = document([school("s0", *CENTRE), school("s1", *north(4))], advisers, cornerstones_per_school=0,
                   advisers_per_school=2, distinct_sectors=True, time_limit_s=7)
    seen = solved_with_progress(raw)
    assert_a_progress(seen)
    assert [stage for _, stage in seen][1:3] == ["advisers: a first matching to start the search from",
                                                 "advisers: searching with the MIP (at most 7 s)"]


def test_steps_move_a_third_of_what_is_left_and_a_band_maps_onto_its_part() -> None:
    seen: Seen = []
    steps = Steps(band(lambda f, s: seen.append((f, s)), 0.2, 0.8), "x: ")
    for name in "abc":
        steps(name)
    assert seen == [(0.2, "x: a"), (pytest.approx(0.4), "x: b"), (pytest.approx(0.2 + 0.6 * 5 / 9), "x: c")]
    band(lambda f, s: seen.append((f, s)), 0.2, 0.8)(1.5, "past the end")
    assert seen[-1] == (pytest.approx(0.8), "past the end")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


BAR = r"\[(#*)(\.*)\] +(\d+)% +\d+\.\d s  (.*)"


def test_the_bar_writes_a_line_per_stage_to_a_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    out = io.StringIO()
    bar = ProgressBar(out)
    bar(0.5, "one")
    bar(0.55, "one")  # the same stage, less than a tenth further: a log has it already
    bar(0.625, "one")  # a tenth further since its last line: a long stage shows it moving
    bar(0.7, "one")
    bar.stage("advisers")(1.0, "two")
    bar.close()
    lines = [re.fullmatch(BAR, line).groups() for line in out.getvalue().splitlines()]  # type: ignore[union-attr]
    assert lines == [("#" * 12, "." * 12, "50", "one"), ("#" * 15, "." * 9, "62", "one"),
                     ("#" * 24, "", "100", "advisers: two")]


def test_the_bar_redraws_in_place_on_a_terminal_and_ends_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    out = Terminal()
    bar = ProgressBar(out)
    bar(0.25, "a longer first stage")
    bar(0.5, "b")
    bar.close()
    first, second = out.getvalue().split("\r")[1:]
    assert re.fullmatch(BAR, first).groups() == ("######", "." * 18, "25", "a longer first stage")  # type: ignore
    assert second.endswith("\n") and len(second) == len(first) + 1  # padded over the longer line
    assert re.fullmatch(BAR, second.rstrip()).groups()[2:] == ("50", "b")  # type: ignore[union-attr]


def test_work_done_within_the_delay_draws_nothing() -> None:
    out = Terminal()
    bar = ProgressBar(out)
    bar(0.5, "quick")
    bar.close()
    assert out.getvalue() == ""


def test_the_solve_command_draws_each_step_then_the_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    problem = tmp_path / "p.json"
    problem.write_text(json.dumps(fills_every_slot()), encoding="utf-8")
    assert main(["solve", str(problem), "-o", str(tmp_path / "s.json")]) == 0
    captured = capsys.readouterr()
    drawn = [re.fullmatch(BAR, line).groups()[2:] for line in captured.err.splitlines()]  # type: ignore[union-attr]
    assert drawn == [("5", "advisers: finding candidates"),
                     ("12", "advisers: the cheapest matching that fills every open slot"),
                     ("90", "advisers: explaining"), ("95", "matched"), ("95", "writing the solution"),
                     ("100", "written")]
    assert captured.out.startswith("Test hub: 2")
    assert not any(re.fullmatch(BAR, line) for line in captured.out.splitlines())  # the bar stays on stderr


def test_the_compare_command_gives_each_side_half_the_bar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    problem, narrow = tmp_path / "round.json", tmp_path / "narrow.json"
    problem.write_text(json.dumps(fills_every_slot()), encoding="utf-8")
    narrow.write_text(json.dumps({"default_max_travel_km": 10}), encoding="utf-8")
    assert main(["compare", str(problem), "--policy", str(narrow)]) == 0
    drawn = [re.fullmatch(BAR, line).groups()[2:] for line in capsys.readouterr().err.splitlines()]  # type: ignore
    assert drawn[0] == ("0", "[1/2] round.json as it is: advisers: finding candidates")
    assert drawn[-1] == ("100", "[2/2] narrow.json: matched")
    assert ("50", "[2/2] narrow.json: advisers: finding candidates") in drawn
    assert [int(p) for p, _ in drawn] == sorted(int(p) for p, _ in drawn)


@pytest.fixture
def factory(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'progress.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        create_hub(session, "tiny", "tiny", load_problem(TINY))
        session.add(t.Round(hub_id="tiny", term="2026-spring", policy={}))
    yield factory
    engine.dispose()


def run_a_solve(factory: Any) -> None:
    with transaction(factory) as session:
        job = new_job(session.scalars(select(t.Round)).one())
        session.add(job)
        job_id = job.id
    assert tasks.run_job(job_id, factory)


def recording(monkeypatch: pytest.MonkeyPatch) -> Seen:
    """What jobs report as their progress, in order, still recorded on them."""
    recorded: Seen = []
    real = tasks.report_progress

    def record(session: Any, job_id: str, fraction: float, stage: str) -> None:
        recorded.append((fraction, stage))
        real(session, job_id, fraction, stage)

    monkeypatch.setattr(tasks, "report_progress", record)
    return recorded


def test_a_solve_job_records_the_cores_steps_between_reading_and_writing(
    factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = recording(monkeypatch)
    run_a_solve(factory)
    assert recorded[0] == (0.05, "reading the hub's records") and recorded[-1] == (0.9, "writing the proposals")
    core = recorded[1:-1]
    assert core[0] == (0.2, "advisers: finding candidates") and core[-1] == (pytest.approx(0.9), "matched")
    assert [f for f, _ in core] == sorted(f for f, _ in core)
    assert {stage.split(": ")[0] for _, stage in core[:-1]} == {"advisers", "Cornerstone Employers"}


def test_a_policy_comparison_shows_each_solve_by_its_policy(factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run_a_solve(factory)
    recorded = recording(monkeypatch)
    with transaction(factory) as session:
        round_ = session.scalars(select(t.Round)).one()
        job = new_analysis_job(round_, "compare", {"policy": {"default_max_travel_km": 40}}, requested_by="Hub Lead")
        session.add(job)
        job_id = job.id
    assert tasks.run_job(job_id, factory)
    first = {stage: fraction for fraction, stage in reversed(recorded)}
    assert first["solving with the round's policy: advisers: finding candidates"] == pytest.approx(0.1)
    assert first["solving with the policy changed: advisers: finding candidates"] == pytest.approx(0.5)
    assert first["solving with the policy changed: matched"] == pytest.approx(0.9)
    assert recorded[-1] == (0.95, "comparing")
    assert [f for f, _ in recorded] == sorted(f for f, _ in recorded)


def import_bar(capsys: pytest.CaptureFixture[str], source: Path, out: Path) -> list[tuple[str, ...]]:
    assert main(["import", str(source), "-o", str(out)]) == 0
    return [re.fullmatch(BAR, line).groups()[2:] for line in capsys.readouterr().err.splitlines()]  # type: ignore


def school_rows(n: int) -> list[list[Any]]:
    return [["id", "name", "lat", "lon"], *([f"S{i}", f"School {i}", 53.7, -2.7] for i in range(n))]


def test_an_import_draws_how_far_through_the_file_it_has_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CSV by the bytes read (it is read ahead 64 kB at a time, a sixth of this file), a workbook by the
    sheet row against the sheet's last row, and a log line each tenth further; then the checks and the writing."""
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    source = tmp_path / "schools.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(school_rows(11_999))
    drawn = import_bar(capsys, source, tmp_path / "p.json")
    reading = [int(p) for p, stage in drawn if stage == "schools: reading and checking rows"]
    assert len(reading) >= 4 and reading == sorted(set(reading)) and 80 <= reading[-1] <= 90
    assert drawn[len(reading):] == [("90", "checking the records together"), ("99", "writing the problem"),
                                    ("100", "written")]

    book = Workbook()
    sheet = book.active
    sheet.title = "schools"
    for row in school_rows(2_499):
        sheet.append(row)
    book.save(tmp_path / "schools.xlsx")
    drawn = import_bar(capsys, tmp_path / "schools.xlsx", tmp_path / "q.json")
    assert [p for p, _ in drawn[:3]] == ["36", "72", "90"]  # rows 1,001, 2,001 and 2,500 of 2,500, nine tenths


def test_a_fault_found_after_the_bar_is_drawn_is_told_on_a_line_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ProgressBar, "DELAY_S", 0.0)
    rows = school_rows(1_200)
    rows[1_100][2] = "north"
    source = tmp_path / "schools.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    assert main(["import", str(source), "-o", str(tmp_path / "p.json")]) == 2
    drawn, *told = terminal.getvalue().split("\n")
    assert re.fullmatch(BAR, drawn.split("\r")[-1]).groups()[3] == "schools: reading and checking rows"  # type: ignore
    assert told == ["error: 1 problem(s) in the file; nothing was imported.",
                    "  line 1101 (S1099): lat: Not a valid number.", ""]
    assert not (tmp_path / "p.json").exists()
