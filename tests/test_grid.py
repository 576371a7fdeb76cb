"""The grid of tiles that finds every candidate pair, against brute force and against the KD-tree it replaced;
the compact costs against the units the full component matrix gave before (saved checksums)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fixtures
from matcher.candidates import _within_reach
from matcher.costs import Costs
from matcher.geo import chord, haversine_km, km_of_chord, pairs_within, unit_vectors
from matcher.partners import partner_table
from matcher.solve import role_input
from models import load_problem

ROOT = Path(__file__).resolve().parents[1]


def brute_force(a: np.ndarray, b: np.ndarray, reach: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every (i, j) pair tested, with the chord summed in x, y, z order, in (i, j) order."""
    d2 = (a[:, None, 0] - b[None, :, 0]) ** 2
    d2 += (a[:, None, 1] - b[None, :, 1]) ** 2
    d2 += (a[:, None, 2] - b[None, :, 2]) ** 2
    d = np.sqrt(d2)
    i, j = np.nonzero(d <= reach[None, :])
    return i, j, km_of_chord(d[i, j])


def assert_same_pairs(lat_a, lon_a, lat_b, lon_b, km) -> int:
    """The grid's pairs are brute force's, to the bit; and haversine agrees wherever it is not within a
    micrometre of the radius."""
    a, b = unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_b)
    reach = chord(km)
    got = pairs_within(a, b, reach)
    want = brute_force(a, b, reach)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)
    hav = haversine_km(np.asarray(lat_a)[:, None], np.asarray(lon_a)[:, None], lat_b, lon_b)
    inside = np.zeros(hav.shape, dtype=bool)
    inside[got[0], got[1]] = True
    clear = np.abs(hav - np.asarray(km)[None, :]) > 1e-9
    assert np.array_equal(inside[clear], (hav <= km)[clear])
    assert np.allclose(got[2], hav[got[0], got[1]], atol=1e-6, rtol=0)
    return len(got[0])


@pytest.mark.parametrize("seed", range(8))
def test_grid_equals_brute_force_on_england_with_mixed_radii(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_a, n_b = rng.integers(1, 400, 2)
    town = rng.uniform([50.5, -4.5], [54.5, 0.5], (6, 2))
    near_a = town[rng.integers(0, 6, n_a)] + rng.normal(0, 0.2, (n_a, 2))
    near_b = town[rng.integers(0, 6, n_b)] + rng.normal(0, 0.3, (n_b, 2))
    km = rng.choice([0.5, 5.0, 30.0, 31.0, 80.0, 400.0], n_b, p=[0.05, 0.15, 0.5, 0.1, 0.15, 0.05])
    assert assert_same_pairs(near_a[:, 0], near_a[:, 1], near_b[:, 0], near_b[:, 1], km) > 0


def test_grid_equals_brute_force_around_the_globe_and_the_poles() -> None:
    rng = np.random.default_rng(1)
    lat = np.concatenate([rng.uniform(-90, 90, 300), [90.0, 90.0, -90.0, 89.99, -89.99]])
    lon = np.concatenate([rng.uniform(-180, 180, 300), [0.0, 120.0, 0.0, -179.0, 180.0]])
    km = rng.choice([50.0, 500.0, 3000.0, 20000.0], len(lat))
    assert assert_same_pairs(lat, lon, lat[::-1], lon[::-1], km[::-1]) > len(lat)


def test_grid_keeps_duplicates_and_points_exactly_at_the_radius() -> None:
    """A site's radius is the exact distance to some schools (so the chord test decides at its boundary), and
    points repeat on both sides."""
    rng = np.random.default_rng(2)
    lat_b, lon_b = rng.uniform(52, 54, 50), rng.uniform(-3, -1, 50)
    lat_a = np.concatenate([lat_b + 0.2, lat_b, lat_b[:10]])
    lon_a = np.concatenate([lon_b, lon_b - 0.3, lon_b[:10]])
    a, b = unit_vectors(lat_a, lon_a), unit_vectors(lat_b, lon_b)
    exact = np.linalg.norm(a[:50] - b, axis=1)  # each site's distance to the school 0.2 degrees north
    km = km_of_chord(exact)
    hits = assert_same_pairs(lat_a, lon_a, np.concatenate([lat_b, lat_b[:5]]), np.concatenate([lon_b, lon_b[:5]]),
                             np.concatenate([km, km[:5]]))
    rows = pairs_within(a, b, chord(km))
    at_radius = set(zip(rows[0].tolist(), rows[1].tolist(), strict=True)) & {(k, k) for k in range(50)}
    assert hits > 100 and len(at_radius) > 0  # some boundary pairs are in: the test is <=, to the bit


def test_grid_with_an_empty_side() -> None:
    one = unit_vectors([53.0], [-2.0])
    for a, b in ((one, np.zeros((0, 3))), (np.zeros((0, 3)), one)):
        i, j, km = pairs_within(a, b, np.full(len(b), 0.01))
        assert (len(i), len(j), len(km), i.dtype, j.dtype) == (0, 0, 0, np.int32, np.int32)


def kdtree_reach(slat: np.ndarray, slon: np.ndarray, partners) -> tuple[np.ndarray, ...]:
    """The KD-tree search the grid replaced (scipy, kept as a test-only reference), as it was."""
    from scipy.spatial import cKDTree

    schools = cKDTree(unit_vectors(slat, slon))
    site_km = partners.radius_km[partners.site_owner]
    site_chord, group = chord(site_km), np.ceil(4 * np.log2(site_km))
    found = []
    for g in np.unique(group):
        sites = np.flatnonzero(group == g)
        tree = cKDTree(unit_vectors(partners.site_lat[sites], partners.site_lon[sites]))
        pairs = schools.sparse_distance_matrix(tree, float(site_chord[sites].max()), output_type="ndarray")
        site = sites[pairs["j"]]
        keep = pairs["v"] <= site_chord[site]
        found.append((pairs["i"][keep], site[keep], pairs["v"][keep]))
    school, site, chords = (np.concatenate([f[k] for f in found]) for k in range(3))
    partner, km = partners.site_owner[site], km_of_chord(chords)
    order = np.lexsort((km, partner, school))
    school, partner, km = school[order], partner[order], km[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (school[1:] != school[:-1]) | (partner[1:] != partner[:-1])
    return school[first], partner[first], km[first]


@pytest.mark.parametrize("role", ["adviser", "cornerstone"])
def test_grid_equals_the_old_kdtree_on_a_national_round(role: str) -> None:
    raw = fixtures.national_problem(n_schools=3000, n_advisers=3000, n_employers=150, seed=5)
    radii = [8.0, 12.5, 30.0, 31.0, 45.0, 80.0]
    for k, a in enumerate(raw["advisers"]):
        a["max_travel_km"] = radii[k % len(radii)]
    problem = load_problem(raw)
    partners = partner_table(problem, role)
    slat = np.array([s.lat for s in problem.schools])
    slon = np.array([s.lon for s in problem.schools])
    got, want = _within_reach(slat, slon, partners), kdtree_reach(slat, slon, partners)
    assert len(want[0]) > 10_000
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w)  # the same pairs, and the same distances to the bit


def digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


# Computed before the grid and the compact costs (commit 3f82d0a), from the full n x 5 component matrix.
BEFORE = {
    ("national", "adviser"): (237181, "a4607ab842fc5eb4", "3d2c9603b1796763"),
    ("national", "cornerstone"): (16985, "f9c8d589fde6ee06", "6612e1235ebd7108"),
    ("lancashire", "adviser"): (2993, "ad9f5cd52b0798d3", "fc9375b2a2023c3e"),
    ("lancashire", "cornerstone"): (693, "98b578713275cbf3", "793f42ff0c3a16a7"),
}


@pytest.mark.parametrize("name", ["national", "lancashire"])
def test_pairs_and_cost_units_are_those_of_before(name: str) -> None:
    if name == "national":
        raw = fixtures.national_problem(n_schools=3000, n_advisers=3000, n_employers=150, seed=5)
    else:
        raw = fixtures.lancashire_problem()
    problem = load_problem(raw)
    for role in ("adviser", "cornerstone"):
        inp = role_input(problem, role)
        g = inp.graph
        assert (g.size, digest(g.school, g.partner), digest(inp.costs.units)) == BEFORE[name, role], role


def test_components_of_any_rows_add_up_to_the_units() -> None:
    """The components computed again for rows asked add, in column order, to exactly the units held."""
    inp = role_input(load_problem(fixtures.lancashire_problem()), "adviser")
    rows = np.arange(inp.graph.size)[::-1]
    comps = inp.costs.components(rows)
    assert np.array_equal(np.rint(comps.sum(axis=1) * 1000).astype(np.int64), inp.costs.units[rows])
    assert inp.costs.of(rows[:3]) == [
        {k: v for k, v in zip(("distance", "sector", "need", "continuity", "given"), r, strict=True) if v}
        for r in comps[:3].tolist()
    ]


def test_joined_costs_look_each_row_up_where_it_came_from() -> None:
    inp = role_input(load_problem(fixtures.lancashire_problem()), "adviser")
    c, n = inp.costs, inp.graph.size
    head = Costs(c.units[:100], c.need, lambda rows: c.components(np.arange(100)[rows]))
    tail = Costs(c.units[100:], c.need, lambda rows: c.components(np.arange(100, n)[rows]))
    order = np.random.default_rng(0).permutation(n)
    joined = head.joined(tail, order)
    assert np.array_equal(joined.units, c.units[order])
    assert np.array_equal(joined.components(np.arange(n)), c.components(order))


def test_compact_candidate_arrays() -> None:
    """int32 indices, and one shared value (no memory) for the adviser's load and the absent imported costs."""
    raw = fixtures.national_problem(n_schools=500, n_advisers=500, n_employers=0, seed=5)
    raw["pairs"] = []
    g = role_input(load_problem(raw), "adviser").graph
    assert (g.school.dtype, g.partner.dtype, g.load.strides, g.given_cost.strides) == (np.int32, np.int32, (0,), (0,))
    assert g.load[0] == 1.0 and np.isnan(g.given_cost[0])


def test_candidate_path_imports_no_scipy() -> None:
    """geo, partners, candidates and costs load with scipy unimportable (the package's own ``__init__``, which
    loads the solvers, is bypassed)."""
    code = f"""
import sys, types
class NoScipy:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy is not for the candidate path")
sys.meta_path.insert(0, NoScipy())
package = types.ModuleType("matcher")
package.__path__ = [{str(ROOT / "matcher")!r}]
sys.modules["matcher"] = package
import matcher.geo, matcher.partners, matcher.candidates, matcher.costs
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert (out.returncode, out.stdout.strip()) == (0, "ok"), out.stderr

