"""The hub map of a round, drawn by the server: schools, partners and proposed pairings, as SVG or PNG.

There are no map tiles (no network), so the map is a plain projection of the points: longitude scaled by the
cosine of the hub's mean latitude (equirectangular, faithful at hub scale), the schools' extent drawn as its
convex hull. One geometry, two renderings: SVG for the page and PNG (Pillow) for a Hub Lead's report.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw
from scipy.spatial import ConvexHull, QhullError

COLOURS = {"proposed": "#6b7280", "approved": "#15803d", "locked": "#1d4ed8", "rejected": "#b91c1c",
           "school": "#0f172a", "unmatched": "#dc2626", "adviser": "#7c3aed", "cornerstone": "#c2410c",
           "outline": "#94a3b8", "gap_adviser": "#7c3aed", "gap_cornerstone": "#c2410c"}
MARGIN = 24


@dataclass(frozen=True)
class Place:
    """Something on the map: its id, label, kind ("school", "adviser", "cornerstone", or a place to recruit one:
    "gap_adviser", "gap_cornerstone") and coordinates."""

    id: str
    label: str
    kind: str
    lat: float
    lon: float
    unmatched: bool = False


@dataclass(frozen=True)
class Pairing:
    school: str
    partner: str
    state: str


@dataclass
class HubMap:
    """Projected drawing: points and lines in pixels, the outline of the schools' extent."""

    width: int
    height: int
    points: list[tuple[float, float, Place]] = field(default_factory=list)
    lines: list[tuple[float, float, float, float, str]] = field(default_factory=list)
    outline: list[tuple[float, float]] = field(default_factory=list)


def build_map(places: list[Place], pairings: list[Pairing], width: int = 900) -> HubMap:
    """Project the places into a ``width``-pixel frame and connect each pairing's school and partner."""
    if not places:
        return HubMap(width, width // 2)
    lat = np.array([p.lat for p in places])
    lon = np.array([p.lon for p in places])
    x = (lon - lon.min()) * math.cos(math.radians(float(lat.mean())))
    y = lat.max() - lat
    span = max(float(x.max()), float(y.max()), 1e-6)
    scale = (width - 2 * MARGIN) / span
    height = int(float(y.max()) * scale) + 2 * MARGIN
    px, py = x * scale + MARGIN, y * scale + MARGIN
    where = {p.id: (float(a), float(b)) for p, a, b in zip(places, px, py, strict=True)}
    drawing = HubMap(width, max(height, 2 * MARGIN + 40))
    drawing.points = [(where[p.id][0], where[p.id][1], p) for p in places]
    drawing.lines = [(*where[q.school], *where[q.partner], q.state) for q in pairings
                     if q.school in where and q.partner in where]
    drawing.outline = _hull([(where[p.id]) for p in places if p.kind == "school"])
    return drawing


def _hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        return points
    try:
        hull = ConvexHull(np.array(points))
    except QhullError:
        return []
    return [points[i] for i in hull.vertices]


def to_svg(drawing: HubMap, title: str) -> str:
    """The map as a standalone SVG document with a title and a legend."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {drawing.width} {drawing.height + 30}" '
             f'width="{drawing.width}" height="{drawing.height + 30}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>", '<rect width="100%" height="100%" fill="#ffffff"/>']
    if drawing.outline:
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in drawing.outline)
        parts.append(f'<polygon points="{pts}" fill="#f1f5f9" stroke="{COLOURS["outline"]}" stroke-dasharray="4 3"/>')
    for x1, y1, x2, y2, state in drawing.lines:
        dash = ' stroke-dasharray="3 3"' if state == "rejected" else ""
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{COLOURS[state]}" '
                     f'stroke-width="1.5" opacity="0.8" class="pair {state}"{dash}/>')
    for x, y, place in drawing.points:
        parts.append(_svg_point(x, y, place))
    parts.append(_svg_legend(drawing.height + 18, _legend(drawing)))
    parts.append("</svg>")
    return "\n".join(parts)


def _svg_point(x: float, y: float, place: Place) -> str:
    label = f"<title>{escape(place.label)} ({escape(place.id)})</title>"
    if place.kind in GAPS:  # a place to recruit: a ring with its rank
        rank = escape(place.id.rsplit("-", 1)[-1])
        return (f'<g class="{place.kind}"><circle cx="{x:.1f}" cy="{y:.1f}" r="9" fill="#ffffff" '
                f'stroke="{COLOURS[place.kind]}" stroke-width="2.5"/><text x="{x:.1f}" y="{y + 4:.1f}" '
                f'font-size="11" font-weight="bold" text-anchor="middle" font-family="sans-serif" '
                f'fill="{COLOURS[place.kind]}">{rank}</text>{label}</g>')
    if place.kind == "school":
        colour = COLOURS["unmatched"] if place.unmatched else COLOURS["school"]
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}" class="school">{label}</circle>'
    colour = COLOURS[place.kind]
    return (f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}" '
            f'class="{place.kind}">{label}</rect>')


GAPS = ("gap_adviser", "gap_cornerstone")
GAP_LEGEND = [("gap_adviser", "recruit an adviser here"), ("gap_cornerstone", "recruit an employer here")]
LEGEND = [("school", "school"), ("unmatched", "school without a partner"), ("adviser", "adviser"),
          ("cornerstone", "Cornerstone Employer"), ("proposed", "proposed"), ("approved", "approved"),
          ("locked", "locked"), ("rejected", "rejected")]


def _legend(drawing: HubMap) -> list[tuple[str, str]]:
    """The legend, with the recruitment places' keys when the map shows any."""
    shown = {p.kind for _, _, p in drawing.points}
    return LEGEND + [(key, text) for key, text in GAP_LEGEND if key in shown]


def _svg_legend(y: float, legend: list[tuple[str, str]]) -> str:
    out, x = [], 10.0
    for key, text in legend:
        out.append(f'<rect x="{x:.0f}" y="{y - 8:.0f}" width="10" height="10" fill="{COLOURS[key]}"/>'
                   f'<text x="{x + 14:.0f}" y="{y + 1:.0f}" font-size="11" font-family="sans-serif">{text}</text>')
        x += 14 + 7 * len(text) + 14
    return "".join(out)


def to_png(drawing: HubMap, scale: int = 2) -> bytes:
    """The same map as a PNG (``scale`` times the SVG's pixels, for print)."""
    image = Image.new("RGB", (drawing.width * scale, (drawing.height + 30) * scale), "white")
    pen = ImageDraw.Draw(image)
    if len(drawing.outline) >= 3:
        pen.polygon([(a * scale, b * scale) for a, b in drawing.outline], fill="#f1f5f9", outline=COLOURS["outline"])
    for x1, y1, x2, y2, state in drawing.lines:
        pen.line([(x1 * scale, y1 * scale), (x2 * scale, y2 * scale)], fill=COLOURS[state], width=max(1, scale))
    for x, y, place in drawing.points:
        r = 4 * scale
        if place.kind in GAPS:
            ring = 9 * scale
            pen.ellipse([x * scale - ring, y * scale - ring, x * scale + ring, y * scale + ring], fill="white",
                        outline=COLOURS[place.kind], width=2 * scale)
            pen.text((x * scale, y * scale), place.id.rsplit("-", 1)[-1], fill=COLOURS[place.kind], anchor="mm",
                     font_size=11 * scale)
        elif place.kind == "school":
            colour = COLOURS["unmatched"] if place.unmatched else COLOURS["school"]
            pen.ellipse([x * scale - r, y * scale - r, x * scale + r, y * scale + r], fill=colour)
        else:
            pen.rectangle([x * scale - r, y * scale - r, x * scale + r, y * scale + r], fill=COLOURS[place.kind])
    x = 10.0 * scale
    for key, text in _legend(drawing):
        y = (drawing.height + 10) * scale
        pen.rectangle([x, y, x + 10 * scale, y + 10 * scale], fill=COLOURS[key])
        pen.text((x + 14 * scale, y), text, fill="#0f172a", font_size=11 * scale)
        x += (28 + 7 * len(text)) * scale
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
