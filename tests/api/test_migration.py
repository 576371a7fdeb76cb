"""Migration 0002 on a database made by schema 0001: each school's one ``current_adviser`` and its list of
``current_cornerstones`` become rows of the published pairings, attributed to the hub's latest published round."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from models.store import database_url, migrate
from tests.pg import scratch_database, skip_without_postgres

NOW = "2026-09-01 10:00:00+00:00"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
        return
    skip_without_postgres()
    with scratch_database("hubmatch_migration") as url:
        yield url


def _insert_the_old_way(url: str) -> None:
    """Rows as version 0001 of the schema held them: the adviser and the Cornerstones as school columns."""
    engine = create_engine(database_url(url))
    with engine.begin() as conn:
        hub = "INSERT INTO hubs (id, name, priority_sectors, created_at) VALUES ('h', 'H', '{}', :t)"
        conn.execute(text(hub), {"t": NOW})
        for round_id, term, state in ((1, "2026-spring", "published"), (2, "2026-summer", "proposed")):
            conn.execute(
                text(
                    "INSERT INTO rounds (id, hub_id, term, policy, keep_current, state, solves, summary, created_at,"
                    " version) VALUES (:id, 'h', :term, '{}', false, :state, 1, '{}', :t, 1)"
                ),
                {"id": round_id, "term": term, "state": state, "t": NOW},
            )
        schools = [("S1", "A1", ["E1", "E2"]), ("S2", None, ["E1"]), ("S3", "A2", []), ("S4", None, [])]
        for pk, (school, adviser, cornerstones) in enumerate(schools, start=1):
            conn.execute(
                text(
                    "INSERT INTO schools (pk, hub_id, id, name, lat, lon, kind, gatsby, sectors, needs, load,"
                    " current_adviser, current_cornerstones, updated_at) VALUES (:pk, 'h', :id, :id, 53.7, -2.7,"
                    " 'mainstream', '{}', '[]', '[]', 1.0, :adviser, :cs, :t)"
                ),
                {"pk": pk, "id": school, "adviser": adviser, "cs": json.dumps(cornerstones), "t": NOW},
            )
    engine.dispose()


def test_0002_carries_both_columns_into_the_pairings_table(fresh_url: str) -> None:
    migrate(fresh_url, "0001")
    _insert_the_old_way(fresh_url)
    migrate(fresh_url, "0002")
    engine = create_engine(database_url(fresh_url))
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.id, p.hub_id, p.role, p.partner_id, p.round_id, p.locked FROM pairings p"
                " JOIN schools s ON s.pk = p.school_pk ORDER BY p.id"
            )
        ).all()
        school_columns = set(conn.execute(text("SELECT * FROM schools")).keys())
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("S1", "h", "adviser", "A1", 1, False),
        ("S1", "h", "cornerstone", "E1", 1, False),
        ("S1", "h", "cornerstone", "E2", 1, False),
        ("S2", "h", "cornerstone", "E1", 1, False),
        ("S3", "h", "adviser", "A2", 1, False),
    ]
    assert not {"current_adviser", "current_cornerstones"} & school_columns
