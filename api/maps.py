"""The hub map of a round, drawn by the server: districts and towns under the schools, partners and pairings.

One drawing (``build_map``), three renderings: an inline, interactive SVG for the page (each point a link to its
school's row, names on hover and focus, districts to zoom to, the legend in the page's HTML where it reads at
full size), and a standalone SVG or a PNG (Pillow) for a Hub Lead's report, each with its title, term, legend,
scale bar and the boundaries' attribution drawn in.

Colours are the Okabe-Ito palette, which readers with any common colour-vision deficiency can tell apart, and
every kind also differs in shape or dash, so nothing rests on colour alone.

Advisers' homes are personal data (``models.privacy``): a pairing given without a partner position is drawn as a
short stub at the school, its direction fixed by the slot and its length by the distance band, so it says the
band and nothing else. Extra marked places (``Marker``, e.g. where to recruit) are drawn in layers, each with its
own legend entry.
"""

from __future__ import annotations

import io
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from PIL import Image, ImageDraw

from api.geography import ATTRIBUTION, District, Frame, Town, districts_in, frame_around, scale_bar, towns_in
from models.privacy import BANDS

OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
LAND, SEA, BORDER, TOWN = "#f6f4ee", "#e4eef6", "#8a94a6", "#374151"
STATES = {  # a pairing's line by its state: colour, width, dash
    "proposed": (OKABE_ITO["black"], 1.2, ""), "approved": (OKABE_ITO["green"], 2.2, ""),
    "locked": (OKABE_ITO["blue"], 2.6, "7 2"), "rejected": (OKABE_ITO["vermillion"], 1.5, "3 3"),
}
KINDS = {"school": OKABE_ITO["blue"], "unmatched": OKABE_ITO["vermillion"], "cornerstone": OKABE_ITO["orange"],
         "adviser": OKABE_ITO["purple"], "marker": OKABE_ITO["sky"]}
STUB_ANGLES = (-60.0, -120.0, -30.0, -150.0)  # degrees from east, by the school's adviser slot
STUB_PX = {band.label: 9.0 + 5.0 * i for i, band in enumerate(BANDS)}


@dataclass(frozen=True)
class Place:
    """Something on the map: its id, label, kind ("school", "adviser", "cornerstone") and coordinates."""

    id: str
    label: str
    kind: str
    lat: float
    lon: float
    unmatched: bool = False
    town: str = ""


@dataclass(frozen=True)
class Pairing:
    """A proposal on the map. ``partner`` names a place; ``partner=None`` with a ``band`` draws a stub at the
    school instead (an adviser whose position the viewer may not see)."""

    school: str
    partner: str | None
    state: str
    label: str = ""
    band: str | None = None
    slot: int = 0


@dataclass(frozen=True)
class Marker:
    """An extra marked place, drawn in its ``layer`` (which is also its legend entry)."""

    label: str
    lat: float
    lon: float
    layer: str
    tag: str = ""  # a short text drawn beside the mark, e.g. its rank


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    state: str
    school: str
    label: str
    stub: bool = False


@dataclass
class HubMap:
    """The projected drawing, in pixels."""

    width: int
    height: int
    frame: Frame | None = None
    districts: Sequence[District] = ()
    towns: list[Town] = field(default_factory=list)
    points: list[tuple[float, float, Place]] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    markers: list[tuple[float, float, Marker]] = field(default_factory=list)
    scale: tuple[float, str] = (0.0, "")

    @property
    def layers(self) -> list[str]:
        return list(dict.fromkeys(m.layer for _, _, m in self.markers))


def build_map(places: list[Place], pairings: list[Pairing], markers: Sequence[Marker] = (),
              width: int = 900) -> HubMap:
    """Project the places into a ``width``-pixel frame over the districts, connect each pairing's school and
    partner (or draw its stub), and place the town labels."""
    if not places:
        return HubMap(width, width // 2)
    lat = np.array([p.lat for p in places] + [m.lat for m in markers])
    lon = np.array([p.lon for p in places] + [m.lon for m in markers])
    frame = frame_around(lat, lon, width)
    px, py = frame.project(lon, lat)
    where = {p.id: (float(a), float(b)) for p, a, b in zip(places, px, py, strict=False)}
    drawing = HubMap(frame.width, frame.height, frame, districts_in(frame))
    drawing.points = [(*where[p.id], p) for p in places]
    drawing.markers = [(float(a), float(b), m) for m, a, b in zip(markers, px[len(places):], py[len(places):],
                                                                  strict=True)]
    drawing.lines = [line for q in pairings if (line := _line(q, where)) is not None]
    drawing.towns = towns_in(frame, Counter(p.town for p in places if p.kind == "school" and p.town))
    drawing.scale = scale_bar(frame)
    return drawing


def _line(q: Pairing, where: Mapping[str, tuple[float, float]]) -> Line | None:
    if q.school not in where:
        return None
    x1, y1 = where[q.school]
    if q.partner is not None:
        if q.partner not in where:
            return None
        return Line(x1, y1, *where[q.partner], q.state, q.school, q.label)
    angle = math.radians(STUB_ANGLES[q.slot % len(STUB_ANGLES)])
    length = STUB_PX.get(q.band or "", STUB_PX[BANDS[-1].label])
    return Line(x1, y1, x1 + length * math.cos(angle), y1 + length * math.sin(angle), q.state, q.school, q.label,
                stub=True)


def legend_items(drawing: HubMap) -> list[tuple[str, str]]:
    """The legend as (key, words): a key is "point:<kind>", "line:<state>", "stub" or "layer:<name>"
    (``swatch`` draws it)."""
    items = [("point:school", "school with its partners"),
             ("point:unmatched", "school without a partner in a role"),
             ("point:cornerstone", "Cornerstone Employer's site (the one nearest the school)")]
    if any(p.kind == "adviser" for _, _, p in drawing.points):
        items.append(("point:adviser", "adviser's home (to about 1 km; admins only)"))
    if any(line.stub for line in drawing.lines):
        items.append(("stub", "adviser pairing: a stub, longer for a farther distance band"))
    items += [(f"line:{state}", f"{state} pairing") for state in STATES]
    items += [(f"layer:{layer}", layer) for layer in drawing.layers]
    return items


def swatch(key: str) -> str:
    """A legend key's small SVG picture (for the page's HTML legend and the standalone SVG)."""
    what, _, name = key.partition(":")
    if what == "line":
        return _swatch_line(name)
    if what == "stub":
        return _swatch_stub()
    return _swatch_point("marker" if what == "layer" else name)


def _swatch_point(kind: str) -> str:
    return (f'<svg class="swatch" viewBox="-8 -8 16 16" width="16" height="16" aria-hidden="true">'
            f'{_shape(0, 0, kind)}</svg>')


def _swatch_line(state: str) -> str:
    colour, width, dash = STATES[state]
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<svg class="swatch" viewBox="0 0 28 10" width="28" height="10" aria-hidden="true"><line x1="1" y1="5" '
            f'x2="27" y2="5" stroke="{colour}" stroke-width="{width}"{dashed}/></svg>')


def _swatch_stub() -> str:
    return ('<svg class="swatch" viewBox="-8 -12 20 16" width="20" height="16" aria-hidden="true">'
            f'{_shape(0, 0, "school")}<line x1="0" y1="0" x2="8" y2="-10" stroke="#000" stroke-width="1.6"/></svg>')


def _shape(x: float, y: float, kind: str, attrs: str = "") -> str:
    """A point's mark: circle (school), ring (without a partner), square (Cornerstone), triangle (adviser),
    diamond (marked place)."""
    colour = KINDS[kind]
    if kind == "school":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff" stroke-width="1"{attrs}/>'
    if kind == "unmatched":
        return (f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#fff" stroke="{colour}" stroke-width="3"'
                f'{attrs}/>')
    if kind == "cornerstone":
        return (f'<rect x="{x - 4.5:.1f}" y="{y - 4.5:.1f}" width="9" height="9" fill="{colour}" stroke="#000" '
                f'stroke-width="1"{attrs}/>')
    if kind == "adviser":
        return (f'<polygon points="{x:.1f},{y - 5.5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}" '
                f'fill="{colour}" stroke="#000" stroke-width="1"{attrs}/>')
    return (f'<polygon points="{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}" '
            f'fill="{colour}" stroke="#000" stroke-width="1"{attrs}/>')


def _kind(place: Place) -> str:
    return "unmatched" if place.kind == "school" and place.unmatched else place.kind


def to_svg(drawing: HubMap, title: str, inline: bool = False, links: Mapping[str, str] | None = None) -> str:
    """The map as SVG: ``inline`` for the page (points link to ``links[school id]``, no legend: the page writes
    it), else a standalone document with the title, the legend, the scale bar and the attribution drawn in."""
    legend = [] if inline else legend_items(drawing)
    head = 34 if not inline else 0
    foot = 24 + 22 * math.ceil(len(legend) / 2) if not inline else 0
    height = drawing.height + head + foot
    size = "" if inline else f' width="{drawing.width}" height="{height}"'
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {drawing.width} {height}"{size} '
             f'id="hubmap" class="hubmap" role="group" aria-labelledby="hubmap-title" '
             f'data-box="0 0 {drawing.width} {height}">',
             f'<title id="hubmap-title">{escape(title)}</title>',
             f'<rect width="100%" height="100%" fill="{SEA}"/>']
    if head:
        parts.append(f'<text x="12" y="23" font-size="18" font-weight="700" font-family="sans-serif" '
                     f'fill="#0f172a">{escape(title)}</text>')
    parts.append(f'<g transform="translate(0 {head})">')
    parts.append('<g class="districts">')
    for d in drawing.districts:
        box = " ".join(f"{v:.0f}" for v in d.box)
        parts.append(f'<path d="{d.path}" fill="{LAND}" stroke="{BORDER}" stroke-width="0.8" class="district" '
                     f'data-district="{escape(d.code)}" data-name={quoteattr(d.name)} data-box="{box}">'
                     f'<title>{escape(d.name)}</title></path>')
    parts.append("</g>")
    parts.append(_svg_towns(drawing.towns))
    parts.append('<g class="lines">')
    for line in drawing.lines:
        colour, width, dash = STATES[line.state]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{line.x1:.1f}" y1="{line.y1:.1f}" x2="{line.x2:.1f}" y2="{line.y2:.1f}" '
                     f'stroke="{colour}" stroke-width="{width}"{dashed} stroke-linecap="round" '
                     f'class="pair {line.state}{" stub" if line.stub else ""}" data-school={quoteattr(line.school)}>'
                     f'<title>{escape(line.label)}</title></line>')
    parts.append("</g>")
    parts.append(_svg_points(drawing, inline, links or {}))
    parts.append(_svg_scale(drawing))
    parts.append("</g>")
    y = head + drawing.height
    if not inline:  # the page writes the attribution under its map, at a readable size
        parts.append(f'<text x="{drawing.width - 8}" y="{y + 14}" font-size="9" text-anchor="end" '
                     f'font-family="sans-serif" fill="#374151" class="attribution">{escape(ATTRIBUTION)}</text>')
    for i, (key, text) in enumerate(legend):
        lx, ly = 12 + (i % 2) * (drawing.width // 2), y + 34 + 22 * (i // 2)
        inner = swatch(key).replace('<svg class="swatch"', f'<svg x="{lx}" y="{ly - 12}"')
        parts.append(f'{inner}<text x="{lx + 34}" y="{ly}" font-size="13" font-family="sans-serif" '
                     f'fill="#0f172a">{escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _svg_towns(towns: list[Town]) -> str:
    out = ['<g class="towns" aria-hidden="true">']
    for town in towns:
        out.append(f'<text x="{town.x:.1f}" y="{town.y:.1f}" text-anchor="middle" font-size="15" '
                   f'font-family="sans-serif" font-weight="600" fill="{TOWN}" stroke="{LAND}" stroke-width="3" '
                   f'paint-order="stroke" class="town">{escape(town.name)}</text>')
    out.append("</g>")
    return "\n".join(out)


def _svg_points(drawing: HubMap, inline: bool, links: Mapping[str, str]) -> str:
    out = ['<g class="points">']
    for x, y, place in sorted(drawing.points, key=lambda p: p[2].kind == "school"):  # schools on top
        name = f"{place.label}" + (f", {place.town}" if place.town else "")
        if inline and place.kind == "school":
            href = links.get(place.id, f"#school-{place.id}")
            out.append(f'<a href={quoteattr(href)} id={quoteattr("pt-" + place.id)} class="pt {_kind(place)}" '
                       f'data-school={quoteattr(place.id)} aria-label={quoteattr(name)}>'
                       f'{_shape(x, y, _kind(place))}<title>{escape(name)}</title></a>')
        else:
            out.append(f'<g class="pt {_kind(place)}" data-id={quoteattr(place.id)}>{_shape(x, y, _kind(place))}'
                       f'<title>{escape(name)}</title></g>')
    for x, y, marker in drawing.markers:
        tag = (f'<text x="{x + 8:.1f}" y="{y + 4:.1f}" font-size="12" font-weight="700" font-family="sans-serif" '
               f'fill="#000" stroke="#fff" stroke-width="3" paint-order="stroke">{escape(marker.tag)}</text>'
               if marker.tag else "")
        out.append(f'<g class="pt marker" data-layer={quoteattr(marker.layer)}>{_shape(x, y, "marker")}{tag}'
                   f'<title>{escape(marker.layer)}: {escape(marker.label)}</title></g>')
    out.append("</g>")
    return "\n".join(out)


def _svg_scale(drawing: HubMap) -> str:
    px, label = drawing.scale
    if not px:
        return ""
    x, y = 14.0, drawing.height - 14.0
    return (f'<g class="scale-bar" aria-label="scale: {label}"><rect x="{x - 4}" y="{y - 18}" width="{px + 8:.1f}" '
            f'height="26" fill="#ffffff" opacity="0.85"/><path d="M{x},{y - 4} V{y} H{x + px:.1f} V{y - 4}" '
            f'fill="none" stroke="#000" stroke-width="1.5"/><text x="{x + px / 2:.1f}" y="{y - 7}" font-size="14" '
            f'text-anchor="middle" font-family="sans-serif">{label}</text></g>')


def to_png(drawing: HubMap, title: str = "", scale: int = 2) -> bytes:
    """The same map as a PNG (``scale`` times the SVG's pixels, for print), with its title, legend, scale bar and
    attribution."""
    legend = legend_items(drawing)
    head, foot = 34, 24 + 22 * math.ceil(len(legend) / 2)
    image = Image.new("RGB", (drawing.width * scale, (drawing.height + head + foot) * scale), SEA)
    pen = ImageDraw.Draw(image)

    def at(x: float, y: float) -> tuple[float, float]:
        return x * scale, (y + head) * scale

    for district in drawing.districts:
        for ring in district.rings:
            pen.polygon([at(x, y) for x, y in ring], fill=LAND, outline=BORDER)
    for town in drawing.towns:
        pen.text(at(town.x, town.y), town.name, fill=TOWN, font_size=15 * scale, anchor="ms")
    for line in drawing.lines:
        colour, width, _ = STATES[line.state]
        pen.line([at(line.x1, line.y1), at(line.x2, line.y2)], fill=colour, width=max(1, round(width * scale)))
    for x, y, place in drawing.points:
        _png_point(pen, *at(x, y), _kind(place), scale)
    for x, y, _ in drawing.markers:
        _png_point(pen, *at(x, y), "marker", scale)
    px, label = drawing.scale
    if px:
        x0, y0 = at(14, drawing.height - 14)
        pen.line([(x0, y0 - 4 * scale), (x0, y0), (x0 + px * scale, y0), (x0 + px * scale, y0 - 4 * scale)],
                 fill="#000000", width=max(1, scale))
        pen.text((x0 + px * scale / 2, y0 - 7 * scale), label, fill="#000000", font_size=11 * scale, anchor="ms")
    pen.text((12 * scale, 23 * scale), title, fill="#0f172a", font_size=18 * scale, anchor="ls")
    bottom = (head + drawing.height) * scale
    pen.text(((drawing.width - 8) * scale, bottom + 14 * scale), ATTRIBUTION, fill="#374151", font_size=9 * scale,
             anchor="rs")
    for i, (key, text) in enumerate(legend):
        lx, ly = (12 + (i % 2) * (drawing.width // 2)) * scale, bottom + (34 + 22 * (i // 2)) * scale
        _png_swatch(pen, lx, ly, key, scale)
        pen.text((lx + 34 * scale, ly), text, fill="#0f172a", font_size=13 * scale, anchor="ls")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _png_point(pen: ImageDraw.ImageDraw, x: float, y: float, kind: str, scale: int) -> None:
    r = 5 * scale
    colour = KINDS[kind]
    if kind == "school":
        pen.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline="#ffffff")
    elif kind == "unmatched":
        pen.ellipse([x - r, y - r, x + r, y + r], fill="#ffffff", outline=colour, width=3 * scale)
    elif kind == "cornerstone":
        pen.rectangle([x - r, y - r, x + r, y + r], fill=colour, outline="#000000")
    elif kind == "adviser":
        pen.polygon([(x, y - r), (x + r, y + r), (x - r, y + r)], fill=colour, outline="#000000")
    else:
        pen.polygon([(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=colour, outline="#000000")


def _png_swatch(pen: ImageDraw.ImageDraw, x: float, y: float, key: str, scale: int) -> None:
    what, _, name = key.partition(":")
    if what == "line":
        colour, width, _ = STATES[name]
        pen.line([(x, y - 5 * scale), (x + 28 * scale, y - 5 * scale)], fill=colour, width=max(1, round(width * scale)))
        return
    _png_point(pen, x + 8 * scale, y - 5 * scale, "marker" if what == "layer" else (name or "school"), scale)
    if what == "stub":
        pen.line([(x + 8 * scale, y - 5 * scale), (x + 16 * scale, y - 15 * scale)], fill="#000000", width=scale)
