"""The ``recommend`` analysis: where a newcomer adviser, employer or school fits in a proposed or published round.

Parameters (validated by ``api.recommend``): ``kind`` (adviser, employer, school), ``record`` (the newcomer's
record, as a record import takes it) and ``top``. The result is the ``hubmatch recommend`` JSON
(docs/problem-format.md, "Newcomers").

Privacy: a chain names other advisers moving, and every figure about their pairings (distance, cost, a cost
change summed over them) would tell a reader how far their home is from schools of known position. A reader who
is not an admin gets them as the review page does (``models.privacy``): the distance as its band measured from the
adviser's area, costs from that band. The newcomer adviser's own distances stay exact: the Hub Lead typed where
the newcomer lives.
"""

from __future__ import annotations

import copy
from typing import Any

from matcher.geo import haversine_km
from matcher.recommend import as_dict, recommend
from models import ProblemError
from models.domain import Adviser, Problem
from models.newcomers import load_newcomer
from models.privacy import ADVISER, COARSE_DIGITS, area_of, band_of
from service.analyses import AnalysisContext, AnalysisError

TIME_LIMIT_S = 120.0


def run(ctx: AnalysisContext) -> dict[str, Any]:
    """The best ``top`` placements of the newcomer, each with its chain of changes."""
    if ctx.solution is None:
        raise AnalysisError("The round has no pairings yet: solve it before placing a newcomer.")
    kind, top = ctx.params["kind"], int(ctx.params.get("top", 3))
    try:
        newcomer = load_newcomer(kind, ctx.params["record"], ctx.problem)
    except ProblemError as err:
        raise AnalysisError(f"The newcomer does not fit the round: {err}") from None
    ctx.progress(0.1, "placing the newcomer")
    roles = as_dict(recommend(ctx.problem, ctx.solution, newcomer, top))
    ctx.progress(0.9, "describing the chains")
    _add_reader_figures(roles, ctx.problem, newcomer)
    name = getattr(newcomer, "name", None)
    return {"newcomer": {"kind": kind, "id": newcomer.id, "name": name}, "top": top, "roles": roles}


def for_reader(result: dict[str, Any]) -> dict[str, Any]:
    """The result as a non-admin sees it: other advisers' distances as bands, costs and cost changes from them."""
    out = copy.deepcopy(result)
    newcomer = out.get("newcomer", {})
    own = newcomer.get("id") if newcomer.get("kind") == ADVISER else None
    for role in out.get("roles", []):
        role.get("base", {}).pop("cost_units", None)
        for rec in role.get("recommendations", []):
            rec.pop("cost_units", None)
            rec.pop("value", None)
            if role.get("role") != ADVISER:
                continue
            for change in rec.get("added", []) + rec.get("dropped", []):
                _coarsen(change, exact=change.get("partner") == own)
            cost = sum(c["cost"] for c in rec.get("added", [])) - sum(c["cost"] for c in rec.get("dropped", []))
            rec["cost_change"] = round(cost, COARSE_DIGITS)
    return out


def _coarsen(change: dict[str, Any], exact: bool) -> None:
    reader = change.pop("reader", None)
    if exact or reader is None:
        return
    change.update(
        distance_km=None,
        distance_band=reader["distance_band"],
        cost=reader["cost"],
        components={**change["components"], **reader["components"]},
    )


def _add_reader_figures(roles: list[dict[str, Any]], problem: Problem, newcomer: Any) -> None:
    """Give each adviser pairing its band from the adviser's area and the cost derived from that band (``reader``),
    which ``for_reader`` shows in place of the exact figures."""
    advisers = {a.id: a for a in problem.advisers}
    if isinstance(newcomer, Adviser):
        advisers[newcomer.id] = newcomer
    schools = {s.id: s for s in problem.schools}
    if not isinstance(newcomer, Adviser) and hasattr(newcomer, "lat"):
        schools.setdefault(newcomer.id, newcomer)
    weight = problem.policy.weights.distance
    for role in roles:
        if role["role"] != ADVISER:
            continue
        for rec in role["recommendations"]:
            for change in rec["added"] + rec["dropped"]:
                adviser, school = advisers[change["partner"]], schools[change["school"]]
                km = float(haversine_km(*area_of(adviser.lat, adviser.lon), school.lat, school.lon))
                band = band_of(km)
                comps = change["components"]
                coarse = {}
                if "distance" in comps:
                    radius = adviser.max_travel_km or problem.policy.default_max_travel_km
                    coarse["distance"] = round(weight / radius * band.typical_km, COARSE_DIGITS)
                cost = change["cost"] - comps.get("distance", 0.0) + coarse.get("distance", 0.0)
                change["reader"] = {
                    "distance_band": band.label,
                    "cost": round(cost, COARSE_DIGITS),
                    "components": coarse,
                }
