"""Place a postcode at its district's centroid when a record gives no coordinates; name the town nearest a point.

A district centroid is a few kilometres from the real address, which is well inside any travel radius a hub uses,
and the table ships with the package (CC0), so geocoding needs no network.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import cache
from importlib import resources

import numpy as np


def outcode(postcode: str) -> str:
    """The district part of a UK postcode ("PR1 8JN" -> "PR1"; "PR18JN" -> "PR1")."""
    compact = "".join(postcode.split()).upper()
    return compact[:-3] if len(compact) > 4 else compact


@cache
def _centroids() -> dict[str, tuple[float, float]]:
    table = resources.files("models").joinpath("data/uk_outcodes.csv")
    with table.open(encoding="utf-8") as handle:
        return {
            row["postcode"].upper(): (float(row["latitude"]), float(row["longitude"])) for row in csv.DictReader(handle)
        }


def locate(postcode: str) -> tuple[float, float] | None:
    """Latitude and longitude of the postcode's district centroid, or None when the district is unknown."""
    return _centroids().get(outcode(postcode))


@cache
def districts() -> tuple[tuple[str, str, float, float], ...]:
    """Every postcode district as (outcode, town, latitude, longitude): what the map labels towns from. A district
    the table names no town for is named by its area (OL12 -> Rochdale)."""
    table = resources.files("models").joinpath("data/uk_outcodes.csv")
    with table.open(encoding="utf-8") as handle:
        return tuple((row["postcode"].upper(), row["town"] or row["region"], float(row["latitude"]),
                      float(row["longitude"])) for row in csv.DictReader(handle))


@cache
def towns() -> dict[str, str]:
    """The town of each postcode district that has one ("PR1" -> "Preston")."""
    return {code: town for code, town, _, _ in districts() if town}


def town(postcode: str | None) -> str | None:
    """The town of a postcode's district ("PR1 8JN" -> "Preston"), or None when the postcode or its district is
    unknown: what a message names of where a school is."""
    return towns().get(outcode(postcode)) if postcode else None


@cache
def _district_points() -> tuple[np.ndarray, tuple[str, ...]]:
    """District centres as points on the unit sphere (chord order is great-circle order) and their towns."""
    rows = districts()
    lat = np.radians(np.array([r[2] for r in rows]))
    lon = np.radians(np.array([r[3] for r in rows]))
    xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    return xyz, tuple(r[1] for r in rows)

def nearest_towns(lat: Sequence[float], lon: Sequence[float]) -> list[str]:
    """The town of the postcode district whose centre is nearest each point (one KD-tree query for all)."""
    if not len(lat):
        return []
    from scipy.spatial import cKDTree

    xyz, towns = _district_points()
    phi, lam = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    points = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    _, nearest = cKDTree(xyz).query(points)
    return [towns[i] for i in np.atleast_1d(nearest)]
