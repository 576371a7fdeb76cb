"""Great-circle geometry on numpy arrays (the haversine metric scikit-learn's BallTree uses)."""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088


def radians(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(n, 2) array of [lat, lon] in radians, the layout BallTree's haversine metric expects."""
    return np.radians(np.column_stack([lat, lon]).astype(np.float64))


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Element-wise great-circle distance in km between two aligned arrays of points."""
    p1, l1, p2, l2 = (np.radians(np.asarray(a, dtype=np.float64)) for a in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
