"""Independent re-statements of the matching rules, for checking the core against them.

Nothing here imports the core's own arithmetic: distances, needs, candidate sets, feasibility and the
lexicographic objective are computed again from the raw problem dict, the way the problem format describes them.
Only the integer cost units are taken from the core (``inp.costs.units``), as the tests' brief asks.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matcher.solvers import RoleInput
from models import Problem

Record = dict[str, Any]
PairKey = tuple[str, str]
Key = tuple[int, int, int, int, int]
EARTH_KM = 6371.0088  # IUGG mean Earth radius
CENTRE = (53.75, -2.70)  # Preston
SECTORS = ("digital", "health", "energy")


# --- building problem documents -------------------------------------------------------------------------------


def school(sid: str, lat: float, lon: float, **extra: Any) -> Record:
    """A school record with coordinates; ``extra`` adds any documented field."""
    return {"id": sid, "name": f"School {sid}", "lat": lat, "lon": lon, **extra}


def adviser(aid: str, lat: float, lon: float, company: str = "Acme", **extra: Any) -> Record:
    """An adviser record; ``extra`` adds any documented field (capacity, max_travel_km...)."""
    return {"id": aid, "company": company, "lat": lat, "lon": lon, **extra}


def employer(eid: str, sites: Iterable[tuple[float, float]], capacity: float = 1, **extra: Any) -> Record:
    """A Cornerstone Employer record with one site per (lat, lon)."""
    return {
        "id": eid,
        "name": f"Employer {eid}",
        "capacity": capacity,
        "sites": [{"lat": la, "lon": lo} for la, lo in sites],
        **extra,
    }


def document(
    schools: list[Record],
    advisers: list[Record] | None = None,
    employers: list[Record] | None = None,
    pairs: list[Record] | None = None,
    hub: Record | None = None,
    **policy: Any,
) -> Record:
    """A whole problem document; keyword arguments become the policy."""
    return {
        "hub": hub or {"id": "hub", "name": "Test hub"},
        "policy": policy,
        "schools": schools,
        "advisers": advisers or [],
        "employers": employers or [],
        "pairs": pairs or [],
    }


def east(km: float, lat: float = CENTRE[0], lon: float = CENTRE[1]) -> tuple[float, float]:
    """The point ``km`` due east of (lat, lon) along the parallel, for placing things at a known distance."""
    return lat, lon + math.degrees(km / (EARTH_KM * math.cos(math.radians(lat))))


def north(km: float, lat: float = CENTRE[0], lon: float = CENTRE[1]) -> tuple[float, float]:
    """The point ``km`` due north of (lat, lon) along the meridian (exact on a sphere)."""
    return lat + math.degrees(km / EARTH_KM), lon


# --- independent geometry and need ----------------------------------------------------------------------------


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km, written out with the math module."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(min(1.0, h)))


def need(record: Record, role: str) -> float:
    """A school's documented need: the mean of its Gatsby gap (B5-B6 for a Cornerstone, all benchmarks for an
    adviser) and its disadvantage (free school meals, full at 40%); 0.5 when it reports neither."""
    wanted = ("5", "6") if role == "cornerstone" else tuple(str(b) for b in range(1, 9))
    marks = [v for k, v in record.get("gatsby", {}).items() if k in wanted]
    terms = [1 - sum(marks) / len(marks) / 100] if marks else []
    if record.get("pct_fsm") is not None:
        terms.append(min(record["pct_fsm"] / 40, 1.0))
    return sum(terms) / len(terms) if terms else 0.5


def need_level(record: Record, role: str) -> int:
    """The need in tenths, as the objective's third level counts it."""
    return round(10 * need(record, role))


# --- the rules of one role, from the raw document --------------------------------------------------------------


@dataclass
class RoleRules:
    """One role's rules restated from the raw document, keyed by ids."""

    role: str
    slots: int
    schools: dict[str, Record]
    partners: dict[str, Record]
    radius: dict[str, float]
    pairs: dict[PairKey, Record]
    company_cap: int | None
    needs_skills: bool
    distinct: bool
    locked: set[PairKey] = field(default_factory=set)
    kinds: dict[str, Record] = field(default_factory=dict)

    def kind_rule(self, s: str, key: str) -> Any:
        """The school's kind's rule ``key`` (None when its kind has none)."""
        return self.kinds.get(self.schools[s].get("kind", "mainstream"), {}).get(key)

    def slots_of(self, s: str) -> int:
        """The school's slots for the role: its kind's rule, else the policy's."""
        own = self.kind_rule(s, "advisers_per_school" if self.role == "adviser" else "cornerstones_per_school")
        return self.slots if own is None else own

    def reach(self, s: str, p: str) -> float:
        """How far the partner goes to this school: its radius, capped by the school's kind's radius."""
        return min(self.radius[p], self.kind_rule(s, "max_travel_km") or math.inf)

    def km(self, s: str, p: str) -> float:
        """Distance from the school to the partner's nearest site."""
        sch, rec = self.schools[s], self.partners[p]
        sites = rec["sites"] if self.role == "cornerstone" else [rec]
        return min(haversine_km(sch["lat"], sch["lon"], x["lat"], x["lon"]) for x in sites)

    def load(self, s: str, p: str) -> float:
        if self.role == "adviser":
            return 1.0
        given = self.pairs.get((s, p), {}).get("load")
        return float(given if given is not None else self.schools[s].get("load", 1.0))

    def capacity(self, p: str) -> float:
        return float(self.partners[p].get("capacity", 1))

    def company(self, p: str) -> str | None:
        return self.partners[p]["company"] if self.role == "adviser" else None

    def sector(self, p: str) -> str | None:
        sectors = self.partners[p].get("sectors", [])
        return sectors[0] if sectors else None

    def barred(self, s: str, p: str) -> str | None:
        """The rule that removes the pair, if any (locked pairs are never barred)."""
        rec, sch = self.partners[p], self.schools[s]
        if rec.get("unavailable"):
            return "unavailable"
        if s in rec.get("conflicts", []):
            return "conflict"
        needs = set(sch.get("needs", [])) | ({"send"} if sch.get("kind") == "send" else set())
        if self.role == "adviser" and self.needs_skills and not needs <= set(rec.get("skills", [])):
            return "skills"
        if self.pairs.get((s, p), {}).get("forbidden"):
            return "forbidden"
        if self.role == "adviser" and not set(self.kind_rule(s, "required_skills") or ()) <= set(rec.get("skills", [])):
            return "kind_skills"
        return None

    def given_schools(self) -> set[str]:
        """Schools with imported costs for this role: those pairs replace their geometric candidates."""
        return {
            s
            for (s, p), r in self.pairs.items()
            if p in self.partners and r.get("cost") is not None and not r.get("forbidden")
        }

    def candidates(self) -> set[PairKey]:
        """Every pair a solver may choose: in reach (or given a cost) and not barred, plus the locked pairs."""
        given = self.given_schools()
        out = set(self.locked)
        for s, p in itertools.product(self.schools, self.partners):
            if s in given:
                usable = self.pairs.get((s, p), {}).get("cost") is not None
            else:
                usable = self.km(s, p) <= self.reach(s, p)
            if usable and self.barred(s, p) is None:
                out.add((s, p))
        return out


def rules_of(raw: Record, role: str) -> RoleRules:
    """The rules of ``role`` in a raw problem document (policy defaults as documented)."""
    pol = raw.get("policy", {})
    default_km = pol.get("default_max_travel_km", 30.0)
    records = raw.get("advisers", []) if role == "adviser" else raw.get("employers", [])
    partners = {r["id"]: r for r in records}
    pairs = {(r["school"], r["partner"]): r for r in raw.get("pairs", []) if r["partner"] in partners}
    slots = pol.get("advisers_per_school", 1) if role == "adviser" else pol.get("cornerstones_per_school", 1)
    rules = RoleRules(
        role=role,
        slots=slots,
        schools={s["id"]: s for s in raw["schools"]},
        partners=partners,
        radius={p: r.get("max_travel_km") or default_km for p, r in partners.items()},
        pairs=pairs,
        company_cap=pol.get("max_schools_per_company") if role == "adviser" else None,
        needs_skills=bool(pol.get("needs_require_skills", False)),
        distinct=bool(pol.get("distinct_sectors", False)),
        kinds=pol.get("kinds", {}),
    )
    rules.distinct = rules.distinct and max((rules.slots_of(s) for s in rules.schools), default=slots) > 1
    rules.locked = {k for k, r in pairs.items() if r.get("locked")}
    return rules


def violations(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """Every rule the choice breaks, checked from the raw document (an empty list for a feasible choice)."""
    out = [f"locked {k} missing" for k in sorted(rules.locked - choice)]
    given = rules.given_schools()
    for s, p in sorted(choice - rules.locked):
        if rules.barred(s, p):
            out.append(f"{(s, p)} barred by {rules.barred(s, p)}")
        if s not in given and rules.km(s, p) > rules.reach(s, p) + 1e-9:
            out.append(f"{(s, p)} out of reach: {rules.km(s, p):.3f} km > {rules.reach(s, p)} km")
        if s in given and rules.pairs.get((s, p), {}).get("cost") is None:
            out.append(f"{(s, p)} has no imported cost though its school does")
    for s, n in Counter(s for s, _ in choice).items():
        if n > rules.slots_of(s):
            out.append(f"{s} has {n} partners for {rules.slots_of(s)} slots")
    used: Counter[str] = Counter()
    for s, p in choice:
        used[p] += rules.load(s, p)
    out += [f"{p} uses {u:g} of {rules.capacity(p):g}" for p, u in used.items() if u > rules.capacity(p) + 1e-9]
    return out + _company_violations(rules, choice) + _sector_violations(rules, choice)


def _company_violations(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """A company may pass its cap only through locked pairs, never by a solver's choice."""
    if rules.company_cap is None:
        return []
    locked = Counter(rules.company(p) for _, p in rules.locked)
    total = Counter(rules.company(p) for _, p in choice)
    return [
        f"company {c} has {n} schools, cap {rules.company_cap}"
        for c, n in total.items()
        if n > max(rules.company_cap, locked[c])
    ]


# --- the objective and the brute force ---------------------------------------------------------------------------


def unit_costs(problem: Problem, inp: RoleInput) -> dict[PairKey, int]:
    """The core's integer cost units of every candidate, keyed by (school id, partner id)."""
    g = inp.graph
    return {
        (problem.schools[s].id, g.partners.ids[p]): int(u)
        for s, p, u in zip(g.school, g.partner, inp.costs.units, strict=True)
    }


def chosen_pairs(problem: Problem, inp: RoleInput, chosen: np.ndarray) -> set[PairKey]:
    """The chosen candidates of a solver, as (school id, partner id)."""
    g = inp.graph
    return {(problem.schools[g.school[c]].id, g.partners.ids[g.partner[c]]) for c in np.flatnonzero(chosen)}


def objective_key(rules: RoleRules, costs: dict[PairKey, int], choice: set[PairKey]) -> Key:
    """(schools covered, slots filled, need tenths over filled slots, partners engaged, -cost units): bigger is
    better. A partner counts as engaged when it has at least one school, locked or chosen."""
    covered = len({s for s, _ in choice})
    needs = sum(need_level(rules.schools[s], rules.role) for s, _ in choice)
    engaged = len({p for _, p in choice})
    return covered, len(choice), needs, engaged, -sum(costs[k] for k in choice)


def feasible_choices(rules: RoleRules, candidates: set[PairKey]) -> Iterator[set[PairKey]]:
    """Every feasible choice that keeps the locked pairs, by depth-first enumeration with itertools.combinations;
    capacity, company caps and distinct sectors prune partial choices (they can only get worse)."""
    free = sorted(candidates - rules.locked)
    by_school = {s: [k for k in free if k[0] == s] for s in rules.schools}
    order = [s for s in rules.schools if by_school[s]]
    locked_count = Counter(s for s, _ in rules.locked)

    def extend(i: int, choice: set[PairKey]) -> Iterator[set[PairKey]]:
        if i == len(order):
            yield set(choice)
            return
        s = order[i]
        for size in range(rules.slots_of(s) - locked_count[s] + 1):
            for combo in itertools.combinations(by_school[s], size):
                trial = choice | set(combo)
                if not violations_that_grow(rules, trial):
                    yield from extend(i + 1, trial)

    yield from extend(0, set(rules.locked))


def _sector_violations(rules: RoleRules, choice: set[PairKey]) -> list[str]:
    """With distinct sectors, a school has at most one partner per primary sector beyond its locked ones."""
    if not rules.distinct:
        return []
    locked = Counter((s, rules.sector(p)) for s, p in rules.locked if rules.sector(p))
    per = Counter((s, rules.sector(p)) for s, p in choice if rules.sector(p))
    return [f"{s} has {n} partners in {sec}" for (s, sec), n in per.items() if n > max(1, locked[s, sec])]


def violations_that_grow(rules: RoleRules, choice: set[PairKey]) -> bool:
    """True when capacity, a company cap or distinct sectors is already broken."""
    used: Counter[str] = Counter()
    for s, p in choice:
        used[p] += rules.load(s, p)
    if any(u > rules.capacity(p) + 1e-9 for p, u in used.items()):
        return True
    return bool(_company_violations(rules, choice) or _sector_violations(rules, choice))


def brute_force_best(rules: RoleRules, candidates: set[PairKey], costs: dict[PairKey, int]) -> tuple[Key, int]:
    """The best objective key over all feasible choices, and how many feasible choices there are."""
    best, count = None, 0
    for choice in feasible_choices(rules, candidates):
        count += 1
        key = objective_key(rules, costs, choice)
        best = key if best is None or key > best else best
    assert best is not None, "the locked pairs alone are always feasible"
    return best, count


# --- random small problems ---------------------------------------------------------------------------------------


def _spot(rng: random.Random) -> tuple[float, float]:
    return round(CENTRE[0] + rng.uniform(-0.15, 0.15), 5), round(CENTRE[1] + rng.uniform(-0.25, 0.25), 5)


def _need_fields(rng: random.Random) -> Record:
    """Need data whose tenths are never a rounding tie: all eight benchmarks at one multiple of 10, or FSM at a
    multiple of 4%, or nothing (need 0.5)."""
    pick = rng.randrange(3)
    if pick == 0:
        mark = 10 * rng.randrange(11)
        return {"gatsby": {str(b): mark for b in range(1, 9)}}
    return {"pct_fsm": 4 * rng.randrange(11)} if pick == 1 else {}


def random_document(seed: int, loads: bool = False) -> Record:
    """A small random round (3-7 schools, 2-5 advisers, 2-4 employers) exercising every rule.

    With ``loads`` the employers count encounter places and schools need 1-3 of them (a generalised assignment),
    and partners of one school may have to differ in sector.
    """
    rng = random.Random(seed)
    n_s, n_a, n_e = rng.randint(3, 7), rng.randint(2, 5), rng.randint(2, 4)
    sids = [f"s{i}" for i in range(n_s)]
    schools = [
        school(
            s,
            *_spot(rng),
            sectors=rng.sample(SECTORS, rng.randint(0, 2)),
            **_need_fields(rng),
            **({"kind": "send"} if rng.random() < 0.2 else {}),
            **({"needs": ["mentoring"]} if rng.random() < 0.2 else {}),
            **({"load": rng.randint(1, 3)} if loads else {}),
        )
        for s in sids
    ]
    advisers = [
        adviser(
            f"a{j}",
            *_spot(rng),
            company=f"C{rng.randrange(3)}",
            capacity=rng.randint(0, 2),
            max_travel_km=rng.choice([None, rng.uniform(5, 30)]),
            sectors=rng.sample(SECTORS, rng.randint(0, 2)),
            skills=rng.sample(["send", "mentoring"], rng.randint(0, 2)),
            conflicts=rng.sample(sids, 1) if rng.random() < 0.3 else [],
            unavailable=rng.random() < 0.15,
        )
        for j in range(n_a)
    ]
    employers = [
        employer(
            f"e{j}",
            [_spot(rng) for _ in range(rng.randint(1, 2))],
            capacity=rng.randint(0, 4) if loads else rng.randint(0, 2),
            max_travel_km=rng.choice([None, rng.uniform(5, 30)]),
            sectors=rng.sample(SECTORS, rng.randint(0, 1)),
        )
        for j in range(n_e)
    ]
    for s in schools:
        if rng.random() < 0.3:
            s["current_advisers"] = [rng.choice(advisers)["id"]]
    policy = {
        "advisers_per_school": rng.randint(1, 2),
        "cornerstones_per_school": rng.randint(1, 2),
        "default_max_travel_km": rng.uniform(10, 25),
        "needs_require_skills": rng.random() < 0.5,
        "max_schools_per_company": rng.choice([None, 1, 2]),
        "distinct_sectors": loads and rng.random() < 0.5,
    }
    doc = document(
        schools, advisers, employers, hub={"id": "h", "name": "H", "priority_sectors": {"energy": 0.6}}, **policy
    )
    doc["pairs"] = _random_pairs(rng, doc)
    return doc


def random_kinds_document(seed: int, loads: bool = False) -> Record:
    """``random_document(seed, loads)`` with mixed kinds of school and random rules per kind: slots (0-2), an "ap"
    skill required of advisers, a shorter radius; some advisers have the skill. Locked pairs beyond a kind's slots
    are unlocked, so the document stays valid."""
    doc = random_document(seed, loads)
    rng = random.Random(10_000 + seed)
    for s in doc["schools"]:
        s["kind"] = rng.choice(["mainstream", "send", "ap", "college", "college"])
    for a in doc["advisers"]:
        if rng.random() < 0.5:
            a["skills"] = [*a.get("skills", []), "ap"]
    doc["policy"]["kinds"] = {
        "college": {"advisers_per_school": rng.choice([0, 1, 2, 2]), "cornerstones_per_school": rng.randint(1, 2)},
        "ap": {"required_skills": ["ap"], "max_travel_km": rng.uniform(5, 15)},
        "send": {"max_travel_km": rng.uniform(5, 25)} if rng.random() < 0.5 else {},
        "mainstream": {"advisers_per_school": rng.choice([None, 1])},
    }
    for role in ("adviser", "cornerstone"):
        rules, taken = rules_of(doc, role), Counter[str]()
        for pair in doc["pairs"]:
            if pair.get("locked") and (pair["school"], pair["partner"]) in rules.locked:
                taken[pair["school"]] += 1
                if taken[pair["school"]] > rules.slots_of(pair["school"]):
                    del pair["locked"]
    return doc


def _random_pairs(rng: random.Random, doc: Record) -> list[Record]:
    """A few forbidden pairs, locked ones that respect capacity and slots (locked may be out of reach), and
    imported costs."""
    pol = doc["policy"]
    partners = [("adviser", a) for a in doc["advisers"]] + [("cornerstone", e) for e in doc["employers"]]
    pairs: dict[PairKey, Record] = {}
    room = {p["id"]: float(p["capacity"]) for _, p in partners}
    slots: Counter[tuple[str, str]] = Counter()
    for _ in range(rng.randint(0, 4)):
        s, (role, p) = rng.choice(doc["schools"]), rng.choice(partners)
        key = (s["id"], p["id"])
        load = 1.0 if role == "adviser" else float(s.get("load", 1))
        limit = pol["advisers_per_school"] if role == "adviser" else pol["cornerstones_per_school"]
        if rng.random() < 0.5:
            pairs.setdefault(key, {"school": key[0], "partner": key[1], "forbidden": True})
        elif key not in pairs and room[p["id"]] >= load and slots[s["id"], role] < limit and not p.get("unavailable"):
            pairs[key] = {"school": key[0], "partner": key[1], "locked": True}
            room[p["id"]] -= load
            slots[s["id"], role] += 1
    for _ in range(rng.choice([0, 0, 1, 3])):  # imported costs, sometimes on a locked or forbidden pair
        s, (_, p) = rng.choice(doc["schools"]), rng.choice(partners)
        pairs.setdefault((s["id"], p["id"]), {"school": s["id"], "partner": p["id"]})["cost"] = round(
            rng.uniform(-1, 3), 3
        )
    return list(pairs.values())


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once, one thread each, released together by a barrier; their results in order
    (an exception in any thread fails the test)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = calls[i]()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert all(r is not None for r in results)
    return results


# A three-school hub document shared by the service's tests (API and reliability).
TINY: Record = {
    "hub": {"id": "tiny", "name": "Tiny hub", "priority_sectors": {"digital": 1.0}},
    "schools": [
        {"id": "S1", "name": "Preston Academy", "postcode": "PR1 8JN", "sectors": ["digital"]},
        {"id": "S2", "name": "Lancaster High", "postcode": "LA1 1AA"},
        {"id": "S3", "name": "Blackburn College", "postcode": "BB1 1AA", "kind": "college"},
    ],
    "advisers": [
        {"id": "A1", "name": "Ada", "company": "C1", "lat": 53.76, "lon": -2.70, "sectors": ["digital"]},
        {"id": "A2", "name": "Bob", "company": "C2", "lat": 54.05, "lon": -2.80, "capacity": 2},
    ],
    "employers": [{"id": "E1", "name": "Rolls", "sites": [{"lat": 53.75, "lon": -2.48}], "capacity": 3}],
}
