"""The hub map drawn by the server: geography under the points, checked against the published data, and what
a coordinator's map may say of advisers (their pairings, never their homes)."""

from __future__ import annotations

import io
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shapely.geometry import Point, Polygon, shape
from ui_harness import Served

import fixtures
from api.geography import ATTRIBUTION
from api.maps import STUB_PX, Marker, Place, build_map, legend_items, to_svg
from api.pages import town_of
from matcher.geo import haversine_km

SVG = "{http://www.w3.org/2000/svg}"
SOURCE = next((p / "shared/data/england_lad_2013.geojson" for p in Path(__file__).resolve().parents
               if (p / "shared/data/england_lad_2013.geojson").exists()), Path("shared/data/england_lad_2013.geojson"))
LANCASHIRE_DISTRICTS = {"Burnley", "Chorley", "Fylde", "Hyndburn", "Lancaster", "Pendle", "Preston",
                        "Ribble Valley", "Rossendale", "South Ribble", "West Lancashire", "Wyre"}


def signed_in(served: Served, role: str):  # type: ignore[no-untyped-def]
    client = served.app.test_client()  # type: ignore[attr-defined]
    assert client.post("/ui/login", data={"token": served.tokens[role], "next": "/ui/"}).status_code == 302
    return client


def svg_of(served: Served, role: str) -> ET.Element:
    return ET.fromstring(signed_in(served, role).get(f"/ui/rounds/{served.round_id}/map.svg").data)


def points(root: ET.Element, kind: str) -> dict[str, tuple[float, float]]:
    """The centre of each point of a kind, by its id (schools: URN; Cornerstone sites: employer@site)."""
    out = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == f"pt {kind}":
            mark = next(iter(group))
            if mark.tag == f"{SVG}circle":
                out[group.get("data-id")] = (float(mark.get("cx")), float(mark.get("cy")))
            elif mark.tag == f"{SVG}rect":
                out[group.get("data-id")] = (float(mark.get("x")) + 4.5, float(mark.get("y")) + 4.5)
            else:  # a triangle: its first corner is straight above the centre
                top = [float(v) for v in mark.get("points").split()[0].split(",")]
                out[group.get("data-id")] = (top[0], top[1] + 5.5)
    return out


def lines(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}line") if "pair" in (e.get("class") or "").split()]


def rings(d: str) -> list[Polygon]:
    return [Polygon([tuple(map(float, p.split(","))) for p in ring.split()]) for ring in re.findall(r"M([^Z]+)Z", d)]


@pytest.fixture(scope="module")
def coordinator_svg(served: Served) -> ET.Element:
    return svg_of(served, "coordinator")


def test_the_map_draws_the_districts_each_school_lies_in(coordinator_svg: ET.Element) -> None:
    if not SOURCE.exists():
        pytest.skip(f"the published boundaries are not at {SOURCE}")
    drawn = {p.get("data-name"): rings(p.get("d")) for p in coordinator_svg.iter(f"{SVG}path")
             if p.get("class") == "district"}
    assert set(drawn) >= LANCASHIRE_DISTRICTS
    source = [(f["properties"]["name"], shape(f["geometry"])) for f in json.loads(SOURCE.read_text())["features"]]
    schools = {s["id"]: s for s in fixtures.lancashire_problem()["schools"]}
    placed = points(coordinator_svg, "school") | points(coordinator_svg, "unmatched")
    assert len(placed) == 84
    inside = 0
    for urn, (x, y) in placed.items():  # the published boundary that holds the school holds its drawn point
        home = next(name for name, g in source if g.contains(Point(schools[urn]["lon"], schools[urn]["lat"])))
        here = Point(x, y)  # the path's even-odd rule, within a pixel of its edge
        inside += sum(r.contains(here) for r in drawn[home]) % 2 == 1 or min(
            r.exterior.distance(here) for r in drawn[home]) < 1.0
    assert inside == 84


def test_the_scale_bar_measures_what_the_points_are_apart(coordinator_svg: ET.Element) -> None:
    bar = next(g for g in coordinator_svg.iter(f"{SVG}g") if g.get("class") == "scale-bar")
    km = float(bar.find(f"{SVG}text").text.split()[0])
    xs = [float(v) for v in re.findall(r"H([\d.]+)", bar.find(f"{SVG}path").get("d"))]
    start = float(re.match(r"M([\d.]+)", bar.find(f"{SVG}path").get("d")).group(1))
    px_per_km = (xs[0] - start) / km
    schools = {s["id"]: s for s in fixtures.lancashire_problem()["schools"]}
    placed = points(coordinator_svg, "school") | points(coordinator_svg, "unmatched")
    ids = sorted(placed)
    for a, b in zip(ids[:40], ids[40:80], strict=True):  # pairs in every direction
        real = float(haversine_km(schools[a]["lat"], schools[a]["lon"], schools[b]["lat"], schools[b]["lon"]))
        drawn = math.dist(placed[a], placed[b]) / px_per_km
        assert abs(drawn - real) < 0.01 * real + 0.2, (a, b)


def test_towns_are_labelled_where_their_postcode_districts_are(coordinator_svg: ET.Element) -> None:
    labels = {t.text: (float(t.get("x")), float(t.get("y"))) for t in coordinator_svg.iter(f"{SVG}text")
              if t.get("class") == "town"}
    assert {"Preston", "Lancaster", "Burnley"} <= set(labels)
    schools = fixtures.lancashire_problem()["schools"]
    placed = points(coordinator_svg, "school") | points(coordinator_svg, "unmatched")
    preston = [placed[s["id"]] for s in schools if s["postcode"].startswith("PR1 ")]
    assert math.dist(labels["Preston"], np.mean(preston, axis=0)) < 60  # px: in the town, not across the hub


def test_cornerstone_lines_end_at_the_site_nearest_the_school(served: Served, coordinator_svg: ET.Element) -> None:
    employers = {e["id"]: e for e in fixtures.lancashire_problem()["employers"]}
    schools = {s["id"]: s for s in fixtures.lancashire_problem()["schools"]}
    sites = {xy: sid for sid, xy in points(coordinator_svg, "cornerstone").items()}
    ended = 0
    for line in lines(coordinator_svg):
        if "stub" in line.get("class"):
            continue
        end = (float(line.get("x2")), float(line.get("y2")))
        site = sites[min(sites, key=lambda xy: math.dist(xy, end))]
        employer, k = site.split("@")
        school = schools[line.get("data-school")]
        km = haversine_km(school["lat"], school["lon"], [s["lat"] for s in employers[employer]["sites"]],
                          [s["lon"] for s in employers[employer]["sites"]])
        assert int(k) == int(np.argmin(km)), (line.get("data-school"), employer)
        ended += 1
    multi = sum(len(e["sites"]) > 1 for e in employers.values())
    assert ended > 0 and multi > 0


def test_a_coordinators_map_shows_adviser_pairings_as_bands_at_the_school_never_a_home(
        served: Served, coordinator_svg: ET.Element) -> None:
    auth = {"Authorization": f"Bearer {served.tokens['coordinator']}"}
    proposals = signed_in(served, "coordinator").get(f"/rounds/{served.round_id}/proposals?per_page=1000",
                                                     headers=auth).json["items"]
    advisers = [p for p in proposals if p["role"] == "adviser"]
    placed = points(coordinator_svg, "school") | points(coordinator_svg, "unmatched")
    stubs = [e for e in lines(coordinator_svg) if "stub" in e.get("class")]
    assert len(stubs) == len(advisers) > 0  # every adviser pairing is drawn
    assert points(coordinator_svg, "adviser") == {}
    band = {(p["school_id"], p["distance_band"]) for p in advisers}
    lengths = {v: k for k, v in STUB_PX.items()}
    for stub in stubs:
        x1, y1, x2, y2 = (float(stub.get(a)) for a in ("x1", "y1", "x2", "y2"))
        assert math.dist((x1, y1), placed[stub.get("data-school")]) < 0.1  # it starts at the school
        length = round(math.dist((x1, y1), (x2, y2)), 0)
        assert (stub.get("data-school"), lengths[length]) in band  # its length is its band and nothing finer
        assert re.search(r": (under 5 km|5–10 km|10–20 km|20–30 km|over 30 km), ", stub.find(f"{SVG}title").text)
    text = ET.tostring(coordinator_svg, encoding="unicode")
    homes = fixtures.lancashire_problem()["advisers"]
    for a in homes:  # no adviser's coordinates anywhere in the drawing, nor an exact km to an adviser
        assert f"{a['lat']:.2f}" not in text and f"{a['lon']:.2f}" not in text
    for stub in stubs:
        assert not re.search(r"\d+\.\d km", stub.find(f"{SVG}title").text)


def test_the_inline_page_map_keeps_the_same_privacy(served: Served) -> None:
    page = signed_in(served, "read_only").get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    inline = ET.fromstring(re.search(r'<svg xmlns.*?</svg>', page, re.S).group(0))
    assert points(inline, "adviser") == {}
    assert all("stub" in e.get("class") for e in lines(inline) if "adviser" in (e.find(f"{SVG}title").text or ""))


def test_an_admins_map_places_advisers_to_about_a_kilometre(served: Served) -> None:
    root = svg_of(served, "admin")
    assert len(points(root, "adviser")) > 0
    assert not [e for e in lines(root) if "stub" in e.get("class")]


def test_the_downloads_carry_title_term_legend_and_attribution(served: Served, coordinator_svg: ET.Element) -> None:
    texts = [t.text or "" for t in coordinator_svg.iter(f"{SVG}text")]
    assert "Lancashire Careers Hub · 2026-spring: proposed pairings" in texts
    assert ATTRIBUTION in texts
    assert {"school without a partner in a role", "approved pairing", "rejected pairing",
            "adviser pairing: a stub, longer for a farther distance band"} <= set(texts)
    png = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}/map.png?download=1")
    assert png.headers["Content-Disposition"] == 'attachment; filename="lancashire-2026-spring-map.png"'
    image = Image.open(io.BytesIO(png.data)).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3)
    for colour in ((0xD5, 0x5E, 0x00), (0xE6, 0x9F, 0x00), (0x00, 0x72, 0xB2)):  # Okabe-Ito vermillion, orange, blue
        assert (pixels == colour).all(axis=1).any(), colour
    assert image.width == 2 * int(coordinator_svg.get("width"))


def test_extra_marked_places_draw_in_their_layer_with_a_legend_entry() -> None:
    schools = fixtures.lancashire_problem()["schools"][:5]
    places = [Place(s["id"], s["name"], "school", s["lat"], s["lon"]) for s in schools]
    markers = [Marker("Nelson", 53.835, -2.218, "where to recruit advisers"),
               Marker("Ormskirk", 53.567, -2.885, "where to recruit advisers")]
    drawing = build_map(places, [], markers)
    root = ET.fromstring(to_svg(drawing, "with markers"))
    drawn = [g for g in root.iter(f"{SVG}g") if g.get("class") == "pt marker"]
    assert [g.find(f"{SVG}title").text for g in drawn] == ["where to recruit advisers: Nelson",
                                                           "where to recruit advisers: Ormskirk"]
    assert ("layer:where to recruit advisers", "where to recruit advisers") in legend_items(drawing)
    assert "where to recruit advisers" in [t.text for t in root.iter(f"{SVG}text")]
    x, y = (float(v) for v in next(iter(drawn[0])).get("points").split()[0].split(","))
    nx, ny = drawing.frame.project(np.array([-2.218]), np.array([53.835]))
    assert math.dist((x, y + 6), (float(nx[0]), float(ny[0]))) < 0.1  # drawn where it is


def test_the_live_parts_keep_the_privacy_of_the_map(served: Served) -> None:
    live = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}/live").json
    root = ET.fromstring(live["map"])
    assert points(root, "adviser") == {} and all("stub" in e.get("class") for e in lines(root)
                                                 if e.get("class") and "adviser" in e.find(f"{SVG}title").text)
    assert "pairings decided" in live["summary"]


def test_a_rural_hub_gets_its_own_districts_and_towns() -> None:
    schools = fixtures.cumbria_problem()["schools"]
    places = [Place(s["id"], s["name"], "school", s["lat"], s["lon"], town=town_of(s["postcode"])) for s in schools]
    drawing = build_map(places, [])
    assert {"Allerdale", "Barrow-in-Furness", "Carlisle", "Copeland", "Eden", "South Lakeland"} <= {
        d.name for d in drawing.districts}
    assert "Preston" not in {d.name for d in drawing.districts}  # clipped to the hub's frame
    assert {"Carlisle", "Kendal", "Workington"} <= {t.name for t in drawing.towns}
    assert all(0 <= t.x <= drawing.width and 0 <= t.y <= drawing.height for t in drawing.towns)
