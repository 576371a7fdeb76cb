"""Great-circle geometry on numpy arrays, and the radius query that finds every candidate pair.

Points live on the unit sphere: the chord between two points grows monotonically with their great-circle distance
(chord = 2 sin(d / 2R)), so "within d km" is exactly "within that chord", and the chord is an exact Euclidean
distance in three dimensions. ``pairs_within`` answers the radius query with a grid of tiles in numpy alone: no
spatial index library to import (scipy.spatial cost 0.25-0.4 s of every national solve), and no Python object per
pair.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088
TILE = 1 << 16  # distances computed at once: a tile's temporaries stay in the CPU cache and memory stays bounded
MARGIN = 1e-12  # widens the cell search, never the exact test: covers the round-off of the projection


def unit_vectors(lat: npt.ArrayLike, lon: npt.ArrayLike) -> np.ndarray:
    """(n, 3) points on the unit sphere, the space in which chord length orders great-circle distance."""
    phi, lam = np.radians(np.asarray(lat, dtype=np.float64)), np.radians(np.asarray(lon, dtype=np.float64))
    return np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])


def chord(km: npt.ArrayLike) -> np.ndarray:
    """The chord on the unit sphere that spans a great-circle distance of ``km``."""
    return 2.0 * np.sin(np.minimum(np.asarray(km, dtype=np.float64) / EARTH_RADIUS_KM, np.pi) / 2.0)


def km_of_chord(chords: npt.ArrayLike) -> np.ndarray:
    """The great-circle distance in km spanned by chords on the unit sphere (the inverse of ``chord``)."""
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.minimum(np.asarray(chords, dtype=np.float64) / 2.0, 1.0))


def haversine_km(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike) -> np.ndarray:
    """Element-wise great-circle distance in km between two aligned arrays of points."""
    p1, l1, p2, l2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def pairs_within(a: np.ndarray, b: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, km) for every unit vector ``a[i]`` within chord ``reach[j]`` of ``b[j]``, sorted by (i, j); km is the
    great-circle distance of their chord, computed tile by tile while the tile is in cache.

    The test is exact, ``|a[i] - b[j]| <= reach[j]`` in three dimensions (the sum of squares in x, y, z order, as
    a KD-tree computes it); the grid only chooses which pairs to test. Both sides are projected onto the plane
    tangent to their mean direction: a projection never lengthens a distance, so a pair within reach lies within
    ``reach`` in each projected coordinate, and each ``b[j]`` is listed in every cell of side ``cell_size`` its
    square of half-side ``reach[j]`` touches. A point's own reach decides its cells, so one long-distance volunteer
    widens nobody else's search. Each cell's ``a`` points are then tested against the ``b`` points listed there
    as one dense tile of at most ``TILE`` distances (more only when one cell lists more points).
    Indices are int32 (int64 from 2**31 points on).
    """
    index = np.int32 if max(len(a), len(b)) < 2**31 else np.int64
    if not len(a) or not len(b):
        return np.zeros(0, dtype=index), np.zeros(0, dtype=index), np.zeros(0)
    plane = _tangent_plane(a.sum(axis=0) + b.sum(axis=0))
    ua, ub = a @ plane.T, b @ plane.T
    origin, size = ua.min(axis=0), cell_size(ua, reach)
    cells = np.floor((ua - origin) / size).astype(np.int64)
    shape = cells.max(axis=0) + 1
    order = np.argsort(cells[:, 0] * shape[1] + cells[:, 1], kind="stable")
    keys, first = np.unique((cells[:, 0] * shape[1] + cells[:, 1])[order], return_index=True)
    bounds = np.append(first, len(a))
    listed, runs = _listings(ub, reach, origin, size, shape, keys, len(b))
    a_sorted = a[order]
    counts = np.zeros(len(a), dtype=np.int64)  # pairs of each ``a`` point, by sorted position
    pieces: list[tuple[int, int, np.ndarray, np.ndarray]] = []
    for c in range(len(keys)):
        sites = listed[runs[c] : runs[c + 1]].astype(index)
        if not len(sites):
            continue
        b_sites, reach_sites = b[sites], reach[sites]
        step = max(1, TILE // len(sites))
        for lo in range(bounds[c], bounds[c + 1], step):
            hi = min(lo + step, bounds[c + 1])
            counts[lo:hi], j, d = _tile(a_sorted[lo:hi], b_sites, reach_sites, sites)
            pieces.append((lo, hi, j, d))
    return _by_first_index(order, counts, pieces, index)


def cell_size(points: np.ndarray, reach: np.ndarray) -> float:
    """Side of a grid cell: half the median reach, so that the cells a point lists cover about twice its disc
    (a smaller cell tests fewer pairs but makes more, smaller tiles), and no smaller than eight ``points`` per cell
    of their bounding box would give: sparse points make small tiles, whose numpy calls cost more than their
    arithmetic (and tiny reaches over a wide area would list each other point in a great many empty cells)."""
    extent = np.maximum(points.max(axis=0) - points.min(axis=0), 1e-9)
    sparse = float(np.sqrt(8.0 * extent[0] * extent[1] / len(points)))
    return max(float(np.median(reach)) / 2.0, sparse, 1e-9)


def _tangent_plane(direction: np.ndarray) -> np.ndarray:
    """(2, 3) orthonormal rows spanning the plane perpendicular to ``direction`` (any plane if it is zero)."""
    norm = float(np.linalg.norm(direction))
    m = direction / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])
    helper = np.eye(3)[int(np.argmin(np.abs(m)))]
    e1 = np.cross(m, helper)
    e1 /= np.linalg.norm(e1)
    return np.vstack([e1, np.cross(m, e1)])


def _listings(
    ub: np.ndarray, reach: np.ndarray, origin: np.ndarray, size: float, shape: np.ndarray, keys: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``b`` points listed in each occupied cell (``keys``), sorted by index within the cell, and where each
    cell's run starts: one entry per (cell, point) whose reach square touches the cell."""
    r = (reach * (1.0 + MARGIN) + MARGIN)[:, None]
    lo = np.maximum(np.floor((ub - r - origin) / size), 0).astype(np.int64)
    hi = np.minimum(np.floor((ub + r - origin) / size), shape - 1).astype(np.int64)
    span = np.maximum(hi - lo + 1, 0)
    per_point = span[:, 0] * span[:, 1]
    point = np.repeat(np.arange(n, dtype=np.int64), per_point)
    k = np.arange(len(point)) - np.repeat(np.cumsum(per_point) - per_point, per_point)
    width = span[point, 1]
    key = (lo[point, 0] + k // width) * shape[1] + lo[point, 1] + k % width
    cell = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
    hit = keys[cell] == key
    entries = np.sort(cell[hit] * n + point[hit])
    runs = np.searchsorted(entries, np.arange(len(keys) + 1) * n)
    return entries % n, runs


def _tile(
    a: np.ndarray, b: np.ndarray, reach: np.ndarray, ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One dense tile: how many columns are within reach of each row, and their ids and km, row by row."""
    d2 = np.subtract.outer(a[:, 0], b[:, 0])
    d2 *= d2
    t = np.subtract.outer(a[:, 1], b[:, 1])
    t *= t
    d2 += t
    np.subtract.outer(a[:, 2], b[:, 2], out=t)
    t *= t
    d2 += t
    np.sqrt(d2, out=d2)
    near = d2 <= reach
    return np.count_nonzero(near, axis=1), np.broadcast_to(ids, near.shape)[near], km_of_chord(d2[near])


def _by_first_index(
    order: np.ndarray, counts: np.ndarray, pieces: list[tuple[int, int, np.ndarray, np.ndarray]], index: type
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs found tile by tile (``pieces`` of rows ``lo:hi`` of the ``a`` points sorted by cell, with
    ``counts`` per sorted row) regrouped by ``a`` index. Each point's run of pairs moves whole, into arrays
    allocated once, and each piece is released as soon as it is placed: the pieces and the result are all that is
    ever held."""
    per_point = np.empty(len(order), dtype=np.int64)
    per_point[order] = counts
    start = np.cumsum(per_point) - per_point
    total = int(per_point.sum())
    j_out: np.ndarray = np.empty(total, dtype=index)
    d_out = np.empty(total)
    row_start = start[order]  # where each sorted row's run goes
    pieces.reverse()
    while pieces:
        lo, hi, j, d = pieces.pop()
        n = counts[lo:hi]
        at = np.repeat(row_start[lo:hi] - (np.cumsum(n) - n), n) + np.arange(len(j))
        j_out[at], d_out[at] = j, d
    return np.repeat(np.arange(len(order), dtype=index), per_point), j_out, d_out
