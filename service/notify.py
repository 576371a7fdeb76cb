"""Who hears what when a round is published: one message per person whose pairings changed, written to the outbox
in the publish's own transaction, and a digest for each of the hub's coordinators.

A person hears when they gain or lose a pairing (a school: an adviser or a Cornerstone Employer; an adviser or an
employer: a school); one who keeps a pairing hears of it only beside a change, in the same message. Each message
names the other party, the school's town and, between an adviser and a school, the distance band measured from the
adviser's area (``models.privacy``): never an adviser's home, an exact distance, or another volunteer.

The rows are rendered here, at publish time, so that what the Hub Lead's view lists is exactly what is delivered;
delivery (``service.delivery``) only sends them. Each row's ``key`` names the round and the person, so nothing is
written twice; people without an address, consent, or who opted out or bounced get a ``skipped`` row saying why.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from icalendar import Calendar, Event
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from matcher.geo import haversine_km
from models import tables as t
from models.geocode import town
from models.privacy import area_of, band_label

Pairings = set[tuple[str, str, str]]  # (school id, role, partner id)
UK = ZoneInfo("Europe/London")
KIND_OF_ROLE = {"adviser": "adviser", "cornerstone": "employer"}
SKIP_REASONS = {
    "no_address": "no e-mail address on file",
    "no_consent": "no consent to be e-mailed",
    "opted_out": "opted out of e-mails",
    "bounced": "the address bounced earlier",
}


@dataclass(frozen=True)
class Meeting:
    """A first meeting slot the hub gives with a publish: every new pairing is invited to it (iCalendar)."""

    starts_at: datetime
    minutes: int = 60
    place: str | None = None


@dataclass(frozen=True)
class Party:
    """The other side of a pairing as a message names it."""

    role: str  # adviser, cornerstone (the school's partners) or school (an adviser's or employer's)
    id: str
    name: str
    town: str | None = None  # schools
    company: str | None = None  # advisers
    band: str | None = None  # between an adviser and a school


@dataclass
class Notice:
    """What changed for one person: the parties gained, lost and kept."""

    kind: str  # adviser, school, employer
    record_id: str
    name: str
    gained: list[Party] = field(default_factory=list)
    lost: list[Party] = field(default_factory=list)
    kept: list[Party] = field(default_factory=list)

    @property
    def change(self) -> str:
        parts = [f"{word} {len(items)}" for word, items in (("gained", self.gained), ("lost", self.lost),
                                                              ("kept", self.kept)) if items]
        return ", ".join(parts)


def pairing_set(session: Session, hub_id: str) -> Pairings:
    """The hub's published pairings as (school, role, partner) triples: taken before and after a publish."""
    rows = session.execute(
        select(t.School.id, t.Pairing.role, t.Pairing.partner_id)
        .join(t.School, t.Pairing.school_pk == t.School.pk)
        .where(t.Pairing.hub_id == hub_id)
    ).all()
    return {(school, role, partner) for school, role, partner in rows}


def changes(before: Pairings, after: Pairings) -> dict[tuple[str, str], dict[str, list[tuple[str, str, str]]]]:
    """Per person ``(kind, id)`` whose pairings changed: their gained, lost and kept pairings (school, role,
    partner). People whose pairings all stayed are not in it."""
    out: dict[tuple[str, str], dict[str, list[tuple[str, str, str]]]] = defaultdict(
        lambda: {"gained": [], "lost": [], "kept": []})
    for what, pairs in (("gained", after - before), ("lost", before - after), ("kept", before & after)):
        for pair in sorted(pairs):
            school, role, partner = pair
            out["school", school][what].append(pair)
            out[KIND_OF_ROLE[role], partner][what].append(pair)
    return {person: lists for person, lists in out.items() if lists["gained"] or lists["lost"]}


def write_outbox(session: Session, round_: t.Round, before: Pairings, meeting: Meeting | None = None) -> dict[str, int]:
    """Write the round's messages (call after ``publish``, in its transaction); returns the rows by state."""
    hub = session.get(t.Hub, round_.hub_id)
    assert hub is not None
    session.flush()
    changed = changes(before, pairing_set(session, hub.id))
    names = _Directory(session, hub.id, {pair for lists in changed.values() for v in lists.values() for pair in v})
    contacts = {(c.kind, c.record_id): c for c in session.scalars(select(t.Contact).where(t.Contact.hub_id == hub.id))}
    rows = []
    for (kind, record_id), lists in sorted(changed.items()):
        notice = Notice(kind, record_id, names.name(kind, record_id),
                        **{what: [names.party(kind, pair) for pair in pairs] for what, pairs in lists.items()})
        rows.append(_row(round_, hub, notice, contacts.get((kind, record_id)), meeting))
    coordinators = [c for (kind, _), c in sorted(contacts.items()) if kind == "coordinator"]
    rows += [_digest_row(round_, hub, c, rows) for c in coordinators]
    session.add_all(rows)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row.state] += 1
    return dict(counts)


class _Directory:
    """Names, towns and bands of the records a publish's messages mention (read once, in bulk)."""

    def __init__(self, session: Session, hub_id: str, pairs: set[tuple[str, str, str]]):
        schools = {p[0] for p in pairs}
        advisers = {p[2] for p in pairs if p[1] == "adviser"}
        employers = {p[2] for p in pairs if p[1] == "cornerstone"}
        self.schools = {s.id: s for s in session.scalars(
            select(t.School).where(t.School.hub_id == hub_id, t.School.id.in_(schools)))}
        self.advisers = {a.id: a for a in session.scalars(
            select(t.Adviser).where(t.Adviser.hub_id == hub_id, t.Adviser.id.in_(advisers)))}
        self.employers = {e.id: e for e in session.scalars(
            select(t.Employer).where(t.Employer.hub_id == hub_id, t.Employer.id.in_(employers)))}
        self.bands = self._bands([(p[0], p[2]) for p in pairs if p[1] == "adviser"])

    def _bands(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The band of each (school, adviser) pair, from the adviser's area as every non-admin's view has it."""
        pairs = [(s, a) for s, a in pairs if s in self.schools and a in self.advisers]
        if not pairs:
            return {}
        spots = np.array([(self.schools[s].lat, self.schools[s].lon) for s, _ in pairs])
        areas = np.array([area_of(self.advisers[a].lat, self.advisers[a].lon) for _, a in pairs])
        km = haversine_km(spots[:, 0], spots[:, 1], areas[:, 0], areas[:, 1])
        return {pair: str(band_label(float(d))) for pair, d in zip(pairs, km, strict=True)}

    def name(self, kind: str, record_id: str) -> str:
        if kind == "school":
            row: Any = self.schools.get(record_id)
            return row.name if row is not None else record_id
        if kind == "adviser":
            row = self.advisers.get(record_id)
            return (row.name if row is not None and row.name else None) or f"Enterprise Adviser {record_id}"
        row = self.employers.get(record_id)
        return row.name if row is not None else record_id

    def party(self, kind: str, pair: tuple[str, str, str]) -> Party:
        """The other side of ``pair`` for a person of ``kind``."""
        school, role, partner = pair
        band = self.bands.get((school, partner)) if role == "adviser" else None
        if kind == "school":
            adviser = self.advisers.get(partner) if role == "adviser" else None
            return Party(role, partner, self.name(KIND_OF_ROLE[role], partner),
                         company=adviser.company if adviser is not None else None, band=band)
        row = self.schools.get(school)
        return Party("school", school, self.name("school", school), town=town(row.postcode) if row else None,
                     band=band)


def skip_reason(contact: t.Contact | None) -> str | None:
    """Why a person is not written to, or None when they may be."""
    if contact is None or not contact.email:
        return "no_address"
    if contact.opted_out:
        return "opted_out"
    if not contact.consent:
        return "no_consent"
    if contact.bounced_at is not None:
        return "bounced"
    return None


def _row(round_: t.Round, hub: t.Hub, notice: Notice, contact: t.Contact | None,
         meeting: Meeting | None) -> t.OutboxMessage:
    greeting = (contact.name if contact is not None and contact.name else None) or _greeting(notice)
    context = {"hub": hub.name, "term": round_.term, "notice": notice, "greeting": greeting, "meeting": meeting,
               "meeting_end": meeting.starts_at + timedelta(minutes=meeting.minutes) if meeting else None}
    skip = skip_reason(contact)
    return t.OutboxMessage(
        key=f"round-{round_.id}:{notice.kind}:{notice.record_id}",
        hub_id=hub.id,
        round_id=round_.id,
        kind=notice.kind,
        record_id=notice.record_id,
        name=notice.name,
        email=contact.email if contact is not None else None,
        change=notice.change,
        subject=_subject(hub.name, round_.term, notice),
        text_body=templates().get_template("person.txt").render(context),
        html_body=templates().get_template("person.html").render(context),
        calendar=_calendar(round_, hub, notice, meeting) if meeting and notice.gained else None,
        state="skipped" if skip else "pending",
        reason=SKIP_REASONS[skip] if skip else None,
        next_attempt_at=None if skip else t.now(),
    )


def _digest_row(round_: t.Round, hub: t.Hub, coordinator: t.Contact, rows: list[t.OutboxMessage]) -> t.OutboxMessage:
    """A coordinator's digest: who was written to about what, and who was not and why (no addresses: a
    coordinator does not read contacts)."""
    context = {"hub": hub.name, "term": round_.term, "greeting": coordinator.name or "coordinator",
               "rows": rows, "labels": {"school": "School", "adviser": "Adviser", "employer": "Employer"}}
    skip = skip_reason(coordinator)
    return t.OutboxMessage(
        key=f"round-{round_.id}:coordinator:{coordinator.record_id}",
        hub_id=hub.id,
        round_id=round_.id,
        kind="coordinator",
        record_id=coordinator.record_id,
        name=coordinator.name or coordinator.record_id,
        email=coordinator.email,
        change=f"digest of {len(rows)}",
        subject=f"{hub.name}: what went out when {round_.term} was published",
        text_body=templates().get_template("digest.txt").render(context),
        html_body=templates().get_template("digest.html").render(context),
        calendar=None,
        state="skipped" if skip else "pending",
        reason=SKIP_REASONS[skip] if skip else None,
        next_attempt_at=None if skip else t.now(),
    )


def _greeting(notice: Notice) -> str:
    return f"Careers Leader of {notice.name}" if notice.kind == "school" else notice.name


def _subject(hub: str, term: str, notice: Notice) -> str:
    if notice.kind == "school":
        return f"{hub}: {notice.name}'s careers partners for {term}"
    if len(notice.gained) == 1 and not notice.lost:
        return f"{hub}: you are paired with {notice.gained[0].name} for {term}"
    if notice.lost and not notice.gained:
        return f"{hub}: your school pairing has ended" if len(notice.lost) == 1 else \
            f"{hub}: your school pairings have ended"
    return f"{hub}: your school pairings for {term}"


def _calendar(round_: t.Round, hub: t.Hub, notice: Notice, meeting: Meeting) -> str:
    """An invitation to the first meeting of each new pairing of the message (one event per pairing, with the
    same UID in the school's and the partner's invitation, so a calendar holding both shows one meeting)."""
    cal = Calendar()
    cal.add("prodid", "-//hubmatch//first meetings//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    for party in notice.gained:
        if notice.kind == "school":
            school_id, school_name, partner_id, partner_name = notice.record_id, notice.name, party.id, party.name
        else:
            school_id, school_name, partner_id, partner_name = party.id, party.name, notice.record_id, notice.name
        event = Event()
        event.add("uid", f"first-meeting-{round_.id}-{school_id}-{partner_id}@hubmatch")
        event.add("dtstamp", t.now())
        event.add("dtstart", meeting.starts_at)
        event.add("dtend", meeting.starts_at + timedelta(minutes=meeting.minutes))
        event.add("summary", f"First meeting: {partner_name} and {school_name}")
        event.add("location", meeting.place or school_name)
        event.add("description", f"{hub.name}, {round_.term}: the first meeting of a new pairing.")
        cal.add_component(event)
    return cal.to_ical().decode()


@cache
def templates() -> Environment:
    """The messages' Jinja templates (``service/mail_templates``): HTML escaped, a missing name an error."""
    env = Environment(loader=PackageLoader("service", "mail_templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["when"] = when
    return env


def when(moment: datetime) -> str:
    """A time as people in England read it: "Tuesday 15 September 2026 at 15:30" (UK time)."""
    local = moment.astimezone(UK)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"
