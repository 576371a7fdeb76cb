"""Which policy: two matchings of a hub side by side, in the figures a Hub Lead weighs a policy change by.

``compare`` takes two (Problem, Solution) pairs, A and B (two policies over one round, or two rounds of a hub),
and returns a JSON-able comparison: per side the schools covered, slots filled, volunteers engaged and idle,
mean and worst travel, Gatsby 5/6 coverage, need-weighted coverage and the pairings changed against the current
ones; then the schools that gain or lose a partner from A to B, by name. ``table`` turns a comparison into the
rows the command line prints and the review page shows. Pure: no solving, no files, no printing.

Advisers' distances are personal data: each side also carries its adviser pairings' distances from the advisers'
areas (``models.privacy.area_of``), from which ``for_reader`` states a non-admin's travel figures as bands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from matcher.costs import school_need
from matcher.geo import haversine_km
from models.domain import ROLES, Assignment, Problem, Role, Solution, low_on_encounters
from models.privacy import area_of, band_label

Side = tuple[Problem, Solution]


def compare(a: Side, b: Side, labels: tuple[str, str] = ("A", "B")) -> dict[str, Any]:
    """The comparison of side A with side B (see the module docstring); ``labels`` name the two sides."""
    sides = [summarise(problem, solution, label) for (problem, solution), label in zip((a, b), labels, strict=True)]
    gained, lost = partner_changes(a, b)
    before, after = _pairings(a[1]), _pairings(b[1])
    return {
        "a": sides[0],
        "b": sides[1],
        "gained": gained,
        "lost": lost,
        "pairings_only_in_a": len(before - after),
        "pairings_only_in_b": len(after - before),
    }


def summarise(problem: Problem, solution: Solution, label: str) -> dict[str, Any]:
    """One side's figures (see the module docstring)."""
    by_role = {role: [x for x in solution.assignments if x.role == role] for role in ROLES}
    schools = {s.id: s for s in problem.schools}
    covered = {role: {x.school for x in by_role[role]} for role in ROLES}
    low = [s.id for s in problem.schools if low_on_encounters(s.gatsby)]
    need = {role: dict(zip(schools, school_need(problem, role).tolist(), strict=True)) for role in ROLES}
    km = {role: [x.distance_km for x in by_role[role] if x.distance_km is not None] for role in ROLES}
    return {
        "label": label,
        "status": solution.status,
        "schools": len(problem.schools),
        "covered": {role: len(covered[role]) for role in ROLES},
        "slots_filled": {role: len(by_role[role]) for role in ROLES},
        "slots": {role: sum(problem.policy.slots(role, s.kind) for s in problem.schools) for role in ROLES},
        **_engaged(problem, solution),
        "mean_travel_km": {role: _round(np.mean(km[role])) if km[role] else None for role in ROLES},
        "worst_travel_km": {role: _round(max(km[role])) if km[role] else None for role in ROLES},
        "adviser_area_km": _area_km(problem, by_role["adviser"]),
        "gatsby_low": len(low),
        "gatsby_low_covered": len(set(low) & covered["cornerstone"]),
        "need_covered": {role: _round(sum(need[role].get(s, 0.0) for s in covered[role])) for role in ROLES},
        "need_total": {role: _round(sum(need[role].values())) for role in ROLES},
        "current": _against_current(problem, solution),
    }


def partner_changes(a: Side, b: Side) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The schools with a partner of a role in B and none in A (gained), and the reverse (lost), by name (by id for
    a school no longer in the hub's records, as an old round's pairings may name)."""
    names = {s.id: s.name for side in (a, b) for s in side[0].schools}
    has = [{(x.school, x.role) for x in side[1].assignments} for side in (a, b)]

    def listed(keys: set[tuple[str, Role]]) -> list[dict[str, str]]:
        ordered = sorted(keys, key=lambda k: (names.get(k[0], k[0]), k))
        return [{"school": s, "name": names.get(s, s), "role": role} for s, role in ordered]

    return listed(has[1] - has[0]), listed(has[0] - has[1])


def _pairings(solution: Solution) -> set[tuple[str, str, str]]:
    return {(x.school, x.role, x.partner) for x in solution.assignments}


def _engaged(problem: Problem, solution: Solution) -> dict[str, int]:
    """Available volunteers with at least one school, and those without one, counted from the pairings.

    Counted here rather than read from ``solution.stats``: a round's stats are those of its last solve, and a
    coordinator's rejections since then change who is engaged."""
    busy = {x.partner for x in solution.assignments}
    advisers = [a.id for a in problem.advisers if not a.unavailable and a.capacity > 0]
    employers = [e.id for e in problem.employers if e.capacity > 0]
    return {
        "advisers_engaged": sum(a in busy for a in advisers),
        "advisers_idle": sum(a not in busy for a in advisers),
        "employers_engaged": sum(e in busy for e in employers),
        "employers_idle": sum(e not in busy for e in employers),
    }


def _area_km(problem: Problem, pairings: list[Assignment]) -> list[float]:
    """Each adviser pairing's distance from the adviser's area to the school: all a non-admin's figures use."""
    schools = {s.id: s for s in problem.schools}
    areas = {a.id: area_of(a.lat, a.lon) for a in problem.advisers}
    known = [x for x in pairings if x.partner in areas and x.school in schools]
    if not known:
        return []
    start = np.array([areas[x.partner] for x in known])
    end = np.array([(schools[x.school].lat, schools[x.school].lon) for x in known])
    return np.round(haversine_km(start[:, 0], start[:, 1], end[:, 0], end[:, 1]), 2).tolist()


def _against_current(problem: Problem, solution: Solution) -> dict[str, int]:
    """Current pairings (the schools' ``current_advisers`` and ``current_cornerstones``) kept and dropped, and
    pairings new to a school that had none in the role."""
    current = {(s.id, "adviser", p) for s in problem.schools for p in s.current_advisers}
    current |= {(s.id, "cornerstone", p) for s in problem.schools for p in s.current_cornerstones}
    now = _pairings(solution)
    had = {(s, role) for s, role, _ in current}
    return {
        "kept": len(current & now),
        "changed": len(current - now),
        "new": sum((s, role) not in had for s, role, _ in now),
    }


def _round(value: Any) -> float:
    return round(float(value), 2)


def for_reader(comparison: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison as a non-admin may read it: advisers' mean and worst travel as bands of the distances from
    their areas (a worst travel is one pairing's distance; a mean's change between sides is one too), and no
    exact adviser distances. Cornerstone Employers' sites are business addresses: their figures stay."""
    out = dict(comparison)
    for key in ("a", "b"):
        side = dict(comparison[key])
        area = side.pop("adviser_area_km", [])
        mean, worst = (band_label(float(f(area))) if area else None for f in (np.mean, max))
        side["mean_travel_km"] = {**side["mean_travel_km"], "adviser": mean}
        side["worst_travel_km"] = {**side["worst_travel_km"], "adviser": worst}
        out[key] = side
    return out


def table(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of the side-by-side table: a label, each side's figure as text, and B's change where it is a count
    or a need (``None`` where a difference means nothing, as between two bands)."""
    a, b = comparison["a"], comparison["b"]
    figures: list[tuple[str, Callable[[Mapping[str, Any]], Any]]] = [
        ("Schools with an adviser", lambda s: s["covered"]["adviser"]),
        ("Schools with a Cornerstone Employer", lambda s: s["covered"]["cornerstone"]),
        ("Adviser slots filled", lambda s: (s["slots_filled"]["adviser"], s["slots"]["adviser"])),
        ("Cornerstone slots filled", lambda s: (s["slots_filled"]["cornerstone"], s["slots"]["cornerstone"])),
        ("Advisers engaged", lambda s: s["advisers_engaged"]),
        ("Advisers idle", lambda s: s["advisers_idle"]),
        ("Employers engaged", lambda s: s["employers_engaged"]),
        ("Employers idle", lambda s: s["employers_idle"]),
        ("Mean adviser travel", lambda s: _km(s["mean_travel_km"]["adviser"])),
        ("Worst adviser travel", lambda s: _km(s["worst_travel_km"]["adviser"])),
        ("Mean employer travel", lambda s: _km(s["mean_travel_km"]["cornerstone"])),
        ("Worst employer travel", lambda s: _km(s["worst_travel_km"]["cornerstone"])),
        ("Low on Gatsby 5/6 with a Cornerstone", lambda s: (s["gatsby_low_covered"], s["gatsby_low"])),
        ("Need covered (advisers)", lambda s: (s["need_covered"]["adviser"], s["need_total"]["adviser"])),
        ("Need covered (Cornerstones)", lambda s: (s["need_covered"]["cornerstone"], s["need_total"]["cornerstone"])),
        ("Current pairings kept", lambda s: s["current"]["kept"]),
        ("Current pairings changed", lambda s: s["current"]["changed"]),
        ("New pairings", lambda s: s["current"]["new"]),
    ]
    return [
        {"label": label, "a": _text(figure(a)), "b": _text(figure(b)), "change": _change(figure(a), figure(b))}
        for label, figure in figures
    ]


def _km(value: float | str | None) -> str | None:
    return f"{value:.1f} km" if isinstance(value, int | float) else value


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{_text(value[0])} of {_text(value[1])}"
    if value is None:
        return "–"
    return _number(value) if isinstance(value, int | float) else str(value)


def _change(a: Any, b: Any) -> str | None:
    """B minus A, signed, for counts and need (the first of a pair "x of y"); None for text such as bands."""
    x, y = (a[0], b[0]) if isinstance(a, tuple) and isinstance(b, tuple) else (a, b)
    if not (isinstance(x, int | float) and isinstance(y, int | float)):
        return None
    delta = round(y - x, 2)
    return ("+" if delta > 0 else "") + _number(delta) if delta else "0"


def _number(value: float) -> str:
    """A count as it is, a need to two decimals at most, with thousands separated: 5,000; 29.18; 2,500.5."""
    return format(round(value, 2), ",")
