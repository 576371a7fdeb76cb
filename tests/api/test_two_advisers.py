"""The termly cycle with up to two Enterprise Advisers per school (the network's rule), on SQLite and PostgreSQL.

What it pins: both advisers of a school survive publishing (exports, hub pairings, the school record) and carry
into next term's continuity; a new round inherits last term's policy; approved holds for this round's re-solves and
locked also for later rounds; a round's Gatsby 5/6 baseline does not move when it publishes; a wave keeps the
published pairings decided, so only its new schools wait for a decision.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.api.test_cycle import solved


def _decide(who, proposal: dict[str, Any], action: str) -> dict[str, Any]:
    reply = who.post(
        f"/proposals/{proposal['id']}/decision",
        json={"action": action, **({"reason": "adviser moving away"} if action == "reject" else {})},
        headers={"If-Match": f'"{proposal["id"]}.{proposal["version"]}"'},
    )
    assert reply.status_code == 200, reply.json
    return reply.json


def _low(school: dict[str, Any]) -> bool:
    return any(float(school.get("gatsby", {}).get(b, 100)) < 50 for b in ("5", "6"))


def test_two_advisers_per_school_through_the_termly_cycle(caller, make_hub, lancs_raw, list_all):
    hub = make_hub("lancashire")
    lead, coord = caller("hub_lead", hub, name="Hub Lead"), caller("coordinator", hub, name="Coordinator")
    policy = {**lancs_raw["policy"], "advisers_per_school": 2, "max_schools_per_company": None}  # room for two
    spring = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": policy}).json
    assert spring["policy"] == policy
    solved(lead, spring["id"])
    first = list_all(coord, f"/rounds/{spring['id']}/proposals")
    by_school = Counter(p["school_id"] for p in first if p["role"] == "adviser")
    pair_schools = sorted(s for s, n in by_school.items() if n == 2)
    assert len(pair_schools) >= 3, by_school
    twin, other = pair_schools[0], pair_schools[1]
    mine = sorted((p for p in first if p["school_id"] == twin and p["role"] == "adviser"), key=lambda p: p["id"])
    locked, approved = _decide(coord, mine[0], "lock"), _decide(coord, mine[1], "approve")
    rejected = next(p for p in first if p["school_id"] == other and p["role"] == "adviser")
    _decide(coord, rejected, "reject")
    baseline = lead.get(f"/rounds/{spring['id']}").json["summary"]["baseline"]
    low = [s for s in lancs_raw["schools"] if _low(s)]
    assert baseline == {
        "gatsby_low": len(low),
        "gatsby_low_with_cornerstone": sum(bool(s.get("current_cornerstones")) for s in low),
    }

    # a re-solve keeps the approved and the locked pairing alike, and never proposes the rejected pair again
    solved(lead, spring["id"])
    again = list_all(coord, f"/rounds/{spring['id']}/proposals")
    states = {(p["school_id"], p["partner_id"]): p["state"] for p in again}
    assert states[twin, locked["partner_id"]] == "locked"
    assert states[twin, approved["partner_id"]] == "approved"
    assert states[rejected["school_id"], rejected["partner_id"]] == "rejected"
    assert sum(1 for p in again if p["school_id"] == twin and p["role"] == "adviser") == 2

    undecided = [{"proposal": p["id"], "action": "approve"} for p in again if p["state"] == "proposed"]
    assert coord.post(f"/rounds/{spring['id']}/decisions/batch", json={"decisions": undecided}).status_code == 200
    published = lead.post(f"/rounds/{spring['id']}/publish")
    assert published.status_code == 200, published.json
    assert published.json["summary"]["baseline"] == baseline  # publishing replaced the partners, not the figure

    final = list_all(coord, f"/rounds/{spring['id']}/proposals")
    kept = [p for p in final if p["state"] in ("approved", "locked")]
    advisers: dict[str, list[str]] = {}
    for p in sorted(kept, key=lambda p: p["id"]):
        if p["role"] == "adviser":
            advisers.setdefault(p["school_id"], []).append(p["partner_id"])
    assert sum(len(v) == 2 for v in advisers.values()) == len([s for s, n in Counter(
        p["school_id"] for p in kept if p["role"] == "adviser").items() if n == 2]) >= 3
    twin_pair = [locked["partner_id"], approved["partner_id"]]
    assert sorted(advisers[twin]) == sorted(twin_pair)
    pairings = {r["school_id"]: r for r in coord.get(f"/hubs/{hub}/pairings").json}
    export = {r["school_id"]: r for r in coord.get(f"/rounds/{spring['id']}/export").json}
    for school, partners in advisers.items():
        assert sorted(pairings[school]["advisers"]) == sorted(partners), school  # oldest pairing first
        assert export[school]["advisers"] == partners, school
        record = coord.get(f"/hubs/{hub}/schools/{school}").json
        assert record["current_advisers"] == pairings[school]["advisers"], school
    flags = dict(zip(pairings[twin]["advisers"], pairings[twin]["adviser_locked"], strict=True))
    assert flags == {locked["partner_id"]: True, approved["partner_id"]: False}
    csv_line = next(
        line for line in coord.get(f"/hubs/{hub}/pairings?format=csv").get_data(as_text=True).splitlines()
        if line.startswith(twin + ",")
    )
    assert ";".join(pairings[twin]["advisers"]) in csv_line

    # next term: last term's policy; the locked pairing holds even against a cheaper newcomer, the approved one
    # only earns continuity, which a weight of 0 makes worth nothing
    school = next(s for s in lancs_raw["schools"] if s["id"] == twin)
    old = next(a for a in lancs_raw["advisers"] if a["id"] == approved["partner_id"])
    newcomer = {
        "id": "A-NEW", "company": "Newco Ltd", "lat": school["lat"], "lon": school["lon"], "capacity": 1,
        "sectors": old.get("sectors", []), "skills": sorted({*old.get("skills", []), *school.get("needs", [])}),
    }
    assert lead.post(f"/hubs/{hub}/advisers", json=newcomer).status_code == 201
    summer = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-summer"}).json
    assert summer["policy"] == policy  # inherited in full: two advisers per school
    no_continuity = {**policy, "weights": {**policy["weights"], "continuity": 0.0}}
    assert lead.patch(f"/rounds/{summer['id']}", json={"policy": no_continuity}).status_code == 200
    stats = solved(lead, summer["id"])["result"]["stats"]
    proposed = list_all(coord, f"/rounds/{summer['id']}/proposals")
    twin_now = {p["partner_id"]: p for p in proposed if p["school_id"] == twin and p["role"] == "adviser"}
    assert locked["partner_id"] in twin_now and approved["partner_id"] not in twin_now, twin_now
    carried = twin_now[locked["partner_id"]]
    assert (carried["state"], carried["decided_by"]) == ("locked", f"published in round {spring['id']} (2026-spring)")
    assert [p["state"] for p in twin_now.values() if p is not carried] == ["proposed"]
    assert stats["kept_pairings"] >= 1 and stats["changed_pairings"] >= 1

    # a wave keeps every published pairing, decided: only the new schools' proposals wait for a decision
    wave = [
        {"id": "URN999001", "name": "Preston New Academy", "postcode": "PR1 8JN"},
        {"id": "URN999002", "name": "Lancaster Free School", "postcode": "LA1 1AA"},
    ]
    reply = lead.post(f"/hubs/{hub}/waves?wait=120", json={"wave": "2026-w2", "schools": wave})
    assert reply.status_code == 200 and reply.json["state"] == "succeeded", reply.json
    wave_round = coord.get(reply.json["round_url"]).json
    assert wave_round["policy"] == no_continuity  # the hub's latest round's
    in_wave = list_all(coord, f"/rounds/{wave_round['id']}/proposals")
    waiting = [p for p in in_wave if p["state"] == "proposed"]
    new_schools = [p for p in in_wave if p["school_id"] in ("URN999001", "URN999002")]
    assert waiting == new_schools and waiting  # only the new schools' pairings (Lancaster's may find nobody)
    published_now = {(p["school_id"], p["partner_id"]): p["state"] for p in kept}
    carried_over = {(p["school_id"], p["partner_id"]): p["state"] for p in in_wave if p["state"] != "proposed"}
    assert carried_over == {k: ("locked" if v == "locked" else "approved") for k, v in published_now.items()}
    batch = [{"proposal": p["id"], "action": "approve"} for p in waiting]
    assert coord.post(f"/rounds/{wave_round['id']}/decisions/batch", json={"decisions": batch}).status_code == 200
    assert lead.post(f"/rounds/{wave_round['id']}/publish").status_code == 200
    after = {r["school_id"]: r for r in coord.get(f"/hubs/{hub}/pairings").json}
    assert after[twin]["advisers"] == pairings[twin]["advisers"]
    assert after[twin]["adviser_locked"] == pairings[twin]["adviser_locked"]
