"""Notifications on publish through the API and the backend's real worker (the embedded default: ``.eml`` files):
contacts as personal data (read and changed by admins and the hub's Hub Lead only, never in records, exports or
the audit log), one message per person whose pairings changed, opt-outs and consent respected, nothing about an
adviser's home in any message, the first meeting's invitation, and the Hub Lead's view of what was sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from icalendar import Calendar

from matcher.geo import haversine_km
from models.privacy import area_of, band_label
from service.mail import file_name

DELIVERY_TIMEOUT_S = 60.0


def address(hub: str, kind: str, record_id: str) -> str:
    return f"{kind}.{record_id}.{hub}@example.org".lower()


def set_contacts(lead: Any, hub: str, people: dict[tuple[str, str], dict[str, Any]]) -> None:
    for (collection, record_id), extra in people.items():
        body = {"email": address(hub, collection, record_id), "consent": True, **extra}
        reply = lead.put(f"/hubs/{hub}/contacts/{collection}/{record_id}", json=body)
        assert reply.status_code == 200, reply.json


def approve_all(who: Any, round_id: int, list_all: Any) -> list[dict[str, Any]]:
    proposals = list_all(who, f"/rounds/{round_id}/proposals")
    batch = [{"proposal": p["id"], "action": "approve", "version": p["version"]}
             for p in proposals if p["state"] == "proposed"]
    if batch:
        assert who.post(f"/rounds/{round_id}/decisions/batch", json={"decisions": batch}).status_code == 200
    return proposals


def current(who: Any, hub: str, list_all: Any) -> set[tuple[str, str, str]]:
    """The hub's published pairings as (school, role, partner), read from the schools' records."""
    schools = list_all(who, f"/hubs/{hub}/schools", per_page=500)
    return {(s["id"], "adviser", a) for s in schools for a in s.get("current_advisers", [])} | {
        (s["id"], "cornerstone", c) for s in schools for c in s.get("current_cornerstones", [])}


def people_changed(before: set, after: set) -> dict[tuple[str, str], str]:
    """Independently of the service: each person whose pairings changed, with 'gained g, lost l, kept k'."""
    counts: dict[tuple[str, str], list[int]] = {}
    for index, pairs in enumerate((after - before, before - after, before & after)):
        for school, role, partner in pairs:
            for person in (("school", school), ("adviser" if role == "adviser" else "employer", partner)):
                counts.setdefault(person, [0, 0, 0])[index] += 1
    return {person: ", ".join(f"{w} {n}" for w, n in zip(("gained", "lost", "kept"), c, strict=True) if n)
            for person, c in counts.items() if c[0] or c[1]}


def delivered(folder: Path, key: str, timeout_s: float = DELIVERY_TIMEOUT_S) -> EmailMessage:
    """The message the worker wrote for an outbox key (waiting for the worker)."""
    path = folder / file_name(key)
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"no message {key} in {folder} within {timeout_s} s"
        time.sleep(0.05)
    return message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[return-value]


def plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def publish(lead: Any, round_id: int, **body: Any) -> Any:
    reply = lead.post(f"/rounds/{round_id}/publish", json=body) if body else lead.post(f"/rounds/{round_id}/publish")
    assert reply.status_code == 200, reply.json
    return reply


def test_contacts_are_personal_data_of_the_hub_lead_and_admins(make_hub, caller, admin, solve_now, list_all,
                                                                expect_error):
    hub = make_hub("tiny")
    other = make_hub("tiny")
    lead, coord, reader = (caller(r, hub) for r in ("hub_lead", "coordinator", "read_only"))
    stranger = caller("hub_lead", other)
    set_contacts(lead, hub, {("advisers", "A1"): {"name": "Ada Lovelace"}, ("schools", "S1"): {"name": "Ms Leader"}})
    secret = address(hub, "advisers", "A1")
    assert admin.get(f"/hubs/{hub}/contacts/advisers/A1").json["email"] == secret
    assert [c["record_id"] for c in lead.get(f"/hubs/{hub}/contacts").json] == ["A1", "S1"]
    for who in (coord, reader):
        for reply in (who.get(f"/hubs/{hub}/contacts"), who.get(f"/hubs/{hub}/contacts/advisers/A1"),
                      who.put(f"/hubs/{hub}/contacts/advisers/A1", json={"email": "x@example.org", "consent": True}),
                      who.delete(f"/hubs/{hub}/contacts/advisers/A1")):
            expect_error(reply, 403, "forbidden",
                         f"A {who.name.split('@')[0]} token cannot do this; it needs one of: admin, hub_lead.")
    expect_error(stranger.get(f"/hubs/{hub}/contacts/advisers/A1"), 404, "not_found", f"No hub {hub!r}.")
    expect_error(stranger.get(f"/hubs/{hub}/contacts"), 404, "not_found", f"No hub {hub!r}.")

    # nowhere else: records, exports, the audit log, for every role
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    approve_all(lead, round_id, list_all)
    publish(lead, round_id)
    for who in (admin, lead, coord, reader):
        for url in (f"/hubs/{hub}/advisers", f"/hubs/{hub}/advisers/A1", f"/hubs/{hub}/schools/S1",
                    f"/rounds/{round_id}/export?format=csv", f"/rounds/{round_id}/export",
                    f"/hubs/{hub}/pairings?format=csv", f"/hubs/{hub}/pairings",
                    *([f"/hubs/{hub}/audit"] if who in (admin, lead) else [])):
            reply = who.get(url)
            assert reply.status_code == 200, (url, reply.status_code)
            text = reply.get_data(as_text=True)
            assert secret not in text and "Ada Lovelace" not in text, (who.name, url)
    events = lead.get(f"/hubs/{hub}/audit").json["items"]
    changed = [e for e in events if e["action"] == "contact.updated"]
    assert sorted(e["subject"] for e in changed) == ["contacts/adviser/A1", "contacts/school/S1"]
    assert all(e["details"] == {"changed": ["consent", "email", "name", "opted_out"]} for e in changed)


def test_a_contact_is_checked_naming_the_field(make_hub, caller, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    error = expect_error(lead.put(f"/hubs/{hub}/contacts/advisers/A1", json={"email": "not-an-address",
                                                                             "consent": True}), 422, "invalid_input")
    assert error["details"] == {"json": {"email": ["Not a valid email address."]}}
    expect_error(lead.put(f"/hubs/{hub}/contacts/advisers/A9", json={"email": "a@example.org", "consent": True}),
                 404, "not_found", f"No adviser 'A9' in hub {hub!r}.")
    expect_error(lead.put(f"/hubs/{hub}/contacts/coordinators/ec", json={"email": "c@example.org", "consent": True}),
                 422, "invalid_input", "A coordinator's contact needs their name.", {"json": {"name": ["Required."]}})
    expect_error(lead.get(f"/hubs/{hub}/contacts/volunteers/A1"), 404, "not_found",
                 "No contacts of 'volunteers': they are of advisers, schools, employers, coordinators.")
    expect_error(lead.get(f"/hubs/{hub}/contacts/advisers/A2"), 404, "not_found",
                 f"The adviser 'A2' of hub {hub!r} has no contact.")


def test_publish_writes_to_everyone_whose_pairings_changed_once_and_respects_opt_outs(
        make_hub, caller, admin, solve_now, list_all, outbox_dir, expect_error, db):
    hub = make_hub("tiny")
    lead, coord, reader = (caller(r, hub) for r in ("hub_lead", "coordinator", "read_only"))
    # A2 opted out, S2 gave no consent, S3 has no contact; a coordinator gets the digest
    set_contacts(lead, hub, {("advisers", "A1"): {}, ("advisers", "A2"): {"opted_out": True},
                             ("schools", "S1"): {"name": "Ms Leader"}, ("schools", "S2"): {"consent": False},
                             ("employers", "E1"): {}, ("coordinators", "ec1"): {"name": "Jo Coordinator"}})
    before = current(lead, hub, list_all)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    approve_all(lead, round_id, list_all)
    summary = publish(lead, round_id).json["summary"]
    after = current(lead, hub, list_all)
    expected = people_changed(before, after)
    assert expected, "the first publish pairs every school"

    for who in (coord, reader):
        expect_error(who.get(f"/rounds/{round_id}/messages"), 403, "forbidden")
    view = lead.get(f"/rounds/{round_id}/messages").json
    people = {(m["kind"], m["record_id"]): m for m in view["items"] if m["kind"] != "coordinator"}
    assert {p: m["change"] for p, m in people.items()} == expected
    skipped = {"A2": "opted out of e-mails", "S2": "no consent to be e-mailed", "S3": "no e-mail address on file"}
    for (_, record_id), m in people.items():
        assert (m["state"] == "skipped") == (record_id in skipped), m
        assert m["reason"] == skipped.get(record_id, m["reason"])
    assert summary["messages"] == {"pending": len(people) - len(skipped) + 1, "skipped": len(skipped)}

    # the worker delivers each pending message once, to the person's address; none to the skipped
    for (kind, record_id), m in people.items():
        key = f"round-{round_id}:{kind}:{record_id}"
        if record_id in skipped:
            continue
        message = delivered(outbox_dir, key)
        assert message["To"].addresses[0].addr_spec == address(hub, f"{kind}s", record_id)
        assert message["Subject"] == m["subject"]
    time.sleep(0.5)  # a second delivery, if any, would have written by now
    files = sorted(p.name for p in outbox_dir.glob(f"round-{round_id}_*"))
    wanted = {file_name(f"round-{round_id}:{k}:{r}") for (k, r) in people if r not in skipped}
    wanted.add(file_name(f"round-{round_id}:coordinator:ec1"))
    assert set(files) == wanted
    assert all(m["state"] in ("sent", "skipped") for m in _settled(lead, round_id)["items"])

    # no adviser's home, or exact distance, in any message; the band is the one from the adviser's area
    advisers = {a["id"]: a for a in admin.get(f"/hubs/{hub}/advisers").json["items"]}
    schools = {s["id"]: s for s in admin.get(f"/hubs/{hub}/schools").json["items"]}
    texts = {name: (outbox_dir / name).read_text() for name in files}
    for adviser in advisers.values():
        for text in texts.values():
            for value in (adviser["lat"], adviser["lon"]):
                assert f"{value}" not in text and f"{value:.2f}" not in text and f"{value:.3f}" not in text
        for school in schools.values():
            km = float(haversine_km(school["lat"], school["lon"], adviser["lat"], adviser["lon"]))
            for text in texts.values():
                assert f"{km:.1f} km" not in text and f"{km:.2f}" not in text
    school, _, _ = next(p for p in sorted(after) if p[1] == "adviser" and p[2] == "A1")
    area = area_of(advisers["A1"]["lat"], advisers["A1"]["lon"])
    band = band_label(float(haversine_km(schools[school]["lat"], schools[school]["lon"], *area)))
    to_adviser = plain(delivered(outbox_dir, f"round-{round_id}:adviser:A1"))
    assert f"{schools[school]['name']}, " in to_adviser and f"({band} from your area)" in to_adviser
    digest = plain(delivered(outbox_dir, f"round-{round_id}:coordinator:ec1"))
    assert "Dear Jo Coordinator," in digest and "@example.org" not in digest  # a coordinator reads no contacts
    assert "not sent: opted out of e-mails" in digest and f"({len(people)} in all)" in digest


def _settled(lead: Any, round_id: int, timeout_s: float = DELIVERY_TIMEOUT_S) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        view = lead.get(f"/rounds/{round_id}/messages").json
        if all(m["state"] not in ("pending", "sending") for m in view["items"]):
            return view
        assert time.monotonic() < deadline, view["counts"]
        time.sleep(0.05)


def test_a_later_round_writes_only_to_the_people_whose_pairings_changed(make_hub, caller, solve_now, list_all,
                                                                        outbox_dir):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    set_contacts(lead, hub, {(c, r): {} for c, r in (("advisers", "A1"), ("advisers", "A2"), ("schools", "S1"),
                                                     ("schools", "S2"), ("schools", "S3"), ("employers", "E1"))})
    first = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(first)
    approve_all(lead, first, list_all)
    publish(lead, first)
    before = current(lead, hub, list_all)
    # next term: the coordinator turns A1 down for its school, so that school, A1 and its new adviser hear of it
    second = lead.post(f"/hubs/{hub}/rounds", json={"term": "t2"}).json["id"]
    solve_now(second)
    a1 = next(p for p in list_all(lead, f"/rounds/{second}/proposals") if p["partner_id"] == "A1")
    reply = lead.post(f"/proposals/{a1['id']}/decision", json={"action": "reject", "reason": "moving away"})
    assert reply.status_code == 200
    solve_now(second)
    approve_all(lead, second, list_all)
    publish(lead, second)
    after = current(lead, hub, list_all)
    expected = people_changed(before, after)
    assert "lost 1" in expected["adviser", "A1"]
    assert len(expected) < len(people_changed(set(), after))  # someone kept all their pairings and hears nothing
    view = _settled(lead, second)
    assert {(m["kind"], m["record_id"]): m["change"] for m in view["items"]} == expected
    assert {m["state"] for m in view["items"]} == {"sent"}
    text = plain(delivered(outbox_dir, f"round-{second}:adviser:A1"))
    lost = next(p[0] for p in before - after if p[2] == "A1")
    names = {s["id"]: s["name"] for s in list_all(lead, f"/hubs/{hub}/schools", per_page=500)}
    assert f"No longer paired with you:\n  - {names[lost]}, " in text


def test_a_first_meeting_comes_as_one_invitation_per_new_pairing(make_hub, caller, solve_now, list_all, outbox_dir,
                                                                 expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    set_contacts(lead, hub, {("advisers", "A1"): {}, ("schools", "S1"): {}})
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    approve_all(lead, round_id, list_all)
    past = {"first_meeting": {"starts_at": "2020-09-15T15:30:00+01:00"}}
    expect_error(lead.post(f"/rounds/{round_id}/publish", json=past), 422, "invalid_input",
                 "The first meeting must be in the future.",
                 {"json": {"first_meeting": {"starts_at": ["Must be in the future."]}}})
    starts = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    publish(lead, round_id, first_meeting={"starts_at": starts.isoformat(), "minutes": 45, "place": "Main hall"})
    pair = next(p for p in current(lead, hub, list_all) if p[1] == "adviser" and p[2] == "A1")
    events = {}
    for kind, record_id in (("adviser", "A1"), ("school", pair[0])):
        message = delivered(outbox_dir, f"round-{round_id}:{kind}:{record_id}")
        attachment = next(message.iter_attachments())
        assert attachment.get_content_type() == "text/calendar" and attachment.get_filename() == "first-meeting.ics"
        calendar = Calendar.from_ical(attachment.get_content())
        found = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
        events[kind] = found
        uid = f"first-meeting-{round_id}-{pair[0]}-A1@hubmatch"
        assert found[uid].decoded("dtstart") == starts
        assert found[uid].decoded("dtend") - found[uid].decoded("dtstart") == timedelta(minutes=45)
        assert str(found[uid]["location"]) == "Main hall"
        assert "The invitation is attached for your calendar." in plain(message)
    assert len(events["adviser"]) == 1  # A1 gained one school


def test_the_round_page_shows_the_messages_panel_to_the_hub_lead_only(app, make_hub, caller, solve_now, list_all):
    hub = make_hub("tiny")
    lead, coord = caller("hub_lead", hub), caller("coordinator", hub)
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    approve_all(lead, round_id, list_all)

    def page(who: Any) -> str:
        client = app.test_client()
        assert client.post("/ui/login", data={"token": who.token}).status_code == 302
        return client.get(f"/ui/rounds/{round_id}").get_data(as_text=True)

    assert 'id="messages-h"' not in page(lead)  # nothing is sent before the publish
    publish(lead, round_id)
    shown = page(lead)
    assert f'data-messages="/rounds/{round_id}/messages"' in shown and "/ui/static/messages.js" in shown
    assert 'id="messages-h"' not in page(coord) and "messages.js" not in page(coord)


def test_deleting_a_record_forgets_its_contact(make_hub, caller, expect_error):
    hub = make_hub("tiny")
    lead = caller("hub_lead", hub)
    newcomer = {"id": "A7", "name": "Nia", "company": "C7", "lat": 53.7, "lon": -2.7}
    assert lead.post(f"/hubs/{hub}/advisers", json=newcomer).status_code == 201
    set_contacts(lead, hub, {("advisers", "A7"): {}, ("advisers", "A1"): {}})
    assert lead.delete(f"/hubs/{hub}/advisers/A7").status_code == 204
    expect_error(lead.get(f"/hubs/{hub}/contacts/advisers/A7"), 404, "not_found",
                 f"The adviser 'A7' of hub {hub!r} has no contact.")
    assert [c["record_id"] for c in lead.get(f"/hubs/{hub}/contacts").json] == ["A1"]
