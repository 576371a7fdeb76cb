"""Proposals and decisions (single with If-Match, batch all-or-nothing), the audit log, publishing, exports and
waves of new schools."""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

ROUND_COLUMNS = [
    "school_id",
    "school_name",
    "advisers",
    "adviser_states",
    "adviser_km",
    "cornerstones",
    "cornerstone_states",
    "cornerstone_km",
    "score",
    "unmatched",
]
PAIRING_COLUMNS = [
    "school_id",
    "school_name",
    "wave",
    "advisers",
    "adviser_km",
    "adviser_locked",
    "cornerstones",
    "cornerstone_km",
    "cornerstone_locked",
]


@dataclass
class Review:
    hub: str
    round_id: int
    lead: Any
    coord: Any
    reader: Any
    proposals: list[dict[str, Any]]

    def get(self, proposal_id: int) -> dict[str, Any]:
        return self.reader.get(f"/proposals/{proposal_id}").json

    def audit(self) -> list[dict[str, Any]]:
        return self.reader.get(f"/rounds/{self.round_id}/decisions").json


@pytest.fixture
def review(caller, make_hub, solve_now, list_all, lancs_raw) -> Review:
    """A Lancashire round of the test's own, solved, nothing decided yet."""
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub, name="Lena Lead")
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    coord = caller("coordinator", hub, name="Cora Coordinator")
    reader = caller("read_only", hub)
    return Review(hub, round_id, lead, coord, reader, list_all(reader, f"/rounds/{round_id}/proposals"))


def shown_km(p: dict) -> float | str:
    """A proposal's distance as a non-admin's export shows it: exact to 2 dp, or an adviser's band."""
    return p["distance_band"] if p["distance_km"] is None else round(p["distance_km"], 2)


def parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# --- reading proposals -----------------------------------------------------------------------------------------------


def test_proposals_list_filters_and_paging(lancashire_round, list_all, expect_error):
    reader, round_id = lancashire_round.reader, lancashire_round.round_id
    every = list_all(reader, f"/rounds/{round_id}/proposals")
    assert len(every) == lancashire_round.job["result"]["assignments"]
    assert len({p["id"] for p in every}) == len(every)
    assert [(p["school_id"], p["role"], p["id"]) for p in every] == sorted(
        (p["school_id"], p["role"], p["id"]) for p in every
    )
    paged = []
    for page in range(1, math.ceil(len(every) / 40) + 1):
        reply = reader.get(f"/rounds/{round_id}/proposals?page={page}&per_page=40").json
        assert (reply["page"], reply["per_page"], reply["total"]) == (page, 40, len(every))
        paged += reply["items"]
    assert paged == every
    roles = Counter(p["role"] for p in every)
    for role in ("adviser", "cornerstone"):
        reply = reader.get(f"/rounds/{round_id}/proposals?role={role}&per_page=1000").json
        assert reply["total"] == roles[role] > 0
        assert {p["role"] for p in reply["items"]} == {role}
    school = every[0]["school_id"]
    by_school = reader.get(f"/rounds/{round_id}/proposals?school={school}").json["items"]
    assert by_school == [p for p in every if p["school_id"] == school]
    partner = Counter(p["partner_id"] for p in every if p["role"] == "cornerstone").most_common(1)[0][0]
    by_partner = reader.get(f"/rounds/{round_id}/proposals?partner={partner}&per_page=1000").json["items"]
    assert by_partner == [p for p in every if p["partner_id"] == partner]
    both = reader.get(f"/rounds/{round_id}/proposals?school={school}&role=cornerstone").json["items"]
    assert both == [p for p in every if p["school_id"] == school and p["role"] == "cornerstone"]
    assert reader.get(f"/rounds/{round_id}/proposals?state=approved").json == {
        "items": [],
        "page": 1,
        "per_page": 100,
        "total": 0,
    }
    error = expect_error(reader.get(f"/rounds/{round_id}/proposals?state=maybe"), 422, "invalid_input")
    assert error["details"] == {"query": {"state": ["Must be one of: proposed, approved, rejected, locked."]}}


def test_proposal_get_has_its_etag_and_explanation(lancashire_round, expect_error):
    reader, round_id = lancashire_round.reader, lancashire_round.round_id
    listed = reader.get(f"/rounds/{round_id}/proposals?per_page=1").json["items"][0]
    reply = reader.get(f"/proposals/{listed['id']}")
    assert reply.status_code == 200
    assert reply.headers["ETag"] == f'"{listed["id"]}.1"'
    assert reply.json == listed
    assert set(reply.json) == {
        "id",
        "round_id",
        "school_id",
        "partner_id",
        "role",
        "cost",
        "components",
        "distance_km",
        "distance_band",  # a reader sees an adviser's distance as its band (models.privacy)
        "alternatives",
        "state",
        "reason",
        "decided_by",
        "decided_at",
        "version",
    }
    assert reply.json["distance_km"] is None and reply.json["distance_band"].endswith(" km")
    assert reply.json["cost"] == pytest.approx(sum(reply.json["components"].values()), abs=0.005)  # parts: 3 dp
    expect_error(reader.get("/proposals/987654321"), 404, "not_found", "No proposal 987654321.")


# --- single decisions ------------------------------------------------------------------------------------------------


def test_approve_with_if_match_then_a_stale_etag_is_412_and_changes_nothing(review, expect_error):
    p = review.proposals[0]
    etag = review.coord.get(f"/proposals/{p['id']}").headers["ETag"]
    before = datetime.now(UTC)
    reply = review.coord.post(f"/proposals/{p['id']}/decision", json={"action": "approve"}, headers={"If-Match": etag})
    assert reply.status_code == 200
    assert reply.headers["ETag"] == f'"{p["id"]}.2"'
    decided = reply.json
    assert (decided["state"], decided["version"], decided["decided_by"], decided["reason"]) == (
        "approved",
        2,
        "Cora Coordinator",
        None,
    )
    assert before.timestamp() - 1 <= parse_time(decided["decided_at"]).timestamp() <= datetime.now(UTC).timestamp() + 1
    stale = review.coord.post(
        f"/proposals/{p['id']}/decision", json={"action": "reject", "reason": "too far"}, headers={"If-Match": etag}
    )
    expect_error(
        stale,
        412,
        "precondition_failed",
        "The proposal changed since you read it; reload it and decide again.",
        {"etag": f'"{p["id"]}.2"'},
    )
    got = review.get(p["id"])
    assert (got["state"], got["version"], got["reason"]) == ("approved", 2, None)
    assert [(a["proposal_id"], a["action"]) for a in review.audit()] == [(p["id"], "approve")]


def test_reject_needs_a_reason(review, expect_error):
    p = review.proposals[1]
    for body in ({"action": "reject"}, {"action": "reject", "reason": "   "}, {"action": "reject", "reason": None}):
        error = expect_error(review.coord.post(f"/proposals/{p['id']}/decision", json=body), 422, "invalid_input")
        assert error["details"] == {"json": {"reason": ["Say why the pairing is rejected."]}}
    error = expect_error(
        review.coord.post(f"/proposals/{p['id']}/decision", json={"action": "veto"}), 422, "invalid_input"
    )
    assert error["details"] == {"json": {"action": ["Must be one of: approve, reject, lock."]}}
    assert review.get(p["id"])["state"] == "proposed" and review.get(p["id"])["version"] == 1
    assert review.audit() == []
    reply = review.coord.post(
        f"/proposals/{p['id']}/decision", json={"action": "reject", "reason": "Too far to travel"}
    )
    assert reply.status_code == 200
    assert (reply.json["state"], reply.json["reason"]) == ("rejected", "Too far to travel")


def test_lock_and_if_match_star_and_no_if_match(review):
    one, two, three = review.proposals[2:5]
    reply = review.lead.post(f"/proposals/{one['id']}/decision", json={"action": "lock"}, headers={"If-Match": "*"})
    assert (reply.status_code, reply.json["state"], reply.json["decided_by"]) == (200, "locked", "Lena Lead")
    assert review.coord.post(f"/proposals/{two['id']}/decision", json={"action": "approve"}).status_code == 200
    # a decision can be changed; each is logged
    assert review.coord.post(f"/proposals/{two['id']}/decision", json={"action": "lock"}).json["version"] == 3
    assert review.get(three["id"])["state"] == "proposed"
    assert [(a["proposal_id"], a["action"]) for a in review.audit()] == [
        (one["id"], "lock"),
        (two["id"], "approve"),
        (two["id"], "lock"),
    ]


# --- batch decisions -------------------------------------------------------------------------------------------------


def test_batch_decides_all(review):
    chosen = review.proposals[:6]
    body = {
        "decisions": [
            {"proposal": chosen[0]["id"], "action": "approve", "version": 1},
            {"proposal": chosen[1]["id"], "action": "reject", "reason": "conflict of interest", "version": 1},
            {"proposal": chosen[2]["id"], "action": "lock"},
            *({"proposal": p["id"], "action": "approve"} for p in chosen[3:]),
        ]
    }
    reply = review.coord.post(f"/rounds/{review.round_id}/decisions/batch", json=body)
    assert reply.status_code == 200
    assert reply.json["decided"] == 6
    assert [p["id"] for p in reply.json["proposals"]] == [p["id"] for p in chosen]
    states = {p["id"]: review.get(p["id"])["state"] for p in chosen}
    assert list(states.values()) == ["approved", "rejected", "locked", "approved", "approved", "approved"]
    assert review.get(chosen[1]["id"])["reason"] == "conflict of interest"
    audit = review.audit()
    assert [(a["proposal_id"], a["action"], a["actor"]) for a in audit] == [
        (d["proposal"], d["action"], "Cora Coordinator") for d in body["decisions"]
    ]
    assert review.lead.get(f"/rounds/{review.round_id}").json["proposals"] == {
        "approved": 4,
        "rejected": 1,
        "locked": 1,
        "proposed": len(review.proposals) - 6,
    }


def test_batch_with_one_stale_version_is_412_and_decides_nothing(review, expect_error):
    first, second, third = review.proposals[:3]
    assert review.coord.post(f"/proposals/{second['id']}/decision", json={"action": "approve"}).status_code == 200
    body = {"decisions": [{"proposal": p["id"], "action": "lock", "version": 1} for p in (first, second, third)]}
    reply = review.coord.post(f"/rounds/{review.round_id}/decisions/batch", json=body)
    expect_error(
        reply,
        412,
        "precondition_failed",
        "Some proposals changed since you read them; nothing was decided.",
        {"stale": [second["id"]]},
    )
    assert [review.get(p["id"])["state"] for p in (first, second, third)] == ["proposed", "approved", "proposed"]
    assert len(review.audit()) == 1


def test_bad_batch_decides_nothing(review, lancashire_round, expect_error):
    first, second, third = review.proposals[:3]
    ok = [{"proposal": first["id"], "action": "approve"}, {"proposal": second["id"], "action": "approve"}]
    other = lancashire_round.reader.get(f"/rounds/{lancashire_round.round_id}/proposals?per_page=1").json["items"][0]
    url = f"/rounds/{review.round_id}/decisions/batch"
    reply = review.coord.post(url, json={"decisions": [*ok, {"proposal": first["id"], "action": "lock"}]})
    expect_error(reply, 422, "invalid_input", "A proposal appears twice in the batch.")
    for stray in (987654321, other["id"]):  # no such proposal; a proposal of another round
        reply = review.coord.post(url, json={"decisions": [*ok, {"proposal": stray, "action": "approve"}]})
        expect_error(reply, 404, "not_found", f"No proposal {stray} in round {review.round_id}.", {"missing": [stray]})
    reply = review.coord.post(url, json={"decisions": [*ok, {"proposal": third["id"], "action": "reject"}]})
    error = expect_error(reply, 422, "invalid_input")
    assert error["details"] == {"json": {"decisions": {"2": {"reason": ["Say why the pairing is rejected."]}}}}
    error = expect_error(review.coord.post(url, json={"decisions": []}), 422, "invalid_input")
    assert error["details"] == {"json": {"decisions": ["Length must be between 1 and 5000."]}}
    assert [review.get(p["id"])["state"] for p in (first, second, third)] == ["proposed"] * 3
    assert review.audit() == []
    assert lancashire_round.reader.get(f"/proposals/{other['id']}").json["state"] == "proposed"


# --- the audit log ---------------------------------------------------------------------------------------------------


def test_audit_log_has_one_row_per_decision_and_cannot_be_edited(review, expect_error):
    p1, p2, p3 = review.proposals[:3]
    t0 = datetime.now(UTC).timestamp()
    review.coord.post(f"/proposals/{p1['id']}/decision", json={"action": "approve"})
    review.lead.post(f"/proposals/{p2['id']}/decision", json={"action": "reject", "reason": "Not DBS checked"})
    review.coord.post(
        f"/rounds/{review.round_id}/decisions/batch", json={"decisions": [{"proposal": p3["id"], "action": "lock"}]}
    )
    t1 = datetime.now(UTC).timestamp()
    audit = review.audit()
    assert [{k: v for k, v in row.items() if k not in ("id", "at")} for row in audit] == [
        {
            "proposal_id": p1["id"],
            "school_id": p1["school_id"],
            "partner_id": p1["partner_id"],
            "role": p1["role"],
            "action": "approve",
            "reason": None,
            "actor": "Cora Coordinator",
        },
        {
            "proposal_id": p2["id"],
            "school_id": p2["school_id"],
            "partner_id": p2["partner_id"],
            "role": p2["role"],
            "action": "reject",
            "reason": "Not DBS checked",
            "actor": "Lena Lead",
        },
        {
            "proposal_id": p3["id"],
            "school_id": p3["school_id"],
            "partner_id": p3["partner_id"],
            "role": p3["role"],
            "action": "lock",
            "reason": None,
            "actor": "Cora Coordinator",
        },
    ]
    times = [parse_time(row["at"]).timestamp() for row in audit]
    assert t0 - 1 <= times[0] <= times[1] <= times[2] <= t1 + 1
    assert [row["id"] for row in audit] == sorted(row["id"] for row in audit)
    url = f"/rounds/{review.round_id}/decisions"
    for who in (review.lead, review.coord):
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            reply = who.open(method, url, json=[{"action": "approve"}])
            expect_error(reply, 405, "method_not_allowed")
            assert set(reply.headers["Allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS"}
        for method in ("PUT", "PATCH", "DELETE"):
            expect_error(who.open(method, f"{url}/{audit[0]['id']}"), 404, "not_found")
            expect_error(who.open(method, f"{url}/batch"), 405, "method_not_allowed")
    assert review.audit() == audit


# --- publishing ------------------------------------------------------------------------------------------------------


def kept_pairings(proposals: list[dict[str, Any]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What publishing must make current: approved and locked proposals, every one per role, in proposal order."""
    kept: dict[str, dict[str, list[str]]] = {"adviser": {}, "cornerstone": {}}
    for p in sorted(proposals, key=lambda p: p["id"]):
        if p["state"] in ("approved", "locked"):
            kept[p["role"]].setdefault(p["school_id"], []).append(p["partner_id"])
    return kept["adviser"], kept["cornerstone"]


def test_publish_needs_every_proposal_decided_then_sets_current_pairings(review, list_all, lancs_raw, expect_error):
    reject = next(p for p in review.proposals if p["role"] == "adviser")
    lock = next(p for p in review.proposals if p["role"] == "cornerstone")
    review.coord.post(f"/proposals/{reject['id']}/decision", json={"action": "reject", "reason": "Moved away"})
    review.coord.post(f"/proposals/{lock['id']}/decision", json={"action": "lock"})
    undecided = len(review.proposals) - 2
    expect_error(
        review.lead.post(f"/rounds/{review.round_id}/publish"),
        409,
        "conflict",
        f"{undecided} proposal(s) are undecided; decide every proposal before publishing.",
        {"undecided": undecided},
    )
    assert review.lead.get(f"/rounds/{review.round_id}").json["state"] == "proposed"
    rest = [
        {"proposal": p["id"], "action": "approve", "version": 1}
        for p in review.proposals
        if p["id"] not in (reject["id"], lock["id"])
    ]
    assert (
        review.coord.post(f"/rounds/{review.round_id}/decisions/batch", json={"decisions": rest}).json["decided"]
        == undecided
    )
    reply = review.lead.post(f"/rounds/{review.round_id}/publish")
    assert reply.status_code == 200
    final = list_all(review.reader, f"/rounds/{review.round_id}/proposals")
    advisers, cornerstones = kept_pairings(final)
    assert reject["school_id"] not in advisers
    previous = {s["id"]: (s.get("current_advisers", []), s.get("current_cornerstones", []))
                for s in lancs_raw["schools"]}
    changed = sum((previous[s][0] != advisers.get(s, [])) + (previous[s][1] != cornerstones.get(s, []))
                  for s in previous)
    assert reply.json["state"] == "published" and reply.json["published_at"] is not None
    assert reply.json["summary"]["published"] == {"pairings": len(final) - 1, "schools_changed": changed}
    assert reply.json["proposals"] == {"approved": undecided, "rejected": 1, "locked": 1}
    schools = list_all(review.reader, f"/hubs/{review.hub}/schools", per_page=500)
    assert len(schools) == 84
    for school in schools:
        assert school["current_advisers"] == advisers.get(school["id"], []), school["id"]
        assert school["current_cornerstones"] == cornerstones.get(school["id"], []), school["id"]
    # a published round is final
    expect_error(
        review.lead.post(f"/rounds/{review.round_id}/publish"),
        409,
        "conflict",
        "Only a proposed round can be published; this one is published.",
    )
    expect_error(
        review.coord.post(f"/proposals/{lock['id']}/decision", json={"action": "approve"}),
        409,
        "conflict",
        "The round is published; its decisions are final.",
    )
    expect_error(
        review.coord.post(
            f"/rounds/{review.round_id}/decisions/batch",
            json={"decisions": [{"proposal": lock["id"], "action": "approve"}]},
        ),
        409,
        "conflict",
        "The round is published; its decisions are final.",
    )
    expect_error(
        review.lead.post(f"/rounds/{review.round_id}/solve"),
        409,
        "conflict",
        "The round is published; create a new round to match again.",
    )
    expect_error(
        review.lead.patch(f"/rounds/{review.round_id}", json={"policy": {}}),
        409,
        "conflict",
        "The round is published; its policy can no longer change.",
    )
    assert review.get(lock["id"])["state"] == "locked"
    assert len(review.audit()) == len(final)


def test_publish_of_a_draft_round_is_409(caller, make_hub, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    expect_error(
        lead.post(f"/rounds/{round_id}/publish"),
        409,
        "conflict",
        "Only a proposed round can be published; this one is draft.",
    )


# --- exports ---------------------------------------------------------------------------------------------------------


def read_csv(reply) -> tuple[list[str], list[dict[str, str]]]:
    assert reply.status_code == 200
    assert reply.mimetype == "text/csv"
    reader = csv.DictReader(io.StringIO(reply.get_data(as_text=True)))
    return list(reader.fieldnames or []), list(reader)


def test_round_export_json_and_csv_one_row_per_school(lancashire_round, list_all, lancs):
    reader, round_id = lancashire_round.reader, lancashire_round.round_id
    proposals = list_all(reader, f"/rounds/{round_id}/proposals")
    unmatched = reader.get(f"/rounds/{round_id}/unmatched").json
    names = {s.id: s.name for s in lancs.schools}
    rows = reader.get(f"/rounds/{round_id}/export").json
    assert rows == reader.get(f"/rounds/{round_id}/export?format=json").json
    assert [r["school_id"] for r in rows] == sorted(names)
    for row in rows:
        mine = [p for p in proposals if p["school_id"] == row["school_id"]]
        adviser = sorted((p for p in mine if p["role"] == "adviser"), key=lambda p: p["id"])
        cornerstones = sorted((p for p in mine if p["role"] == "cornerstone"), key=lambda p: p["id"])
        assert row["school_name"] == names[row["school_id"]]
        assert row["advisers"] == [p["partner_id"] for p in adviser]
        assert row["adviser_states"] == [p["state"] for p in adviser]
        assert row["adviser_km"] == [shown_km(p) for p in adviser]
        assert row["cornerstones"] == [p["partner_id"] for p in cornerstones]
        assert row["cornerstone_km"] == [round(p["distance_km"], 2) for p in cornerstones]
        assert row["score"] == pytest.approx(sum(p["cost"] for p in mine), abs=1e-3)
        assert sorted(row["unmatched"]) == sorted(
            f"{u['role']}:{u['reason']}" for u in unmatched if u["school_id"] == row["school_id"]
        )
    header, table = read_csv(reader.get(f"/rounds/{round_id}/export?format=csv"))
    assert header == ROUND_COLUMNS
    assert len(table) == len(rows) == 84
    by_id = {r["school_id"]: r for r in rows}
    for line in table:
        row = by_id[line["school_id"]]
        assert line["advisers"] == ";".join(row["advisers"])
        assert line["cornerstones"] == ";".join(row["cornerstones"])
        assert line["unmatched"] == ";".join(row["unmatched"])
        assert float(line["score"]) == pytest.approx(row["score"])
    reply = reader.get(f"/rounds/{round_id}/export?format=csv")
    assert reply.headers["Content-Disposition"] == f'attachment; filename="round-{round_id}.csv"'


def test_csv_exports_quote_formula_cells(admin, make_hub, solve_now):
    hub = make_hub("tiny")
    nasty = {"F1": '=HYPERLINK("http://evil","x")', "F2": "+SUM(A1:A9)", "F3": "-2+3", "F4": "@cmd|' /C calc'!A0"}
    for school_id, name in nasty.items():
        assert (
            admin.post(f"/hubs/{hub}/schools", json={"id": school_id, "name": name, "postcode": "PR1 8JN"}).status_code
            == 201
        )
    round_id = admin.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    for url, columns in (
        (f"/rounds/{round_id}/export?format=csv", ROUND_COLUMNS),
        (f"/hubs/{hub}/pairings?format=csv", PAIRING_COLUMNS),
    ):
        header, table = read_csv(admin.get(url))
        assert header == columns
        names = {r["school_id"]: r["school_name"] for r in table}
        assert len(table) == 3 + 4
        for school_id, name in nasty.items():
            assert names[school_id] == "'" + name
        assert names["S1"] == "Preston Academy"
    rows = admin.get(f"/rounds/{round_id}/export").json  # JSON is data, not a spreadsheet: left as it is
    assert {r["school_id"]: r["school_name"] for r in rows if r["school_id"] in nasty} == nasty


def test_pairings_export_after_publish(review, list_all, lancs_raw):
    body = {"decisions": [{"proposal": p["id"], "action": "approve"} for p in review.proposals]}
    review.coord.post(f"/rounds/{review.round_id}/decisions/batch", json=body)
    assert review.lead.post(f"/rounds/{review.round_id}/publish").status_code == 200
    advisers, cornerstones = kept_pairings(list_all(review.reader, f"/rounds/{review.round_id}/proposals"))
    distance = {(p["school_id"], p["partner_id"]): shown_km(p) for p in review.proposals}
    rows = review.reader.get(f"/hubs/{review.hub}/pairings").json
    assert [r["school_id"] for r in rows] == sorted(s["id"] for s in lancs_raw["schools"])
    for row in rows:
        assert row["advisers"] == advisers.get(row["school_id"], [])
        assert row["cornerstones"] == cornerstones.get(row["school_id"], [])
        assert row["wave"] is None
        assert row["adviser_km"] == pytest.approx([distance[row["school_id"], a] for a in row["advisers"]], abs=0.011)
        assert row["cornerstone_km"] == pytest.approx(
            [distance[row["school_id"], c] for c in row["cornerstones"]], abs=0.011
        )
    header, table = read_csv(review.reader.get(f"/hubs/{review.hub}/pairings?format=csv"))
    assert header == PAIRING_COLUMNS
    assert [(r["school_id"], r["advisers"], r["cornerstones"]) for r in table] == [
        (r["school_id"], ";".join(r["advisers"]), ";".join(r["cornerstones"])) for r in rows
    ]


# --- waves -----------------------------------------------------------------------------------------------------------


def test_wave_imports_new_schools_and_keeps_every_published_pairing(review, list_all, expect_error):
    body = {"decisions": [{"proposal": p["id"], "action": "approve"} for p in review.proposals]}
    review.coord.post(f"/rounds/{review.round_id}/decisions/batch", json=body)
    published = review.lead.post(f"/rounds/{review.round_id}/publish").json["summary"]["published"]["pairings"]
    assert published == len(review.proposals)
    current = {(p["school_id"], p["partner_id"]) for p in review.proposals}
    new = [
        {"id": "NEW1", "name": "New Preston School", "postcode": "PR1 8JN"},
        {"id": "NEW2", "name": "New Burnley School", "postcode": "BB11 1AA", "kind": "send"},
    ]
    bad = [*new, {"id": "NEW3", "name": "No Place"}]
    error = expect_error(
        review.lead.post(f"/hubs/{review.hub}/waves", json={"wave": "w2", "schools": bad}),
        422,
        "invalid_import",
        "1 problem(s) in the file; nothing was imported.",
    )
    assert error["details"] == [
        {
            "record": "schools[2] (NEW3)",
            "field": "lat",
            "message": "Missing coordinates: give lat and lon, or a postcode.",
        }
    ]
    assert review.lead.get(f"/hubs/{review.hub}/schools?wave=w2").json["total"] == 0
    assert len(review.lead.get(f"/hubs/{review.hub}/rounds").json) == 1
    reply = review.lead.post(f"/hubs/{review.hub}/waves?wait=120", json={"wave": "w2", "schools": new})
    assert reply.status_code == 200
    job = reply.json
    assert job["state"] == "succeeded", job["message"]
    stats = job["result"]["stats"]
    assert stats["kept_pairings"] == published
    assert stats["changed_pairings"] == 0
    waved = review.lead.get(f"/hubs/{review.hub}/schools?wave=w2").json["items"]
    assert [(s["id"], s["wave"], s["kind"]) for s in waved] == [("NEW1", "w2", "mainstream"), ("NEW2", "w2", "send")]
    assert review.lead.get(f"/hubs/{review.hub}/schools").json["total"] == 86
    wave_round = review.lead.get(job["round_url"]).json
    assert (wave_round["term"], wave_round["keep_current"], wave_round["state"]) == ("wave-w2", True, "proposed")
    assert wave_round["policy"] == review.lead.get(f"/rounds/{review.round_id}").json["policy"]
    proposed = list_all(review.reader, f"/rounds/{wave_round['id']}/proposals")
    assert current <= {(p["school_id"], p["partner_id"]) for p in proposed}
    assert {p["school_id"] for p in proposed} - {s for s, _ in current} <= {"NEW1", "NEW2"}
    # the same wave term again is refused before anything is imported
    again = [{"id": "NEW9", "name": "Later", "postcode": "PR1 8JN"}]
    expect_error(
        review.lead.post(f"/hubs/{review.hub}/waves", json={"wave": "w2", "schools": again}),
        409,
        "conflict",
        f"Hub '{review.hub}' already has a round for 'wave-w2'.",
    )
    assert review.lead.get(f"/hubs/{review.hub}/schools/NEW9").status_code == 404


def test_etag_read_before_a_resolve_never_decides_another_pairing(review, solve_now, backend):
    """A coordinator reads a proposal, the Hub Lead re-solves, the coordinator approves with the old ETag: the
    decision must not land on whatever pairing now has that id (404 or 412, never 200 on another pair)."""
    rejected = review.proposals[0]
    review.coord.post(f"/proposals/{rejected['id']}/decision", json={"action": "reject", "reason": "No"})
    read = review.proposals[10]
    etag = review.coord.get(f"/proposals/{read['id']}").headers["ETag"]
    solve_now(review.round_id)
    reply = review.coord.post(
        f"/proposals/{read['id']}/decision", json={"action": "approve"}, headers={"If-Match": etag}
    )
    if reply.status_code == 200:
        assert (reply.json["school_id"], reply.json["partner_id"]) == (read["school_id"], read["partner_id"])
    else:
        assert reply.status_code in (404, 412), reply.json
