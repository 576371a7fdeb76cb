"""Records that leave (retire, delete without history), PUT back what was read, and the audit log of every change."""

from __future__ import annotations

from sqlalchemy import select

import service.tasks
from models import tables as t
from models.repository import problem_document
from models.store import transaction


def _events(who, hub, action=None):
    query = f"?action={action}" if action else ""
    reply = who.get(f"/hubs/{hub}/audit{query}&per_page=500" if query else f"/hubs/{hub}/audit?per_page=500")
    assert reply.status_code == 200, reply.json
    return reply.json["items"]


def _round_of(db, round_id):
    with db() as session:
        return problem_document(session, session.get(t.Round, round_id))


def test_retired_adviser_leaves_new_solves_lists_and_keeps_history(caller, make_hub, db, solve_now, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub, name=f"lead@{hub}")
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    proposed = {p["partner_id"] for p in lead.get(f"/rounds/{round_id}/proposals?per_page=500").json["items"]}
    adviser = sorted(p for p in proposed if p.startswith("A"))[0]

    retired = lead.post(f"/hubs/{hub}/advisers/{adviser}/retire", json={"reason": "moved away"})
    assert retired.status_code == 200 and retired.json["retired_at"]
    expect_error(lead.post(f"/hubs/{hub}/advisers/{adviser}/retire", json={}), 409, "conflict",
                 f"Adviser {adviser!r} is already retired.")
    assert adviser not in [a["id"] for a in lead.get(f"/hubs/{hub}/advisers").json["items"]]
    assert adviser in [a["id"] for a in lead.get(f"/hubs/{hub}/advisers?retired=true").json["items"]]
    assert lead.get(f"/hubs/{hub}/advisers/{adviser}").status_code == 200
    assert adviser in lead.get(f"/rounds/{round_id}/export?format=csv").get_data(as_text=True)  # history stays

    second = lead.post(f"/hubs/{hub}/rounds", json={"term": "t2"}).json["id"]
    document = _round_of(db, second)
    assert adviser not in [a["id"] for a in document["advisers"]]
    assert all(p["partner"] != adviser for p in document["pairs"])
    expect_error(lead.delete(f"/hubs/{hub}/advisers/{adviser}"), 409, "conflict",
                 f"Adviser {adviser!r} has history (proposed in round(s) t1): retire it instead.")

    events = _events(lead, hub, "record.retired")
    assert [(e["actor"], e["subject"], e["details"]) for e in events] == [
        (lead.name, f"advisers/{adviser}", {"reason": "moved away"})]
    reinstated = lead.post(f"/hubs/{hub}/advisers/{adviser}/reinstate")
    assert reinstated.status_code == 200 and reinstated.json["retired_at"] is None
    assert adviser in [a["id"] for a in _round_of(db, second)["advisers"]]


def test_retired_current_adviser_is_reported_changed_and_the_school_paired_anew(caller, make_hub, db, solve_now):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    with db() as session:
        school = session.scalar(select(t.School).where(t.School.hub_id == hub).order_by(t.School.id))
        school.current_advisers = ["A1"]
    assert lead.post(f"/hubs/{hub}/advisers/A1/retire", json={}).status_code == 200
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "after"}).json["id"]
    solve_now(round_id)
    proposals = lead.get(f"/rounds/{round_id}/proposals?per_page=500").json["items"]
    assert proposals and all(p["partner_id"] != "A1" for p in proposals)
    summary = lead.get(f"/rounds/{round_id}").json["summary"]
    assert summary["stats"]["changed_pairings"] == 1 and summary["stats"]["kept_pairings"] == 0


def test_delete_without_history_and_its_one_event(caller, make_hub, db, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    body = {"id": "A9", "company": "New Co", "lat": 53.7, "lon": -2.6}
    assert lead.post(f"/hubs/{hub}/advisers", json=body).status_code == 201
    assert lead.delete(f"/hubs/{hub}/advisers/A9").status_code == 204
    expect_error(lead.get(f"/hubs/{hub}/advisers/A9"), 404, "not_found")
    assert [(e["action"], e["subject"], e["actor"]) for e in _events(lead, hub)][:2] == [
        ("record.deleted", "advisers/A9", lead.name), ("record.created", "advisers/A9", lead.name)]
    with db() as session:
        session.scalar(select(t.School).where(t.School.hub_id == hub, t.School.id == "S1")).current_advisers = ["A2"]
    expect_error(lead.delete(f"/hubs/{hub}/advisers/A2"), 409, "conflict",
                 "Adviser 'A2' has history (the current partner of S1): retire it instead.")
    for who in ("coordinator", "read_only"):
        expect_error(caller(who, hub).delete(f"/hubs/{hub}/advisers/A1"), 403, "forbidden")
        expect_error(caller(who, hub).post(f"/hubs/{hub}/advisers/A1/retire", json={}), 403, "forbidden")


def test_hub_lead_puts_back_the_adviser_it_read_and_the_position_stays(admin, caller, make_hub, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    before = admin.get(f"/hubs/{hub}/advisers/A1").json
    read = lead.get(f"/hubs/{hub}/advisers/A1").json
    assert "lat" not in read and "lon" not in read
    reply = lead.put(f"/hubs/{hub}/advisers/A1", json={**read, "capacity": 2})
    assert reply.status_code == 200, reply.json
    after = admin.get(f"/hubs/{hub}/advisers/A1").json
    assert (after["lat"], after["lon"], after["capacity"]) == (before["lat"], before["lon"], 2)
    events = _events(lead, hub, "record.updated")
    assert [(e["actor"], e["subject"], e["details"]) for e in events] == [
        (lead.name, "advisers/A1", {"changed": ["capacity"]})]  # never the coordinates
    expect_error(lead.put(f"/hubs/{hub}/advisers/A1", json={**read, "hub_id": "elsewhere"}), 422, "invalid_input",
                 details={"json": {"hub_id": [f"Read-only: it is {hub!r} and cannot be changed here."]}})
    assert len(_events(lead, hub, "record.updated")) == 1  # the refused PUT left no event


def test_each_change_leaves_one_event_and_failures_none(admin, caller, make_hub, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    created = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"})
    round_id = created.json["id"]
    expect_error(lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}), 409, "conflict")
    expect_error(lead.post(f"/hubs/{hub}/rounds", json={"term": "bad term!"}), 422, "invalid_input")
    patched = lead.patch(f"/rounds/{round_id}", json={"policy": {"advisers_per_school": 2}})
    assert patched.status_code == 200
    imported = lead.post(f"/hubs/{hub}/schools/import",
                         json=[{"id": "S9", "name": "New", "lat": 53.8, "lon": -2.7}])
    assert imported.json == {"created": 1, "updated": 0}
    expect_error(lead.post(f"/hubs/{hub}/schools/import", json=[{"id": "S8"}]), 422, "invalid_import")
    expect_error(lead.post(f"/hubs/{hub}/schools", json={"id": "S9", "name": "Again", "lat": 53.8, "lon": -2.7}),
                 409, "conflict")
    got = [(e["action"], e["subject"], e["actor"], e["details"]) for e in _events(lead, hub)]
    assert got == [
        ("records.imported", "schools", lead.name, {"created": 1, "updated": 0}),
        ("round.policy_changed", f"rounds/{round_id}", lead.name, {"changed": ["advisers_per_school"]}),
        ("round.created", f"rounds/{round_id}", lead.name, {"term": "t1"}),
    ]
    expect_error(caller("coordinator", hub).get(f"/hubs/{hub}/audit"), 403, "forbidden")
    other = make_hub("tiny")
    expect_error(caller("hub_lead", other).get(f"/hubs/{hub}/audit"), 404, "not_found")
    expect_error(lead.get("/audit"), 403, "forbidden")


def test_token_events_are_for_admins_only(admin, make_hub):
    hub = make_hub("tiny")
    made = admin.post("/tokens", json={"name": f"audited@{hub}", "role": "read_only", "hub_id": hub})
    assert admin.post(f"/tokens/{made.json['id']}/revoke").status_code == 200
    events = admin.get("/audit?hub=-&per_page=500").json["items"]
    subject = f"tokens/{made.json['id']}"
    mine = [(e["action"], e["actor"], e["details"]["name"]) for e in events if e["subject"] == subject]
    assert mine == [("token.revoked", "root", f"audited@{hub}"), ("token.created", "root", f"audited@{hub}")]
    assert made.json["token"] not in admin.get("/audit?per_page=500").get_data(as_text=True)


def test_publishing_leaves_one_event_with_its_outcome_and_a_refused_publish_none(caller, make_hub, solve_now,
                                                                                  expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    expect_error(lead.post(f"/rounds/{round_id}/publish"), 409, "conflict")  # undecided proposals
    assert _events(lead, hub, "round.published") == []
    ids = [p["id"] for p in lead.get(f"/rounds/{round_id}/proposals?per_page=500").json["items"]]
    batch = {"decisions": [{"proposal": i, "action": "approve"} for i in ids]}
    assert lead.post(f"/rounds/{round_id}/decisions/batch", json=batch).status_code == 200
    published = lead.post(f"/rounds/{round_id}/publish")
    assert published.status_code == 200, published.json
    events = _events(lead, hub, "round.published")
    assert [(e["actor"], e["subject"], e["details"]) for e in events] == [
        (lead.name, f"rounds/{round_id}", published.json["summary"]["published"])]
    assert events[0]["details"]["pairings"] == len(ids)


def test_solves_leave_their_start_and_outcome_by_whoever_asked(app, caller, make_hub, monkeypatch):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub, name="Lead of the solves")
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    job = lead.post(f"/rounds/{round_id}/solve?wait=120").json  # through the queue and a real worker
    assert job["state"] == "succeeded", job
    events = [e for e in _events(lead, hub) if e["action"].startswith("solve.")]
    assert [(e["action"], e["actor"], e["subject"]) for e in events] == [
        ("solve.succeeded", "Lead of the solves", f"rounds/{round_id}"),  # newest first
        ("solve.started", "Lead of the solves", f"rounds/{round_id}"),
    ]
    assert events[1]["details"] == {"job": job["id"]}
    assert events[0]["details"] == {"job": job["id"], "status": job["result"]["status"],
                                    "assignments": job["result"]["assignments"],
                                    "unmatched": job["result"]["unmatched"]}
    round2 = lead.post(f"/hubs/{hub}/rounds", json={"term": "t2"}).json["id"]
    monkeypatch.setattr(service.tasks, "solve", lambda *_a, **_k: 1 / 0)
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        failed = app.extensions["hubmatch.jobs"].submit(session, session.get(t.Round, round2), requested_by="someone")
    service.tasks.run_job(failed.id, app.extensions["hubmatch.sessions"])
    (event,) = [e for e in _events(lead, hub, "solve.failed") if e["subject"] == f"rounds/{round2}"]
    assert (event["actor"], event["details"]["job"]) == ("someone", failed.id)
    assert event["details"]["message"].startswith("the solve failed unexpectedly (ZeroDivisionError)")
