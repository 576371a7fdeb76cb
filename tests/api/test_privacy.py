"""Advisers' homes cannot be recovered from what a non-admin reads: the trilateration attack, run for real.

A solved Lancashire round is read as a reader, a coordinator and an admin (proposals with alternatives, the round
export); every distance-like figure is turned into constraints on each adviser's home, which is then placed by
least squares (scipy): from band midpoints, and as a stronger attacker from the intersection of band annuli. The
admin's exact figures place most advisers within 50 m, so the attack works; the non-admins' place none within 1 km.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from scipy.optimize import least_squares

from matcher.geo import haversine_km
from models.privacy import AREA_DEG, BANDS, area_of

EARTH_KM = 6371.0088
RANGE = {b.label: (b.lower_km, min(b.upper_km, 60.0)) for b in BANDS}


def _xy(lat: float, lon: float, origin: tuple[float, float]) -> np.ndarray:
    """Local plane coordinates in km (equirectangular about ``origin``: exact enough at hub scale)."""
    return np.array([
        math.radians(lon - origin[1]) * math.cos(math.radians(origin[0])) * EARTH_KM,
        math.radians(lat - origin[0]) * EARTH_KM,
    ])


def _observations(who, round_id: int, list_all) -> dict[str, list[tuple[str, float | None, str | None]]]:
    """Per adviser: (school, exact km or None, band or None) from every figure the caller can read."""
    seen: dict[str, list[tuple[str, float | None, str | None]]] = defaultdict(list)
    for p in list_all(who, f"/rounds/{round_id}/proposals"):
        if p["role"] != "adviser":
            continue
        seen[p["partner_id"]].append((p["school_id"], p["distance_km"], p.get("distance_band")))
        for a in p["alternatives"]:
            seen[a["partner"]].append((p["school_id"], a["distance_km"], a.get("distance_band")))
    for row in who.get(f"/rounds/{round_id}/export?format=json").json:
        for adviser, km in zip(row["advisers"], row["adviser_km"], strict=True):
            exact = km if isinstance(km, int | float) else None
            seen[adviser].append((row["school_id"], exact, None if exact is not None else km))
    return seen


def _place(obs, schools, origin, annuli: bool) -> np.ndarray | None:
    """The least-squares position of one home: exact ranges, band midpoints, or distance outside each annulus."""
    rows = []
    for school, km, band in obs:
        centre = _xy(*schools[school], origin)
        if km is not None:
            rows.append((centre, km, km))
        elif band is not None:
            lo, hi = RANGE[band]
            rows.append((centre, lo, hi) if annuli else (centre, (lo + hi) / 2, (lo + hi) / 2))
    if len(rows) < 2:
        return None
    centres = np.array([r[0] for r in rows])
    lo, hi = np.array([r[1] for r in rows]), np.array([r[2] for r in rows])

    def residual(x: np.ndarray) -> np.ndarray:
        d = np.hypot(*(centres - x).T)
        return np.maximum(lo - d, 0) + np.maximum(d - hi, 0) if annuli else d - lo

    return least_squares(residual, centres.mean(axis=0) + 0.1).x


def _errors_km(who, review, list_all, lancs, annuli: bool) -> list[float]:
    schools = {s.id: (s.lat, s.lon) for s in lancs.schools}
    origin = (53.75, -2.70)
    homes = {a.id: _xy(a.lat, a.lon, origin) for a in lancs.advisers}
    errors = []
    for adviser, obs in _observations(who, review.round_id, list_all).items():
        guess = _place(obs, schools, origin, annuli)
        if guess is not None:
            errors.append(float(np.hypot(*(guess - homes[adviser]))))
    return errors


def _uncertainty_km(who, review, list_all, lancs) -> list[float]:
    """Per adviser the caller read figures of: how far from the true home the homes that fit them all reach.

    The attacker knows the scheme: bands are measured from the centre of the grid cell that holds the home
    (``models.privacy.area_of``), exact figures from the home. Every cell centre within 40 km (and, for exact
    figures, every point of a 100 m grid) is tested against every figure; the answer is the distance from the true
    home to the farthest home that fits (anywhere in a fitting cell). Under 1 km would mean the caller can place
    the home within a kilometre for certain, whatever guess they then make.
    """
    schools = {s.id: (s.lat, s.lon) for s in lancs.schools}
    homes = {a.id: (a.lat, a.lon) for a in lancs.advisers}
    dlat, dlon = AREA_DEG
    reach = []
    for adviser, obs in _observations(who, review.round_id, list_all).items():
        lat0, lon0 = homes[adviser]
        exact = any(km is not None for _, km, _ in obs)
        step = (0.0009, 0.0015) if exact else (dlat, dlon)  # 100 m points, or the cells' own centres
        centre = (lat0, lon0) if exact else area_of(lat0, lon0)
        lats = centre[0] + step[0] * np.arange(-400 if exact else -8, (400 if exact else 8) + 1)
        lons = centre[1] + step[1] * np.arange(-300 if exact else -8, (300 if exact else 8) + 1)
        grid_lat, grid_lon = (g.ravel() for g in np.meshgrid(lats, lons))
        fits = np.ones(grid_lat.size, dtype=bool)
        for school, km, band in obs:
            lo, hi = (km - 0.01, km + 0.01) if km is not None else RANGE[band]
            hi = 1e9 if hi >= 60.0 else hi
            d = haversine_km(grid_lat, grid_lon, *schools[school])
            fits &= (d >= lo) & (d < hi)
        far_lat, far_lon = grid_lat[fits], grid_lon[fits]
        if not exact:  # a fitting cell admits every home in it: its corners are as consistent as its centre
            far_lat = np.concatenate([far_lat + sign * dlat / 2 for sign in (-1, 1, -1, 1)])
            far_lon = np.concatenate([far_lon + sign * dlon / 2 for sign in (-1, -1, 1, 1)])
        reach.append(float(haversine_km(far_lat, far_lon, lat0, lon0).max()) if far_lat.size else 0.0)
    return reach


@pytest.fixture
def review(caller, make_hub, solve_now, lancs_raw):
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)

    class Review:
        pass

    r: Any = Review()
    r.hub, r.round_id = hub, round_id
    return r


def test_the_attack_places_advisers_from_an_admins_exact_distances(review, admin, list_all, lancs):
    errors = _errors_km(admin, review, list_all, lancs, annuli=False)
    assert len(errors) >= 60
    assert sum(e < 0.05 for e in errors) > len(errors) / 2  # the attack works on exact figures
    reach = _uncertainty_km(admin, review, list_all, lancs)
    assert sum(r < 1.0 for r in reach) > len(reach) / 2  # and exact figures pin most homes for certain


@pytest.mark.parametrize("role", ["read_only", "coordinator"])
@pytest.mark.parametrize("annuli", [False, True], ids=["midpoints", "annuli"])
def test_no_adviser_is_placed_within_a_kilometre_by_a_non_admin(review, caller, list_all, lancs, role, annuli):
    who = caller(role, review.hub)
    errors = _errors_km(who, review, list_all, lancs, annuli)
    assert len(errors) >= 60  # the attacker had figures for most advisers
    # A guess may still land near a home by chance (the centre of a 5.5 km cell is within 1 km of one home in
    # ten); what the caller can never do is place a home within a kilometre for certain:
    assert min(_uncertainty_km(who, review, list_all, lancs)) >= 2.0
    assert float(np.median(errors)) > 1.0, sorted(errors)[:5]
    assert sum(e < 0.05 for e in errors) == 0
