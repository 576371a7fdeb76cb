"""Place a postcode at its district's centroid when a record gives no coordinates; name the town nearest a point.

A district centroid is a few kilometres from the real address, which is well inside any travel radius a hub uses,
and the table ships with the package (CC0), so geocoding needs no network.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import numpy as np


def outcode(postcode: str) -> str:
    """The district part of a UK postcode ("PR1 8JN" -> "PR1"; "PR18JN" -> "PR1")."""
    compact = "".join(postcode.split()).upper()
    return compact[:-3] if len(compact) > 4 else compact


@cache
def _centroids() -> dict[str, tuple[float, float]]:
    return {code: (lat, lon) for code, _, lat, lon in districts()}


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


def _unit(lat: Any, lon: Any) -> np.ndarray:
    """Points on the unit sphere: chord order is great-circle order, so a KD-tree finds the nearest."""
    phi, lam = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


@cache
def _district_tree() -> tuple[Any, tuple[str, ...]]:
    """A KD-tree over the district centres, built once, and their towns."""
    from scipy.spatial import cKDTree

    rows = districts()
    return cKDTree(_unit([r[2] for r in rows], [r[3] for r in rows])), tuple(r[1] for r in rows)


def nearest_towns(lat: Sequence[float], lon: Sequence[float]) -> list[str]:
    """The town of the postcode district whose centre is nearest each point (one KD-tree query for all)."""
    if not len(lat):
        return []
    tree, towns = _district_tree()
    _, nearest = tree.query(_unit(lat, lon))
    return [towns[i] for i in np.atleast_1d(nearest)]
