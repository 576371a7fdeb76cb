"""Advisers and Cornerstone Employers as one column-oriented table, so the core treats both roles alike.

An adviser is a partner with one site and a company; an employer is a partner with one or more sites and no
company. Every array is indexed by partner position (sites by site position, with ``site_owner``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.domain import Problem, Role


@dataclass(frozen=True)
class PartnerTable:
    """The partners of one role, as arrays; ``company`` is -1 where no company cap applies."""

    role: Role
    ids: tuple[str, ...]
    site_lat: np.ndarray
    site_lon: np.ndarray
    site_owner: np.ndarray
    radius_km: np.ndarray
    capacity: np.ndarray
    company: np.ndarray
    company_ids: tuple[str, ...]
    company_cap: int | None
    unavailable: np.ndarray
    sectors: tuple[tuple[str, ...], ...]
    skills: tuple[tuple[str, ...], ...]
    conflicts: tuple[tuple[str, ...], ...]

    @property
    def size(self) -> int:
        return len(self.ids)


def adviser_table(problem: Problem) -> PartnerTable:
    """The Enterprise Advisers of a problem, with their companies for ``max_schools_per_company``."""
    advisers = problem.advisers
    company_ids = tuple(dict.fromkeys(a.company for a in advisers))
    company_index = {c: i for i, c in enumerate(company_ids)}
    default = problem.policy.default_max_travel_km
    return PartnerTable(
        role="adviser",
        ids=tuple(a.id for a in advisers),
        site_lat=np.array([a.lat for a in advisers], dtype=np.float64),
        site_lon=np.array([a.lon for a in advisers], dtype=np.float64),
        site_owner=np.arange(len(advisers), dtype=np.int64),
        radius_km=np.array([a.max_travel_km or default for a in advisers], dtype=np.float64),
        capacity=np.array([a.capacity for a in advisers], dtype=np.float64),
        company=np.array([company_index[a.company] for a in advisers], dtype=np.int64),
        company_ids=company_ids,
        company_cap=problem.policy.max_schools_per_company,
        unavailable=np.array([a.unavailable for a in advisers], dtype=bool),
        sectors=tuple(a.sectors for a in advisers),
        skills=tuple(a.skills for a in advisers),
        conflicts=tuple(a.conflicts for a in advisers),
    )


def employer_table(problem: Problem) -> PartnerTable:
    """The Cornerstone Employers of a problem; a school's distance is to the employer's nearest site."""
    employers = problem.employers
    sites = [(i, s) for i, e in enumerate(employers) for s in e.sites]
    default = problem.policy.default_max_travel_km
    return PartnerTable(
        role="cornerstone",
        ids=tuple(e.id for e in employers),
        site_lat=np.array([s.lat for _, s in sites], dtype=np.float64),
        site_lon=np.array([s.lon for _, s in sites], dtype=np.float64),
        site_owner=np.array([i for i, _ in sites], dtype=np.int64),
        radius_km=np.array([e.max_travel_km or default for e in employers], dtype=np.float64),
        capacity=np.array([e.capacity for e in employers], dtype=np.float64),
        company=np.full(len(employers), -1, dtype=np.int64),
        company_ids=(),
        company_cap=None,
        unavailable=np.zeros(len(employers), dtype=bool),
        sectors=tuple(e.sectors for e in employers),
        skills=tuple(() for _ in employers),
        conflicts=tuple(() for _ in employers),
    )


def partner_table(problem: Problem, role: Role) -> PartnerTable:
    """The partner table of ``role``."""
    return adviser_table(problem) if role == "adviser" else employer_table(problem)
