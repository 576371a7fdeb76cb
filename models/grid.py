"""British National Grid eastings and northings (EPSG:27700, as the DfE register gives them) to WGS84 degrees.

pyproj's transformation is built once per process and applied to whole arrays: converting a 50,000-row register is
one call. Without the OSTN15 grid file (which pyproj fetches only on request) PROJ uses the published 7-parameter
Helmert transformation, good to about 5 m across Great Britain, far inside a travel radius.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

# The grid's extent (the projection's bounds): anything outside is not a position in Great Britain.
MAX_EASTING = 700_000
MAX_NORTHING = 1_300_000


@cache
def _transformer() -> Transformer:
    return Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)


def to_wgs84(eastings: ArrayLike, northings: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitudes and longitudes (degrees) of grid references in metres, element by element."""
    east = np.asarray(eastings, dtype=np.float64)
    north = np.asarray(northings, dtype=np.float64)
    lon, lat = _transformer().transform(east, north)
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def on_grid(easting: float, northing: float) -> bool:
    """Whether a grid reference lies inside the National Grid (0 is how the register writes "unknown")."""
    return 0 < easting < MAX_EASTING and 0 < northing < MAX_NORTHING
