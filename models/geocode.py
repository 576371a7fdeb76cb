"""Place a postcode at its district's centroid when a record gives no coordinates.

A district centroid is a few kilometres from the real address, which is well inside any travel radius a hub uses,
and the table ships with the package (CC0), so geocoding needs no network.
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources


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
def _towns() -> dict[str, str]:
    table = resources.files("models").joinpath("data/uk_outcodes.csv")
    with table.open(encoding="utf-8") as handle:
        # a district the table names no town for is named by its area (OL12 -> Rochdale)
        return {row["postcode"].upper(): row["town"] or row["region"] for row in csv.DictReader(handle)
                if row["town"] or row["region"]}


def town(postcode: str | None) -> str | None:
    """The town of a postcode's district ("PR1 8JN" -> "Preston"), or None when the postcode or its district is
    unknown: what a message names of where a school is."""
    return _towns().get(outcode(postcode)) if postcode else None
