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
def _towns() -> tuple[np.ndarray, tuple[str, ...]]:
    """District centres as points on the unit sphere (chord order is great-circle order) and their towns; a
    district without a town name carries its region's, as city-centre districts often do."""
    table = resources.files("models").joinpath("data/uk_outcodes.csv")
    with table.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    lat = np.radians(np.array([float(r["latitude"]) for r in rows]))
    lon = np.radians(np.array([float(r["longitude"]) for r in rows]))
    xyz = np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
    return xyz, tuple(r["town"] or r["region"] for r in rows)


def nearest_towns(lat: Sequence[float], lon: Sequence[float]) -> list[str]:
    """The town of the postcode district whose centre is nearest each point (one KD-tree query for all)."""
    if not len(lat):
        return []
    from scipy.spatial import cKDTree

    xyz, towns = _towns()
    phi, lam = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    points = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    _, nearest = cKDTree(xyz).query(points)
    return [towns[i] for i in np.atleast_1d(nearest)]
