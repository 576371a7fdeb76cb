"""The termly cycle of a Careers Hub, end to end through the API on the Lancashire fixture, with every solve in the
worker process: import, round, solve, review, re-solve honouring decisions, publish, next term, a wave."""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import Any

SCHOOL_COLUMNS = [
    "id",
    "name",
    "lat",
    "lon",
    "postcode",
    "kind",
    "pupils",
    "pct_fsm",
    "sectors",
    "needs",
    "current_advisers",
    "current_cornerstones",
] + [f"gatsby_{i}" for i in range(1, 9)]


def schools_csv(schools: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SCHOOL_COLUMNS)
    writer.writeheader()
    for school in schools:
        row = {k: school.get(k, "") for k in SCHOOL_COLUMNS if not k.startswith("gatsby_")}
        row |= {f"gatsby_{k}": v for k, v in school.get("gatsby", {}).items()}
        writer.writerow({k: ";".join(v) if isinstance(v, list) else ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode()


def solved(who, round_id: int) -> dict[str, Any]:
    reply = who.post(f"/rounds/{round_id}/solve?wait=120")
    assert reply.status_code == 200, reply.json
    assert reply.json["state"] == "succeeded", reply.json["message"]
    return reply.json


def current_pairings(schools: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    pairs = {(s["id"], "adviser", a) for s in schools for a in s["current_advisers"]}
    return pairs | {(s["id"], "cornerstone", c) for s in schools for c in s["current_cornerstones"]}


def test_termly_cycle_end_to_end(admin, caller, lancs_raw, list_all, expect_error):
    slots = len(lancs_raw["schools"]) * (
        lancs_raw["policy"]["advisers_per_school"] + lancs_raw["policy"]["cornerstones_per_school"]
    )
    # 1. the admin creates the hub and its people's tokens; the Hub Lead imports the records
    hub = "lancashire"
    assert (
        admin.post(
            "/hubs",
            json={
                "id": hub,
                "name": "Lancashire Careers Hub",
                "priority_sectors": lancs_raw["hub"]["priority_sectors"],
            },
        ).status_code
        == 201
    )
    lead, coord = caller("hub_lead", hub, name="Hub Lead"), caller("coordinator", hub, name="Coordinator")
    reply = lead.post(f"/hubs/{hub}/schools/import", data=schools_csv(lancs_raw["schools"]), content_type="text/csv")
    assert reply.json == {"created": 84, "updated": 0}
    assert lead.post(f"/hubs/{hub}/advisers/import", json=lancs_raw["advisers"]).json == {"created": 90, "updated": 0}
    assert lead.post(f"/hubs/{hub}/employers/import", json=lancs_raw["employers"]).json == {"created": 15, "updated": 0}

    # 2. a round for the term, solved
    spring = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": lancs_raw["policy"]}).json
    job = solved(lead, spring["id"])
    first = list_all(coord, f"/rounds/{spring['id']}/proposals")
    unmatched = coord.get(f"/rounds/{spring['id']}/unmatched").json
    assert len(first) + len(unmatched) == slots
    assert job["result"]["assignments"] == len(first)

    # 3. review: approve ten adviser pairings (If-Match), reject one with a reason, lock a Cornerstone pairing
    advisers = [p for p in first if p["role"] == "adviser"]
    approved, rejected = advisers[:10], advisers[10]
    locked = next(p for p in first if p["role"] == "cornerstone")
    for p in approved:
        etag = coord.get(f"/proposals/{p['id']}").headers["ETag"]
        reply = coord.post(f"/proposals/{p['id']}/decision", json={"action": "approve"}, headers={"If-Match": etag})
        assert reply.status_code == 200
    error = expect_error(
        coord.post(f"/proposals/{rejected['id']}/decision", json={"action": "reject"}), 422, "invalid_input"
    )
    assert error["details"] == {"json": {"reason": ["Say why the pairing is rejected."]}}
    reply = coord.post(f"/proposals/{rejected['id']}/decision", json={"action": "reject", "reason": "Too far"})
    assert reply.json["state"] == "rejected"
    assert coord.post(f"/proposals/{locked['id']}/decision", json={"action": "lock"}).json["state"] == "locked"
    assert len(coord.get(f"/rounds/{spring['id']}/decisions").json) == 12

    # 4. re-solve: decisions are honoured
    solved(lead, spring["id"])
    second = list_all(coord, f"/rounds/{spring['id']}/proposals")
    by_id = {p["id"]: p for p in second}
    for p in approved:
        assert by_id[p["id"]]["state"] == "approved"
        assert (by_id[p["id"]]["school_id"], by_id[p["id"]]["partner_id"]) == (p["school_id"], p["partner_id"])
    assert by_id[locked["id"]]["state"] == "locked"
    assert by_id[rejected["id"]]["state"] == "rejected" and by_id[rejected["id"]]["reason"] == "Too far"
    same_pair = [
        p for p in second if (p["school_id"], p["partner_id"]) == (rejected["school_id"], rejected["partner_id"])
    ]
    assert same_pair == [by_id[rejected["id"]]]  # never proposed again
    unmatched = coord.get(f"/rounds/{spring['id']}/unmatched").json
    live = [p for p in second if p["state"] != "rejected"]
    assert len(live) + len(unmatched) == slots
    school = rejected["school_id"]
    other = [p for p in live if p["school_id"] == school and p["role"] == "adviser"]
    open_slot = [u for u in unmatched if u["school_id"] == school and u["role"] == "adviser"]
    assert len(other) + len(open_slot) == 1 and all(p["partner_id"] != rejected["partner_id"] for p in other)
    assert coord.get(f"/rounds/{spring['id']}").json["solves"] == 2

    # 5. approve the rest in one batch, publish
    rest = [p for p in second if p["state"] == "proposed"]
    expect_error(
        lead.post(f"/rounds/{spring['id']}/publish"),
        409,
        "conflict",
        f"{len(rest)} proposal(s) are undecided; decide every proposal before publishing.",
        {"undecided": len(rest)},
    )
    batch = {"decisions": [{"proposal": p["id"], "action": "approve", "version": p["version"]} for p in rest]}
    assert coord.post(f"/rounds/{spring['id']}/decisions/batch", json=batch).json["decided"] == len(rest)
    published = lead.post(f"/rounds/{spring['id']}/publish")
    assert published.status_code == 200
    assert published.json["summary"]["published"]["pairings"] == len(live)
    assert len(coord.get(f"/rounds/{spring['id']}/decisions").json) == 12 + len(rest)
    schools = list_all(coord, f"/hubs/{hub}/schools", per_page=500)
    now_current = current_pairings(schools)
    assert now_current == {(p["school_id"], p["role"], p["partner_id"]) for p in live}
    pairings = coord.get(f"/hubs/{hub}/pairings").json
    assert sum(len(r["advisers"]) + len(r["cornerstones"]) for r in pairings) == len(live)

    # 6. next term: continuity keeps pairings that still pay
    summer = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-summer", "policy": lancs_raw["policy"]}).json
    stats = solved(lead, summer["id"])["result"]["stats"]
    proposed = list_all(coord, f"/rounds/{summer['id']}/proposals")
    kept = now_current & {(p["school_id"], p["role"], p["partner_id"]) for p in proposed}
    assert stats["kept_pairings"] == len(kept) > 0
    assert stats["changed_pairings"] == len(now_current) - len(kept)

    # 7. a wave of new schools mid-year moves nobody
    wave = [
        {"id": "URN999001", "name": "Preston New Academy", "postcode": "PR1 8JN"},
        {"id": "URN999002", "name": "Lancaster Free School", "postcode": "LA1 1AA"},
    ]
    reply = lead.post(f"/hubs/{hub}/waves?wait=120", json={"wave": "2026-w2", "schools": wave})
    assert reply.status_code == 200 and reply.json["state"] == "succeeded", reply.json
    stats = reply.json["result"]["stats"]
    assert (stats["kept_pairings"], stats["changed_pairings"]) == (len(live), 0)
    tagged = coord.get(f"/hubs/{hub}/schools?wave=2026-w2").json["items"]
    assert [s["id"] for s in tagged] == ["URN999001", "URN999002"]
    wave_round = coord.get(reply.json["round_url"]).json
    wave_pairs = {
        (p["school_id"], p["role"], p["partner_id"]) for p in list_all(coord, f"/rounds/{wave_round['id']}/proposals")
    }
    assert now_current <= wave_pairs
    assert Counter(r["state"] for r in coord.get(f"/hubs/{hub}/rounds").json) == {"published": 1, "proposed": 2}
