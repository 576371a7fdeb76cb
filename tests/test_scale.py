"""National scale: 5,000 schools and 5,000 advisers solve to proven optimality by flow, within every capacity."""

from __future__ import annotations

import numpy as np
import pytest

import fixtures
from matcher import solve
from models import Problem, Solution, load_problem

pytestmark = pytest.mark.slow


def index_of(ids: list[str], wanted: list[str]) -> np.ndarray:
    """Positions of ``wanted`` ids in ``ids`` (every one must be present)."""
    order = np.argsort(ids)
    pos = order[np.searchsorted(np.asarray(ids)[order], wanted)]
    assert (np.asarray(ids)[pos] == np.asarray(wanted)).all()
    return pos


def assert_within_limits(problem: Problem, solution: Solution) -> None:
    """Partner capacity, school slots and company caps, checked with whole-array arithmetic."""
    pol = problem.policy
    for role, partners in (("adviser", problem.advisers), ("cornerstone", problem.employers)):
        found = [a for a in solution.assignments if a.role == role]
        partner = index_of([p.id for p in partners], [a.partner for a in found])
        school = index_of([s.id for s in problem.schools], [a.school for a in found])
        load = np.ones(len(found)) if role == "adviser" else np.array([problem.schools[i].load for i in school])
        used = np.bincount(partner, weights=load, minlength=len(partners))
        assert (used <= np.array([p.capacity for p in partners]) + 1e-9).all(), role
        slots = pol.advisers_per_school if role == "adviser" else pol.cornerstones_per_school
        assert np.bincount(school, minlength=len(problem.schools)).max() <= slots, role
        assert len(set(zip(school.tolist(), partner.tolist(), strict=True))) == len(found), role
        if role == "adviser" and pol.max_schools_per_company is not None:
            companies, per = np.unique([partners[i].company for i in partner], return_counts=True)
            assert per.max() <= pol.max_schools_per_company, companies[per.argmax()]


@pytest.mark.parametrize("cap", [None, 3])
def test_national_round_is_optimal_by_flow(cap: int | None) -> None:
    problem = load_problem(fixtures.national_problem(5000, 5000, max_schools_per_company=cap))
    solution = solve(problem, alternatives=0)
    assert solution.status == "optimal"
    assert solution.gap == 0.0
    assert solution.stats["solver"] == {"adviser": "flow", "cornerstone": "flow"}
    assert_within_limits(problem, solution)
    matched = len({a.school for a in solution.assignments if a.role == "adviser"})
    assert matched + len({u.school for u in solution.unmatched if u.role == "adviser"}) == 5000
    assert "unassigned" not in {u.reason for u in solution.unmatched}
