"""Who can reach whom: the sparse candidate graph of one role.

Pairs within a partner's travel radius come from a grid of tiles on the unit sphere (exact for great-circle
distance; see ``matcher.geo.pairs_within``), never a dense school x partner matrix, so 5,000 x 5,000 stays at the
~600k pairs that matter. Rules then remove pairs:
unavailable advisers, conflicts, needs a partner lacks, forbidden pairs, and the policy's rules per kind of school
(skills its advisers must have, a shorter radius to it). Locked pairs always stay, even out of
reach, because a coordinator decided them; pairs imported with a ``cost`` replace the geometric candidates of
their school. Every array is indexed by candidate position, sorted by (school, partner); school and partner
indices are int32 while every school x partner key fits in one (``index_dtype``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from matcher.geo import chord, haversine_km, pairs_within, unit_vectors
from matcher.partners import PartnerTable, partner_table
from models.domain import SCHOOL_KINDS, Pair, Problem, Role

RULES = ("unavailable", "conflict", "skills", "forbidden", "kind_skills", "kind_radius")


@dataclass(frozen=True)
class CandidateGraph:
    """The candidate pairs of one role and what was removed from each school's reach, by rule.

    ``school_slots`` is each school's number of partners of the role (its kind's rule, else the policy's);
    ``slots`` is the largest of them, so ``slots > 1`` says some school may take several partners.
    ``load`` and ``given_cost`` are read-only broadcast views of one value when every candidate shares it (each
    adviser pair uses one unit of capacity; usually no pair is imported with a cost), so they hold no memory per
    candidate; indexing them gives ordinary arrays.
    """

    role: Role
    partners: PartnerTable
    n_schools: int
    slots: int
    school_slots: np.ndarray
    school: np.ndarray
    partner: np.ndarray
    distance_km: np.ndarray
    load: np.ndarray
    locked: np.ndarray
    given_cost: np.ndarray
    in_reach: np.ndarray
    removed: dict[str, np.ndarray] = field(default_factory=dict)
    partner_removed: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.school)


def build_graph(problem: Problem, role: Role) -> CandidateGraph:
    """The candidate graph of ``role`` for ``problem`` (which ``models.load_problem`` has validated)."""
    partners = partner_table(problem, role)
    n_schools, n_partners = len(problem.schools), partners.size
    slat = np.array([s.lat for s in problem.schools], dtype=np.float64)
    slon = np.array([s.lon for s in problem.schools], dtype=np.float64)
    school_at = {s.id: i for i, s in enumerate(problem.schools)}
    partner_at = {pid: j for j, pid in enumerate(partners.ids)}
    pairs = [p for p in problem.pairs if p.partner in partner_at and p.school in school_at]
    index = index_dtype(n_schools, n_partners)

    def ids(selected: list[Pair]) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.array([school_at[p.school] for p in selected], dtype=index),
            np.array([partner_at[p.partner] for p in selected], dtype=index),
        )

    school, partner, dist = _within_reach(slat, slon, partners, index)
    given = [p for p in pairs if p.cost is not None and not p.forbidden]
    if given:
        priced = np.zeros(n_schools, dtype=bool)
        priced[ids(given)[0]] = True
        keep = ~priced[school]
        school, partner, dist = school[keep], partner[keep], dist[keep]
    school, partner, dist = _with_extra(school, partner, dist, *ids(given + [p for p in pairs if p.locked]),
                                        slat, slon, partners, n_schools)
    rows = PairRows(school, partner, n_schools)

    def flag(selected: list[Pair]) -> np.ndarray:
        return rows.find(*ids(selected))

    locked = np.zeros(len(school), dtype=bool)
    locked[flag([p for p in pairs if p.locked])] = True
    given_cost: np.ndarray = np.broadcast_to(np.nan, school.shape)
    if given:
        given_cost = np.full(len(school), np.nan)
        given_cost[flag(given)] = [p.cost for p in given]
    load = _loads(problem, role, school, rows, ids, pairs)

    in_reach = np.diff(rows.starts)
    masks = _rule_masks(problem, partners, school, partner, rows, school_at, flag, pairs)
    masks |= _kind_masks(problem, partners, school, partner, dist, ~np.isnan(given_cost))
    removed, partner_removed = _removed(masks, locked, school, partner, n_schools, n_partners)
    keep = np.ones(len(school), dtype=bool)
    for mask in masks.values():
        keep &= ~mask
    keep |= locked
    slots_of = {kind: problem.policy.slots(role, kind) for kind in SCHOOL_KINDS}
    school_slots = np.array([slots_of[s.kind] for s in problem.schools], dtype=np.int64)
    kept = _kept(keep, school=school, partner=partner, distance_km=dist, load=load, locked=locked,
                 given_cost=given_cost)
    return CandidateGraph(
        role=role,
        partners=partners,
        n_schools=n_schools,
        slots=int(school_slots.max(initial=0)),
        school_slots=school_slots,
        in_reach=in_reach,
        removed=removed,
        partner_removed=partner_removed,
        **kept,
    )


def _removed(
    masks: dict[str, np.ndarray],
    locked: np.ndarray,
    school: np.ndarray,
    partner: np.ndarray,
    n_schools: int,
    n_partners: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """How many candidates each rule removes from each school and from each partner (locked pairs stay)."""
    by_school, by_partner = {}, {}
    for name, mask in masks.items():
        gone = mask & ~locked if mask.any() else np.zeros(0, dtype=np.int64)
        by_school[name] = np.bincount(school[gone], minlength=n_schools)
        by_partner[name] = np.bincount(partner[gone], minlength=n_partners)
    return by_school, by_partner


def index_dtype(n_schools: int, n_partners: int) -> type:
    """int32 while every key ``school * n_partners + partner`` fits in one (callers form such keys), else int64."""
    return np.int32 if n_schools * max(n_partners, 1) < 2**31 else np.int64


def _kept(keep: np.ndarray, **arrays: np.ndarray) -> dict[str, np.ndarray]:
    """The candidates that ``keep`` says, each array taken only when something goes (a broadcast view stays one)."""
    if keep.all():
        return arrays
    n = int(keep.sum())
    return {k: np.broadcast_to(v[0], n) if v.strides == (0,) else v[keep] for k, v in arrays.items()}


def _within_reach(
    slat: np.ndarray, slon: np.ndarray, partners: PartnerTable, index: type = np.int64
) -> tuple[np.ndarray, ...]:
    """(school, partner, km) for every partner with a site within its radius of the school, sorted by (school,
    partner); the km is to the nearest such site.

    Sites are numbered by owner, so a partner's sites are adjacent within each school's run and
    ``minimum.reduceat`` keeps the nearest.
    """
    site_chord = chord(partners.radius_km[partners.site_owner])
    school, site, km = pairs_within(
        unit_vectors(slat, slon), unit_vectors(partners.site_lat, partners.site_lon), site_chord
    )
    school = school.astype(index, copy=False)
    if len(partners.site_owner) == partners.size:
        return school, site.astype(index, copy=False), km
    partner = partners.site_owner[site].astype(index)
    first = np.ones(len(school), dtype=bool)
    first[1:] = (school[1:] != school[:-1]) | (partner[1:] != partner[:-1])
    starts = np.flatnonzero(first)
    return school[starts], partner[starts], np.minimum.reduceat(km, starts) if len(starts) else km


def _with_extra(
    school: np.ndarray,
    partner: np.ndarray,
    km: np.ndarray,
    es: np.ndarray,
    ep: np.ndarray,
    slat: np.ndarray,
    slon: np.ndarray,
    partners: PartnerTable,
    n_schools: int,
) -> tuple[np.ndarray, ...]:
    """The sorted candidates with the pairs ``(es, ep)`` that rules add (imported with a cost, or locked) merged in
    at their places; a pair already there, or listed twice, keeps its first row, as ``np.unique`` would."""
    if not len(es):
        return school, partner, km
    _, first = np.unique(es.astype(np.int64) * partners.size + ep, return_index=True)
    es, ep = es[first], ep[first]
    at, found = PairRows(school, partner, n_schools).search(es, ep)
    es, ep, at = es[~found], ep[~found], at[~found]
    return (
        np.insert(school, at, es),
        np.insert(partner, at, ep),
        np.insert(km, at, _nearest_site_km(slat[es], slon[es], ep, partners)),
    )


def _nearest_site_km(lat: np.ndarray, lon: np.ndarray, partner: np.ndarray, partners: PartnerTable) -> np.ndarray:
    """Distance from each school to the nearest site of its partner, for the few pairs added by rules.

    Sites are grouped by owner, so each pair expands to its partner's run of sites and ``minimum.reduceat``
    folds each run back to one distance.
    """
    if not len(partner):
        return np.zeros(0)
    first_site = np.searchsorted(partners.site_owner, np.arange(partners.size + 1))
    counts = (first_site[1:] - first_site[:-1])[partner]
    pair = np.repeat(np.arange(len(partner)), counts)
    site = first_site[partner][pair] + np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
    km = haversine_km(lat[pair], lon[pair], partners.site_lat[site], partners.site_lon[site])
    return np.minimum.reduceat(km, np.cumsum(counts) - counts)


def positions_of(keys: np.ndarray, wanted: list[int] | np.ndarray) -> np.ndarray:
    """Positions in the sorted ``keys`` of the wanted keys that are present (a binary search per wanted key,
    where ``np.isin`` would sort all the keys again)."""
    wanted_arr = np.asarray(wanted, dtype=np.int64)
    pos = np.searchsorted(keys, wanted_arr)
    pos = np.minimum(pos, max(len(keys) - 1, 0))
    hit = (keys[pos] == wanted_arr) if len(keys) else np.zeros(len(wanted_arr), dtype=bool)
    return pos[hit]


class PairRows:
    """Finds the rows of given (school, partner) pairs among candidates sorted by (school, partner), by a binary
    search within each school's run: no key array as long as the candidates is ever built."""

    def __init__(self, school: np.ndarray, partner: np.ndarray, n_schools: int) -> None:
        self.partner = partner
        self.starts = np.searchsorted(school, np.arange(n_schools + 1, dtype=school.dtype))  # no int64 copy

    def search(self, school: np.ndarray, partner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each pair is, or would be inserted to keep the order, and whether it is there."""
        school = np.asarray(school, dtype=np.int64)
        partner = np.asarray(partner, dtype=np.int64)
        lo, end = self.starts[school], self.starts[school + 1]
        hi = end.copy()
        last = max(len(self.partner) - 1, 0)
        while np.any(open_ := lo < hi):
            mid = (lo + hi) // 2
            less = self.partner[np.minimum(mid, last)] < partner
            lo = np.where(open_ & less, mid + 1, lo)
            hi = np.where(open_ & ~less, mid, hi)
        found = (lo < end) & (self.partner[np.minimum(lo, last)] == partner) if len(self.partner) else lo < end
        return lo, found

    def find(self, school: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """The rows of the pairs that are candidates."""
        at, found = self.search(school, partner)
        return at[found]


def _loads(
    problem: Problem, role: Role, school: np.ndarray, rows: PairRows, ids: Callable, pairs: list[Pair]
) -> np.ndarray:
    """How much of the partner's capacity each pair uses: one school for an adviser; places for an employer
    (the school's, or the pair's own where it sets one: a pair out of reach and not locked has no row)."""
    if role == "adviser":
        return np.broadcast_to(1.0, school.shape)
    load = np.array([s.load for s in problem.schools], dtype=np.float64)[school]
    own = [p for p in pairs if p.load is not None]  # validation lets no pair repeat
    at, found = rows.search(*ids(own))
    load[at[found]] = np.array([p.load for p in own], dtype=np.float64)[found]
    return load


def _rule_masks(
    problem: Problem,
    partners: PartnerTable,
    school: np.ndarray,
    partner: np.ndarray,
    rows: PairRows,
    school_at: dict[str, int],
    flag: Callable,
    pairs: list[Pair],
) -> dict[str, np.ndarray]:
    """One boolean mask per rule, True where the rule removes the candidate."""
    conflicts = [(school_at[c], j) for j, cs in enumerate(partners.conflicts) for c in cs if c in school_at]
    masks = {name: np.zeros(len(school), dtype=bool) for name in RULES}
    masks["unavailable"] = partners.unavailable[partner]
    if conflicts:
        masks["conflict"][rows.find(*np.array(conflicts, dtype=np.int64).T)] = True
    masks["forbidden"][flag([p for p in pairs if p.forbidden])] = True
    if problem.policy.needs_require_skills and partners.role == "adviser":
        masks["skills"] = _lacks_skills(problem, partners, school, partner)
    return masks


def _lacks_skills(problem: Problem, partners: PartnerTable, school: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """True where the school has a need (a SEND school needs "send") that the adviser has no skill for."""
    needs = [set(s.needs) | ({"send"} if s.kind == "send" else set()) for s in problem.schools]
    vocabulary = {need: bit for bit, need in enumerate(sorted(set().union(*needs)))}
    if not vocabulary:
        return np.zeros(len(school), dtype=bool)
    if len(vocabulary) > 62:
        raise ValueError("At most 62 distinct needs are supported in one round.")
    need_bits = np.array([sum(1 << vocabulary[n] for n in ns) for ns in needs], dtype=np.int64)
    skill_bits = np.array(
        [sum(1 << vocabulary[k] for k in ks if k in vocabulary) for ks in partners.skills], dtype=np.int64
    )
    return (need_bits[school] & ~skill_bits[partner]) != 0


def _kind_masks(
    problem: Problem, partners: PartnerTable, school: np.ndarray, partner: np.ndarray, km: np.ndarray, given: np.ndarray
) -> dict[str, np.ndarray]:
    """The policy's rules per kind of school: ``kind_skills`` where an adviser lacks a skill the school's kind
    requires (Cornerstone Employers have no skills: the rule is the advisers'), ``kind_radius`` where the pair is
    farther than the kind's radius. A pair imported with a ``cost`` stands outside every radius, as it does outside
    the partners' own."""
    kinds = problem.policy.kinds
    masks = {"kind_skills": np.zeros(len(school), dtype=bool), "kind_radius": np.zeros(len(school), dtype=bool)}
    if not kinds:
        return masks
    kind_of: dict[str, int] = {k: i for i, k in enumerate(SCHOOL_KINDS)}
    school_kind = np.array([kind_of[s.kind] for s in problem.schools], dtype=np.int64)[school]
    radius = np.array([(kinds[k].max_travel_km if k in kinds else None) or np.inf for k in SCHOOL_KINDS])
    masks["kind_radius"] = (km > radius[school_kind]) & ~given
    if partners.role == "adviser":
        for k, rules in kinds.items():
            if rules.required_skills:
                lacking = np.array([not set(rules.required_skills) <= set(ks) for ks in partners.skills], dtype=bool)
                masks["kind_skills"] |= (school_kind == kind_of[k]) & lacking[partner]
    return masks
