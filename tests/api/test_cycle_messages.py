"""The termly cycle of a Careers Hub told to its people: a real SMTP server (aiosmtpd) and a real worker on a
database of this test's own. Three publishes (a term, the next term, a wave of new schools), and after each the
messages the server received, checked one by one against what changed, computed here from the hub's pairings
before and after: one message per person whose pairings changed and nobody else, to their address, naming each
party gained, lost or kept, the school's town and the adviser's distance band, and nothing of an adviser's home."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from icalendar import Calendar
from mailserver import Received, SmtpServer
from workers import worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from matcher.geo import haversine_km
from models.geocode import town
from models.privacy import area_of, band_label
from models.store import migrate, transaction

HUB = "lancashire"
TIMEOUT_S = 120.0


@pytest.fixture
def cycle(tmp_path: Path) -> Iterator[tuple[Flask, SmtpServer]]:
    database, broker = f"sqlite:///{tmp_path / 'hubmatch.sqlite'}", f"sqlite:///{tmp_path / 'queue.sqlite'}"
    migrate(database)
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker, "MIGRATE": False, "SYNC_SOLVE_SECONDS": 120})
    with SmtpServer() as server, worker_process(database, broker, concurrency=1, log=tmp_path / "worker.log",
                                                SMTP_URL=server.url, MAIL_FROM="hub@lancashire.example"):
        yield app, server
    app.extensions["hubmatch.engine"].dispose()


class Client:
    def __init__(self, app: Flask, token: str):
        self.client, self.headers = app.test_client(), {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str) -> Any:
        return lambda url, **kw: getattr(self.client, method)(url, headers=self.headers, **kw)


def address(kind: str, record_id: str) -> str:
    return f"{kind}.{record_id}@example.org".lower()


def pairings(lead: Client) -> set[tuple[str, str, str]]:
    schools = lead.get(f"/hubs/{HUB}/schools?per_page=500").json["items"]
    return {(s["id"], "adviser", a) for s in schools for a in s.get("current_advisers", [])} | {
        (s["id"], "cornerstone", c) for s in schools for c in s.get("current_cornerstones", [])}


def solve_approve_publish(lead: Client, round_id: int, solve: bool = True, **body: Any) -> None:
    if solve:
        reply = lead.post(f"/rounds/{round_id}/solve?wait=120")
        assert reply.status_code == 200 and reply.json["state"] == "succeeded", reply.json
    proposals = lead.get(f"/rounds/{round_id}/proposals?per_page=1000").json["items"]
    batch = [{"proposal": p["id"], "action": "approve", "version": p["version"]}
             for p in proposals if p["state"] == "proposed"]
    if batch:
        assert lead.post(f"/rounds/{round_id}/decisions/batch", json={"decisions": batch}).status_code == 200
    reply = lead.post(f"/rounds/{round_id}/publish", json=body)
    assert reply.status_code == 200, reply.json


def settled(lead: Client, round_id: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        items = lead.get(f"/rounds/{round_id}/messages").json["items"]
        if all(m["state"] in ("sent", "skipped") for m in items):
            return items
        assert time.monotonic() < deadline, Counter(m["state"] for m in items)
        time.sleep(0.1)


class Hub:
    """The hub's records as the admin reads them: what the checks compute the expected messages from."""

    def __init__(self, admin: Client):
        get = lambda c: {r["id"]: r for r in admin.get(f"/hubs/{HUB}/{c}?per_page=500").json["items"]}  # noqa: E731
        self.schools, self.advisers, self.employers = get("schools"), get("advisers"), get("employers")

    def band(self, school: str, adviser: str) -> str:
        s, a = self.schools[school], self.advisers[adviser]
        lat, lon = area_of(a["lat"], a["lon"])
        return str(band_label(float(haversine_km(s["lat"], s["lon"], lat, lon))))

    def line(self, kind: str, pair: tuple[str, str, str]) -> str:
        """How a message to a person of ``kind`` lists the other side of ``pair``."""
        school, role, partner = pair
        if kind == "school" and role == "adviser":
            a = self.advisers[partner]
            return f"  - Enterprise Adviser {a['name']} ({a['company']}), {self.band(school, partner)} from your school"
        if kind == "school":
            return f"  - Cornerstone Employer {self.employers[partner]['name']}"
        s = self.schools[school]
        band = f" ({self.band(school, partner)} from your area)" if role == "adviser" else ""
        assert town(s["postcode"]), s  # every school of the hub has a town to be named by
        return f"  - {s['name']}, {town(s['postcode'])}{band}"


HEADINGS = {"school": ("Joining your school:", "No longer working with your school:", "Staying with your school:")}


def check_messages(received: list[Received], hub: Hub, before: set, after: set, opted_out: set[str],
                   meeting: datetime | None = None) -> int:
    """The people's messages of one publish, one by one; returns how many there were."""
    expected: dict[tuple[str, str], list[list[tuple[str, str, str]]]] = {}
    for index, pairs in enumerate((after - before, before - after, before & after)):
        for pair in pairs:
            school, role, partner = pair
            for person in (("school", school), ("adviser" if role == "adviser" else "employer", partner)):
                expected.setdefault(person, [[], [], []])[index].append(pair)
    expected = {p: lists for p, lists in expected.items() if (lists[0] or lists[1]) and p[1] not in opted_out}
    people = [m for m in received if ":coordinator:" not in m.key]
    assert Counter((m.key.split(":")[1], m.key.split(":")[2]) for m in people) == Counter(set(expected))
    for message in people:
        _, kind, record_id = message.key.split(":")
        gained, lost, kept = expected[kind, record_id]
        assert message.recipients == [address(kind, record_id)]
        assert message.sender == "hub@lancashire.example"
        body = message.message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        own = hub.schools[record_id]["name"] if kind == "school" else None
        greeting = f"Careers Leader of {own}" if own else (
            hub.advisers[record_id]["name"] if kind == "adviser" else hub.employers[record_id]["name"])
        assert body.startswith(f"Dear {greeting},\n")
        new = "Your new schools:" if len(gained) > 1 else "Your new school:"
        headings = HEADINGS.get(kind) or (new, "No longer paired with you:", "Staying as they are:")
        for heading, pairs in zip(headings, (gained, lost, kept), strict=True):
            if pairs:
                block = heading + "\n" + "\n".join(hub.line(kind, p) for p in sorted(pairs)) + "\n"
                assert block in body, (message.key, block, body)
            else:
                assert heading not in body
        for adviser in hub.advisers.values():  # nothing of any adviser's home, in either part
            html = message.message.get_body(("html",)).get_content()  # type: ignore[union-attr]
            for value in (adviser["lat"], adviser["lon"]):
                assert str(value) not in body and str(value) not in html
        invitations = [a for a in message.message.iter_attachments() if a.get_content_type() == "text/calendar"]
        if meeting is not None and gained:
            events = Calendar.from_ical(invitations[0].get_content()).walk("VEVENT")
            assert len(events) == len(gained) and {e.decoded("dtstart") for e in events} == {meeting}
        else:
            assert invitations == []
    return len(people)


def test_termly_cycle_tells_everyone_whose_pairings_changed(cycle):
    app, server = cycle
    raw = fixtures.lancashire_problem()
    raw.pop("pairs", None)
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        admin = Client(app, create_token(session, "root", "admin", None))
    assert admin.post("/hubs", json={"id": HUB, "name": "Lancashire Careers Hub",
                                     "priority_sectors": raw["hub"]["priority_sectors"]}).status_code == 201
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        lead = Client(app, create_token(session, "Hub Lead", "hub_lead", HUB))
    for collection in ("schools", "advisers", "employers"):
        assert lead.post(f"/hubs/{HUB}/{collection}/import", json=raw[collection]).status_code == 200
    opted_out = {raw["advisers"][3]["id"]}
    for collection, kind in (("schools", "school"), ("advisers", "adviser"), ("employers", "employer")):
        for record in raw[collection]:
            body = {"email": address(kind, record["id"]), "consent": True, "opted_out": record["id"] in opted_out}
            assert lead.put(f"/hubs/{HUB}/contacts/{collection}/{record['id']}", json=body).status_code == 200
    assert lead.put(f"/hubs/{HUB}/contacts/coordinators/ec1",
                    json={"email": "ec1@example.org", "consent": True, "name": "Sam Coordinator"}).status_code == 200
    hub = Hub(admin)

    # 1. the spring round, published with a first meeting: its last term's partners change for many
    meeting = (datetime.now(UTC) + timedelta(days=14)).replace(hour=15, minute=30, second=0, microsecond=0)
    spring = lead.post(f"/hubs/{HUB}/rounds", json={"term": "2026-spring", "policy": raw["policy"]}).json["id"]
    before = pairings(lead)
    solve_approve_publish(lead, spring, first_meeting={"starts_at": meeting.isoformat(), "place": "The school"})
    after = pairings(lead)
    settled(lead, spring)  # a message is recorded sent once the server accepted it
    mine = [m for m in server.received if m.key.startswith(f"round-{spring}:")]
    people = check_messages(mine, hub, before, after, opted_out, meeting)
    assert people > 100
    digest = next(m for m in mine if m.key == f"round-{spring}:coordinator:ec1")
    text = digest.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"({people + 1} in all)" in text and "not sent: opted out of e-mails" in text and "@example.org" not in text

    # 2. the summer round: only those whose pairings changed hear
    summer = lead.post(f"/hubs/{HUB}/rounds", json={"term": "2026-summer", "policy": raw["policy"]}).json["id"]
    before = after
    solve_approve_publish(lead, summer)
    after = pairings(lead)
    settled(lead, summer)
    received = [m for m in server.received if m.key.startswith(f"round-{summer}:")]
    check_messages(received, hub, before, after, opted_out)

    # 3. a wave of new schools that moves nobody, and a new adviser in Preston: those who gain hear, no one else
    newcomer = {"id": "A09001", "name": "Nia Newcomer", "company": "C9001", "lat": 53.7632, "lon": -2.7031,
                "max_travel_km": 25.0}
    assert lead.post(f"/hubs/{HUB}/advisers", json=newcomer).status_code == 201
    assert lead.put(f"/hubs/{HUB}/contacts/advisers/A09001",
                    json={"email": address("adviser", "A09001"), "consent": True}).status_code == 200
    wave = [{"id": "URN999001", "name": "Preston New Academy", "postcode": "PR1 8JN"},
            {"id": "URN999002", "name": "Lancaster Free School", "postcode": "LA1 1AA"}]
    reply = lead.post(f"/hubs/{HUB}/waves?wait=120", json={"wave": "2026-w2", "schools": wave})
    assert reply.status_code == 200 and reply.json["state"] == "succeeded", reply.json
    wave_round = reply.json["round_id"]
    for school in wave:
        assert lead.put(f"/hubs/{HUB}/contacts/schools/{school['id']}",
                        json={"email": address("school", school["id"]), "consent": True}).status_code == 200
    hub = Hub(admin)
    before = after
    solve_approve_publish(lead, wave_round, solve=False)  # the wave solved it
    after = pairings(lead)
    assert before <= after and {p[2] for p in after - before if p[1] == "adviser"} == {"A09001"}
    settled(lead, wave_round)
    received = [m for m in server.received if m.key.startswith(f"round-{wave_round}:")]
    people = check_messages(received, hub, before, after, opted_out)
    assert {m.key.split(":")[2] for m in received if ":school:" in m.key} <= {"URN999001", "URN999002"}
    assert f"round-{wave_round}:adviser:A09001" in {m.key for m in received} and people >= 2
    assert Counter(m.key for m in server.received).most_common(1)[0][1] == 1  # never a message twice
