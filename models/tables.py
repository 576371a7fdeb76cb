"""Persistence: the SQLAlchemy 2 tables of the service, and nothing else.

The domain objects in ``models.domain`` stay free of the database; ``models.repository`` maps rows to and from them.
Every hub-owned row carries ``hub_id`` so that scoping a token to a hub is one filter. Records keep the external ids
of the problem format (a school's "URN119707", an adviser's "A00012") unique within their hub, so imports, exports
and solutions speak the same ids as files do.

A record leaves by being retired, not deleted, once it has history: ``retired_at`` is when the school closed, the
adviser stopped volunteering or the employer withdrew. A retired record takes no new pairings (no new solve sees
it) but its row stays, so old rounds' proposals, decisions and exports still name it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def now() -> datetime:
    """Timezone-aware UTC now, the only clock the service writes."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timestamp that comes back in UTC with its offset on every backend (SQLite stores it without one)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use models.tables.now()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: UTCDateTime()}


class Hub(Base):
    __tablename__ = "hubs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    priority_sectors: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=now)


class School(Base):
    __tablename__ = "schools"
    __table_args__ = (UniqueConstraint("hub_id", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    lat: Mapped[float]
    lon: Mapped[float]
    postcode: Mapped[str | None] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16), default="mainstream")
    pupils: Mapped[int | None]
    pct_fsm: Mapped[float | None]
    gatsby: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    needs: Mapped[list[Any]] = mapped_column(default=list)
    load: Mapped[float] = mapped_column(default=1.0)
    wave: Mapped[str | None] = mapped_column(String(64))
    retired_at: Mapped[datetime | None]  # None while active; see the module docstring
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)
    pairings: Mapped[list[Pairing]] = relationship(
        back_populates="school", cascade="all, delete-orphan", lazy="selectin", order_by="Pairing.id"
    )

    def partners(self, role: str) -> list[str]:
        """The school's current (published) partners in a role, in the order they were paired."""
        return [p.partner_id for p in self.pairings if p.role == role]

    def set_partners(self, role: str, partners: list[str]) -> None:
        """Make ``partners`` the school's current ones in a role; a pairing that stays keeps its round and lock."""
        keep = {p.partner_id: p for p in self.pairings if p.role == role}
        others = [p for p in self.pairings if p.role != role]
        self.pairings = others + [
            keep.get(pid) or Pairing(hub_id=self.hub_id, role=role, partner_id=pid) for pid in dict.fromkeys(partners)
        ]

    @property
    def current_advisers(self) -> list[str]:
        return self.partners("adviser")

    @current_advisers.setter
    def current_advisers(self, partners: list[str]) -> None:
        self.set_partners("adviser", partners)

    @property
    def current_cornerstones(self) -> list[str]:
        return self.partners("cornerstone")

    @current_cornerstones.setter
    def current_cornerstones(self, partners: list[str]) -> None:
        self.set_partners("cornerstone", partners)


class Pairing(Base):
    """A published pairing of a hub: a school's current adviser or Cornerstone Employer (a school may have several
    per role, up to its round's policy), the round that published it, and whether it is locked.

    A locked pairing is a locked pair of every later round of the hub until a coordinator unlocks it (a decision on
    it in a later round); an unlocked one only earns continuity. ``round_id`` is None for pairings imported with
    the records (last term's partners from before the service).
    """

    __tablename__ = "pairings"
    __table_args__ = (UniqueConstraint("school_pk", "role", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    school_pk: Mapped[int] = mapped_column(ForeignKey("schools.pk", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    partner_id: Mapped[str] = mapped_column(String(64))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id", ondelete="SET NULL"))
    locked: Mapped[bool] = mapped_column(default=False)
    school: Mapped[School] = relationship(back_populates="pairings")


class Adviser(Base):
    __tablename__ = "advisers"
    __table_args__ = (UniqueConstraint("hub_id", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(128))
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    skills: Mapped[list[Any]] = mapped_column(default=list)
    lat: Mapped[float]
    lon: Mapped[float]
    max_travel_km: Mapped[float | None]
    capacity: Mapped[int] = mapped_column(default=1)
    conflicts: Mapped[list[Any]] = mapped_column(default=list)
    unavailable: Mapped[bool] = mapped_column(default=False)
    retired_at: Mapped[datetime | None]  # None while active; see the module docstring
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class Employer(Base):
    __tablename__ = "employers"
    __table_args__ = (UniqueConstraint("hub_id", "id"),)

    pk: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    sectors: Mapped[list[Any]] = mapped_column(default=list)
    sites: Mapped[list[Any]] = mapped_column(default=list)
    capacity: Mapped[float]
    max_travel_km: Mapped[float | None]
    retired_at: Mapped[datetime | None]  # None while active; see the module docstring
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


class Round(Base):
    """One term's matching for one hub: its policy, its state, the summary of its last solve."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("hub_id", "term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(32))
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    keep_current: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(16), default="draft")
    solves: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=now)
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Job(Base):
    """A solve, or an analysis of a round (``kind``, with its ``params``), on the queue: the API creates and polls
    it, a worker runs it, its supervisor watches it; ``progress`` (0 to 1) and ``stage`` say how far it is.

    ``worker`` names the consumer (host:pid) whose process ``pid`` runs it; ``deadline_at`` is when that
    supervisor kills it; ``heartbeat_at`` is when the supervisor last saw it alive (any host fails it when stale).
    """

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="solve")
    state: Mapped[str] = mapped_column(String(16), default="queued")
    message: Mapped[str] = mapped_column(String(2000), default="")
    pid: Mapped[int | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any] | None]
    progress: Mapped[float | None]
    stage: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=now)
    started_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)


class Proposal(Base):
    """A proposed pairing of a round and the coordinator's decision on it (``version`` is its ETag)."""

    __tablename__ = "proposals"
    __table_args__ = (
        UniqueConstraint("round_id", "school_id", "partner_id"),
        Index("ix_proposals_round_state", "round_id", "state"),
        # ids are never reused, so an ETag read before a re-solve can never match a different new pairing
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"))
    school_id: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    cost: Mapped[float]
    components: Mapped[dict[str, Any]] = mapped_column(default=dict)
    distance_km: Mapped[float | None]
    alternatives: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="proposed")
    reason: Mapped[str | None] = mapped_column(String(1000))
    solve_no: Mapped[int] = mapped_column(default=1)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Unmatched(Base):
    """A school slot the last solve of a round left open, and why."""

    __tablename__ = "unmatched"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1000), default="")


class IdlePartner(Base):
    """A willing adviser or Cornerstone Employer the last solve of a round gave no school, and why.

    ``distance_km`` (the nearest school, when none is in reach) is location data for an adviser: admins only;
    ``distance_band`` is what anyone else reads (``models.privacy``)."""

    __tablename__ = "idle"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1000), default="")
    distance_km: Mapped[float | None]
    distance_band: Mapped[str | None] = mapped_column(String(32))


class Decision(Base):
    """The audit log: every decision, who and when. Rows are only ever inserted (no API updates or deletes)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id", ondelete="CASCADE"), index=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    school_id: Mapped[str] = mapped_column(String(64))
    partner_id: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(1000))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(default=now)


class Token(Base):
    """An API token: only its SHA-256 is stored; ``hub_id`` None means every hub (admins)."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=now)
    expires_at: Mapped[datetime | None]  # None: never expires
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None]


class Event(Base):
    """The audit log of every change: who (``actor``), when (``at``), what (``action`` on ``subject``, ``details``).

    ``hub_id`` is the hub the change belongs to, None for changes outside any hub (tokens). Rows are only ever
    inserted, through ``models.audit.record_event``; the ORM refuses to update or delete them.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_hub_id_id", "hub_id", "id"), Index("ix_events_action", "action"))

    id: Mapped[int] = mapped_column(primary_key=True)
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("hubs.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=now)
