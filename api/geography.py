"""The geography under a hub's map: England's local authority districts and the towns of the postcode districts.

The boundaries ship with the package, thinned once from the published GeoJSON (``thin``; ``api/data/README.md``
names the source, its licence and the attribution every drawing carries). A map asks for the districts in its
frame: they are clipped to the frame, projected to the map's pixels and simplified to half a pixel there, so a
hub's map holds only the few thousand points it can show. Shapely does the geometry, vectorised over each shape's
coordinates.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

from models.geocode import districts as postcode_districts

BOUNDARIES = "data/england_lad_2013.geojson"
ATTRIBUTION = ("Boundaries: UK-GeoJSON by Martin Chorley (CC BY 4.0, github.com/martinjc/UK-GeoJSON). "
               "Contains Ordnance Survey data © Crown copyright and database right 2014.")
THIN_DEGREES = 0.002  # about 140 x 220 m: under two pixels of a hub's map, a fifth of the published file


@dataclass(frozen=True)
class Frame:
    """The part of the earth a map shows and how it is drawn: degrees to pixels, equirectangular about the
    frame's middle latitude (faithful at a hub's scale)."""

    west: float
    south: float
    east: float
    north: float
    scale: float  # pixels per degree of latitude
    margin: float

    @property
    def stretch(self) -> float:
        return float(np.cos(np.radians((self.south + self.north) / 2)))

    @property
    def width(self) -> int:
        return round((self.east - self.west) * self.stretch * self.scale + 2 * self.margin)

    @property
    def height(self) -> int:
        return round((self.north - self.south) * self.scale + 2 * self.margin)

    def project(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudes and latitudes to pixel x and y (y down)."""
        return ((lon - self.west) * self.stretch * self.scale + self.margin,
                (self.north - lat) * self.scale + self.margin)

    @property
    def km_per_pixel(self) -> float:
        return 111.32 / self.scale


def frame_around(lat: np.ndarray, lon: np.ndarray, width: int, margin: float = 16.0, pad: float = 0.08) -> Frame:
    """The frame ``width`` pixels wide that holds these points with a little land around them."""
    south, north, west, east = float(lat.min()), float(lat.max()), float(lon.min()), float(lon.max())
    dlat, dlon = max(north - south, 0.02), max(east - west, 0.03)
    south, north, west, east = south - pad * dlat, north + pad * dlat, west - pad * dlon, east + pad * dlon
    stretch = float(np.cos(np.radians((south + north) / 2)))
    scale = (width - 2 * margin) / ((east - west) * stretch)
    return Frame(west, south, east, north, scale, margin)


@dataclass(frozen=True)
class District:
    """A local authority district as drawn: its code, name, SVG path in pixels and pixel bounding box."""

    code: str
    name: str
    path: str
    rings: tuple[np.ndarray, ...]  # each ring's pixel coordinates, for the PNG
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


@cache
def _boundaries() -> tuple[tuple[str, str, shapely.Geometry], ...]:
    text = (Path(__file__).parent / BOUNDARIES).read_text(encoding="utf-8")  # shipped beside this module
    features = json.loads(text)["features"]
    return tuple((f["properties"]["code"], f["properties"]["name"], shape(f["geometry"])) for f in features)


@lru_cache(maxsize=32)
def districts_in(frame: Frame) -> tuple[District, ...]:
    """The districts that reach into the frame, clipped to it, in pixels, simplified to half a pixel."""
    pad = 0.02
    west, south, east, north = frame.west - pad, frame.south - pad, frame.east + pad, frame.north + pad
    window = shapely.box(west, south, east, north)
    out = []
    for code, name, geometry in _boundaries():
        if not geometry.intersects(window):
            continue
        clipped = shapely.clip_by_rect(geometry, west, south, east, north)
        drawn = shapely.transform(clipped, _projector(frame)).simplify(0.5)
        rings = _rings(drawn)
        if not rings:
            continue
        x0, y0, x1, y1 = drawn.bounds
        out.append(District(code, name, _path(rings), tuple(rings), (x0, y0, x1, y1)))
    return tuple(out)


def _projector(frame: Frame) -> Callable[[np.ndarray], np.ndarray]:
    def project(coords: np.ndarray) -> np.ndarray:
        x, y = frame.project(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])
    return project


def _rings(geometry: shapely.Geometry) -> list[np.ndarray]:
    rings = []
    for part in shapely.get_parts(geometry):
        if part.geom_type != "Polygon" or part.is_empty:
            continue
        rings.append(np.asarray(part.exterior.coords))
        rings += [np.asarray(hole.coords) for hole in part.interiors]
    return [r for r in rings if len(r) >= 4]


def _path(rings: Iterable[np.ndarray]) -> str:
    return " ".join("M" + " ".join(f"{x:.1f},{y:.1f}" for x, y in ring[:-1]) + "Z" for ring in rings)


@dataclass(frozen=True)
class Town:
    name: str
    x: float
    y: float
    schools: int


def towns_in(frame: Frame, school_towns: Counter[str], most: int = 24) -> list[Town]:
    """Labels for the towns with the most schools on the map, each placed at the middle of its postcode
    districts in the frame; a label that would overlap one already placed is left out."""
    table = [(town, lat, lon) for _, town, lat, lon in postcode_districts()
             if town in school_towns and frame.south <= lat <= frame.north and frame.west <= lon <= frame.east]
    if not table:
        return []
    names = np.array([t for t, _, _ in table])
    x, y = frame.project(np.array([lon for _, _, lon in table]), np.array([lat for _, lat, _ in table]))
    placed: list[Town] = []
    boxes: list[tuple[float, float, float, float]] = []
    for town, count in school_towns.most_common():
        where = names == town
        if not where.any():
            continue
        tx, ty = float(x[where].mean()), float(y[where].mean()) - 8.0  # above the schools it names
        box = (tx - 3.6 * len(town), ty - 14, tx + 3.6 * len(town), ty + 2)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in boxes):
            continue
        placed.append(Town(town, tx, ty, count))
        boxes.append(box)
        if len(placed) == most:
            break
    return placed


def scale_bar(frame: Frame, longest_px: float = 120.0) -> tuple[float, str]:
    """A round length in km whose bar is at most ``longest_px`` pixels: its pixels and its label."""
    fits = longest_px * frame.km_per_pixel
    km = max((k for k in (1, 2, 5, 10, 20, 50, 100, 200) if k <= fits), default=1)
    return km / frame.km_per_pixel, f"{km} km"


def thin(source: Path, target: Path, tolerance: float = THIN_DEGREES) -> int:
    """Write the package's boundaries from the published GeoJSON: simplified to ``tolerance`` degrees, rounded to
    three decimals, made valid again; returns the bytes written. Run once when the source changes:
    ``python -c "from pathlib import Path; from api.geography import thin; thin(Path(SRC), Path(DST))"``."""
    features = []
    for feature in json.loads(source.read_text(encoding="utf-8"))["features"]:
        geometry = shape(feature["geometry"]).simplify(tolerance, preserve_topology=True)
        geometry = shapely.make_valid(shapely.transform(geometry, lambda c: np.round(c, 3)))
        parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > 0]
        features.append({"type": "Feature", "properties": {k: feature["properties"][k] for k in ("code", "name")},
                         "geometry": shapely.geometry.mapping(shapely.union_all(parts))})
    text = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))
    target.write_text(text, encoding="utf-8")
    return len(text)
