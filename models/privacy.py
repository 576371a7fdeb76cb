"""What a non-admin may see of the distance between an Enterprise Adviser's home and a school.

Advisers' homes are personal data. A full-precision distance from a home to each of a few schools of known
position is as good as the home's coordinates (least-squares trilateration placed most Lancashire advisers within
metres), and so is any figure computed from it: the distance cost component is distance / radius, a pairing's
cost is the sum of its components, an alternative's cost delta is a difference of two such costs, a round's mean
travel is a sum of distances. So every figure a non-admin reads about an adviser-school pair is derived from the
pair's *distance band* alone, here and nowhere else:

- the distance is measured from the adviser's *area* (the centre of the cell of a grid of about 5.5 x 5.3 km that
  holds the home: ``area_of``), not from the home, so that any number of figures about one adviser, however
  combined, can only ever point to the area: every home in the cell gives the same figures;
- that distance becomes its band's label (``under 5 km`` ... ``over 30 km``) and ``distance_km`` is withheld;
- the distance component becomes ``scale * band.typical_km``, where ``scale`` is the pairing's own
  ``weight / radius`` (public: the policy and the adviser's travel radius), and the cost the sum of the coarse
  components, so a cost, a component or a difference of costs gives back no more than the band;
- aggregates (mean travel, objective) are stated coarsely enough that two solves' difference is no distance.

Cornerstone Employers' sites are business addresses and schools are public: their distances stay exact. Admins
see everything in full. Nothing here knows Flask or SQL: ``api.proposals``, ``api.exports``, ``api.pages`` and
``api.rounds`` call these functions on the plain dicts they read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ADVISER = "adviser"
AREA_DEG = (0.05, 0.08)  # a cell of latitude x longitude: 5.6 km x 5.3 km at 53.5 N, England's middle
COARSE_DIGITS = 3  # coarse costs are rounded only for readability; they are already band-derived


@dataclass(frozen=True)
class Band:
    """A range of travel distances ``[lower_km, upper_km)`` as a coordinator reads it."""

    lower_km: float
    upper_km: float
    label: str

    @property
    def typical_km(self) -> float:
        """The distance that stands for the band in coarse costs: its middle (the open top band: 5 km above)."""
        return self.lower_km + 5.0 if math.isinf(self.upper_km) else (self.lower_km + self.upper_km) / 2


# Under 5 km is a short local trip; 5-10 and 10-20 are the ranges where travel starts to weigh; 20-30 km is the
# edge of the usual travel radius (25-30 km); beyond that only a locked pairing goes. The review page's "long
# distance" filter (20 km) falls on a band edge, so the filter tells no more than the band.
BANDS = (
    Band(0.0, 5.0, "under 5 km"),
    Band(5.0, 10.0, "5–10 km"),
    Band(10.0, 20.0, "10–20 km"),
    Band(20.0, 30.0, "20–30 km"),
    Band(30.0, math.inf, "over 30 km"),
)


def band_of(km: float) -> Band:
    """The band a distance falls in."""
    for band in BANDS:
        if km < band.upper_km:
            return band
    return BANDS[-1]


def area_of(lat: float, lon: float) -> tuple[float, float]:
    """The centre of the grid cell that holds a position: where a non-admin's distances to an adviser start."""
    return ((math.floor(lat / AREA_DEG[0]) + 0.5) * AREA_DEG[0], (math.floor(lon / AREA_DEG[1]) + 0.5) * AREA_DEG[1])


def sees_homes(role: str) -> bool:
    """Only an admin may see advisers' homes, or anything as precise as them."""
    return role == "admin"


def _parsed(value: Any) -> Any:
    """A JSON column's value, parsed when the read path handed over its stored text."""
    text = getattr(value, "text", None)
    return json.loads(text) if isinstance(text, str) else value


def coarse_proposal(item: Mapping[str, Any], alternative_scale: Mapping[str, float],
                    area_km: Mapping[tuple[str, str], float]) -> dict[str, Any]:
    """An adviser proposal as a non-admin sees it (a Cornerstone proposal is returned as it is).

    ``item`` is a proposal as ``ProposalSchema`` dumps it; ``alternative_scale`` gives, per adviser id, the
    distance component per km (``weight / radius``) for the proposal's alternatives; ``area_km`` the distance from
    each (school, adviser) of the proposal and its alternatives to the adviser's area, the only distance banded.
    """
    out = dict(item)
    if item["role"] != ADVISER:
        return out
    components = dict(_parsed(item["components"]) or {})
    km = item["distance_km"]
    exact_part = float(components.get("distance", 0.0))
    scale = exact_part / km if km else alternative_scale.get(item["partner_id"], 0.0)
    band = band_of(area_km.get((item["school_id"], item["partner_id"]), km or 0.0))
    cost = float(item["cost"])
    if "distance" in components:  # with no distance known, no distance part is shown either
        coarse_part = round(scale * band.typical_km, COARSE_DIGITS) if km is not None else 0.0
        components["distance"] = coarse_part
        cost = cost - exact_part + coarse_part
    out.update(
        distance_km=None,
        distance_band=band.label if km is not None else None,
        components=components,
        cost=round(cost, COARSE_DIGITS),
    )
    out["alternatives"] = [
        _coarse_alternative(alt, float(item["cost"]), cost, alternative_scale,
                            area_km.get((item["school_id"], alt["partner"]), float(alt["distance_km"])))
        for alt in (_parsed(item["alternatives"]) or [])
    ]
    return out


def _coarse_alternative(
    alt: Mapping[str, Any], exact_cost: float, coarse_cost: float, scale: Mapping[str, float], shown_km: float
) -> dict[str, Any]:
    """An alternative adviser with its band, and its cost delta as the difference of the two coarse costs."""
    km = float(alt["distance_km"])
    band = band_of(shown_km)
    s = scale.get(alt["partner"], 0.0)
    alt_coarse = exact_cost + float(alt["cost_delta"]) - s * km + s * band.typical_km
    return {
        "partner": alt["partner"],
        "cost_delta": round(alt_coarse - coarse_cost, COARSE_DIGITS),
        "distance_km": None,
        "distance_band": band.label,
        "full": alt["full"],
    }


def band_label(km: float | None) -> str | None:
    """A distance as a non-admin reads it (exports, summaries)."""
    return None if km is None else band_of(km).label


def coarse_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A round's solve summary (or a job's result) as a non-admin sees it: the advisers' mean travel as a band, the
    objective and its bound to whole units (one unit is a full travel radius of distance), so that the
    difference of two solves gives back no adviser's distance."""
    out = dict(summary)
    for key in ("objective", "bound"):
        if isinstance(out.get(key), int | float):
            out[key] = float(round(out[key]))
    if isinstance(out.get("gap"), int | float):
        out["gap"] = round(out["gap"], 2)
    stats = out.get("stats")
    if isinstance(stats, Mapping) and isinstance(stats.get("mean_travel_km"), Mapping):
        travel = dict(stats["mean_travel_km"])
        if travel.get(ADVISER) is not None:
            travel[ADVISER] = band_label(travel[ADVISER])
        out["stats"] = {**stats, "mean_travel_km": travel}
    return out
