"""Coordinators racing, on PostgreSQL (a server with real concurrent transactions): threads, each with its own test
client and token, released together by a barrier."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from helpers import race

pytestmark = pytest.mark.backends("postgresql")

THREADS = 16
STATES = {"approve": "approved", "lock": "locked"}




@pytest.fixture
def contested(caller, make_hub, solve_now, list_all, lancs_raw) -> dict[str, Any]:
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-spring", "policy": lancs_raw["policy"]}).json["id"]
    solve_now(round_id)
    coordinators = [caller("coordinator", hub, name=f"coordinator {i}") for i in range(THREADS)]
    proposals = list_all(lead, f"/rounds/{round_id}/proposals")
    assert len(proposals) >= THREADS * 2
    return {"hub": hub, "round": round_id, "lead": lead, "coordinators": coordinators, "proposals": proposals}


def audit(who, round_id: int) -> list[dict[str, Any]]:
    return who.get(f"/rounds/{round_id}/decisions").json


def test_many_coordinators_deciding_the_same_proposal_one_wins(contested, expect_error):
    lead, coordinators = contested["lead"], contested["coordinators"]
    for attempt, proposal in enumerate(contested["proposals"][:3]):
        etag = lead.get(f"/proposals/{proposal['id']}").headers["ETag"]
        actions = ["approve" if (i + attempt) % 2 else "lock" for i in range(THREADS)]
        replies = race(
            [
                (
                    lambda who=who, action=action, proposal=proposal, etag=etag: who.post(
                        f"/proposals/{proposal['id']}/decision", json={"action": action}, headers={"If-Match": etag}
                    )
                )
                for who, action in zip(coordinators, actions, strict=True)
            ]
        )
        codes = Counter(r.status_code for r in replies)
        assert codes[200] == 1, codes
        assert set(codes) <= {200, 409, 412}, codes
        for reply in replies:
            if reply.status_code == 409:
                expect_error(reply, 409, "conflict", "Someone else changed this record first; reload it and try again.")
            elif reply.status_code == 412:
                expect_error(reply, 412, "precondition_failed", details={"etag": f'"{proposal["id"]}.2"'})
        winner = next(i for i, r in enumerate(replies) if r.status_code == 200)
        final = lead.get(f"/proposals/{proposal['id']}").json
        assert (final["state"], final["version"], final["decided_by"]) == (
            STATES[actions[winner]],
            2,
            coordinators[winner].name,
        )
        rows = [a for a in audit(lead, contested["round"]) if a["proposal_id"] == proposal["id"]]
        assert [(a["action"], a["actor"]) for a in rows] == [(actions[winner], coordinators[winner].name)]
    assert len(audit(lead, contested["round"])) == 3


def test_coordinators_deciding_different_proposals_all_succeed(contested):
    lead, coordinators = contested["lead"], contested["coordinators"]
    chosen = contested["proposals"][:THREADS]
    replies = race(
        [
            (
                lambda who=who, p=p: who.post(
                    f"/proposals/{p['id']}/decision", json={"action": "approve"}, headers={"If-Match": f'"{p["id"]}.1"'}
                )
            )
            for who, p in zip(coordinators, chosen, strict=True)
        ]
    )
    assert [r.status_code for r in replies] == [200] * THREADS, [r.json for r in replies if r.status_code != 200]
    rows = audit(lead, contested["round"])
    assert Counter(a["proposal_id"] for a in rows) == Counter(p["id"] for p in chosen)
    assert {(a["proposal_id"], a["actor"]) for a in rows} == {
        (p["id"], who.name) for who, p in zip(coordinators, chosen, strict=True)
    }
    for p in chosen:
        final = lead.get(f"/proposals/{p['id']}").json
        assert (final["state"], final["version"]) == ("approved", 2)
    assert lead.get(f"/rounds/{contested['round']}").json["proposals"]["approved"] == THREADS


def test_overlapping_batches_are_all_or_nothing(contested):
    lead, (one, two) = contested["lead"], contested["coordinators"][:2]
    for attempt in range(3):  # up to three races, each on fresh proposals of the round
        shared, *rest = contested["proposals"][9 * attempt : 9 * attempt + 9]
        batches = [[shared, *rest[:4]], [shared, *rest[4:]]]
        replies = race(
            [
                (
                    lambda who=who, batch=batch: who.post(
                        f"/rounds/{contested['round']}/decisions/batch",
                        json={"decisions": [{"proposal": p["id"], "action": "approve"} for p in batch]},
                    )
                )
                for who, batch in ((one, batches[0]), (two, batches[1]))
            ]
        )
        codes = sorted(r.status_code for r in replies)
        assert codes in ([200, 200], [200, 409]), codes
        if codes == [200, 200]:  # serialised: the second batch re-decided the shared one (allowed without version)
            continue
        loser = batches[[r.status_code for r in replies].index(409)]
        winner = batches[[r.status_code for r in replies].index(200)]
        for p in loser[1:]:
            assert lead.get(f"/proposals/{p['id']}").json["state"] == "proposed"
        rows = [
            a["proposal_id"]
            for a in audit(lead, contested["round"])
            if a["proposal_id"] in {p["id"] for p in winner + loser}
        ]
        assert Counter(rows) == Counter(p["id"] for p in winner)
        return
    pytest.fail("three overlapping batch races never overlapped")


def test_concurrent_solves_of_one_round_start_one_job(contested, poll_job, db):
    from sqlalchemy import func, select

    from models import tables as t

    lead = contested["lead"]
    replies = race([lambda: lead.post(f"/rounds/{contested['round']}/solve") for _ in range(4)])
    codes = Counter(r.status_code for r in replies)
    assert codes == {202: 1, 409: 3}, codes
    with db() as session:
        jobs = session.scalar(select(func.count()).where(t.Job.round_id == contested["round"]))
    assert jobs == 2  # the fixture's solve and this one
    started = next(r for r in replies if r.status_code == 202)
    assert poll_job(lead, started.headers["Location"])["state"] == "succeeded"
    assert lead.get(f"/rounds/{contested['round']}").json["solves"] == 2
