"""Shared fixtures: the bundled hub problems, loaded and solved once per session (they are read-only)."""

from __future__ import annotations

from typing import Any

import pytest

import fixtures
from matcher import solve
from models import Problem, Solution, load_problem


@pytest.fixture(scope="session")
def lancashire_raw() -> dict[str, Any]:
    return fixtures.lancashire_problem()


@pytest.fixture(scope="session")
def lancashire(lancashire_raw: dict[str, Any]) -> Problem:
    return load_problem(lancashire_raw)


@pytest.fixture(scope="session")
def lancashire_solution(lancashire: Problem) -> Solution:
    return solve(lancashire)


@pytest.fixture(scope="session")
def cumbria() -> Problem:
    return load_problem(fixtures.cumbria_problem())
