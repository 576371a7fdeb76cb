"""The same problem solved twice gives the same solution document, timings aside."""

from __future__ import annotations

import json
from typing import Any

import pytest

import fixtures
from matcher import solve
from models import Problem, dump_solution, load_problem

TIMINGS = ("solve_seconds", "build_seconds", "total_seconds")


def untimed(problem: Problem, solver: str) -> dict[str, Any]:
    """The solution document without its wall-clock timings, after a strict JSON round trip."""
    doc = dump_solution(solve(problem, solver=solver, time_limit_s=30))
    for key in TIMINGS:
        assert isinstance(doc["stats"].pop(key), float)
    return json.loads(json.dumps(doc, allow_nan=False))


def test_lancashire_twice_is_identical(lancashire: Problem) -> None:
    first, second = untimed(lancashire, "auto"), untimed(lancashire, "auto")
    assert first["stats"]["solver"] == {"adviser": "flow", "cornerstone": "mip"}
    assert first == second


def test_flow_on_cumbria_twice_is_identical(cumbria: Problem) -> None:
    first, second = untimed(cumbria, "flow"), untimed(cumbria, "flow")
    assert first["stats"]["solver"] == {"adviser": "flow", "cornerstone": "flow"}
    assert first == second


def test_mip_on_a_small_generalised_assignment_twice_is_identical() -> None:
    problem = load_problem(fixtures.gap_problem(n_employers=6, n_schools=40))
    first, second = untimed(problem, "mip"), untimed(problem, "mip")
    assert (first["status"], first["stats"]["solver"]) == ("optimal", {"cornerstone": "mip"})
    assert first == second


@pytest.mark.parametrize("seed", [2026, 7])
def test_equal_documents_give_equal_solutions(seed: int) -> None:
    """Two separately built (equal) problems, not one object solved twice."""
    first = untimed(load_problem(fixtures.lancashire_problem(seed)), "auto")
    second = untimed(load_problem(fixtures.lancashire_problem(seed)), "auto")
    assert first == second
    assert [a["school"] for a in first["assignments"]] == [a["school"] for a in second["assignments"]]
