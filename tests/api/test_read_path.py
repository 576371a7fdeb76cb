"""The fast read path: proposal reads equal to what ``ProposalSchema`` dumps, the orjson JSON provider, orjson for
JSON columns, and pooled PostgreSQL connections the server closed."""

from __future__ import annotations

import datetime as dt
import json
import time
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import select

from api.jsonio import OrjsonProvider, StoredJSON
from api.proposals import ProposalPageSchema, ProposalSchema
from models import tables as t
from models.store import json_loads

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
ORDER = (t.Proposal.school_id, t.Proposal.role, t.Proposal.id)


def _rows(db, round_id: int, **where: Any) -> list[t.Proposal]:
    """The round's proposals as ORM objects, in the API's order (the read path before this one loaded these)."""
    with db() as session:
        query = select(t.Proposal).where(t.Proposal.round_id == round_id)
        for column, value in where.items():
            query = query.where(getattr(t.Proposal, column) == value)
        return list(session.scalars(query.order_by(*ORDER)).all())


def _dumped(db, round_id: int, **where: Any) -> list[dict[str, Any]]:
    """The round's proposals as marshmallow dumps ORM rows."""
    return ProposalSchema(many=True).dump(_rows(db, round_id, **where))


# --- proposals: the same content as the schema's dump ----------------------------------------------------------------


@pytest.fixture
def review(caller, make_hub, solve_now, list_all, lancs_raw) -> SimpleNamespace:
    """A solved Lancashire round of this test's own, with a Hub Lead, a coordinator, and an admin as the reader
    (the exact figures the read path must reproduce; what non-admins read is tests/api/test_privacy.py's)."""
    hub = make_hub("lancashire")
    lead = caller("hub_lead", hub)
    created = lead.post(f"/hubs/{hub}/rounds", json={"term": "2026-autumn", "policy": lancs_raw["policy"]})
    round_id = created.json["id"]
    solve_now(round_id)
    reader = caller("admin")
    return SimpleNamespace(
        hub=hub, round_id=round_id, lead=lead, coord=caller("coordinator", hub, name="Cora Coordinator"),
        reader=reader, proposals=list_all(reader, f"/rounds/{round_id}/proposals"),
    )


def test_list_and_item_equal_the_schema_dump_of_orm_rows(review, db, list_all):
    first, second, third = review.proposals[:3]
    assert review.coord.post(
        f"/proposals/{first['id']}/decision", json={"action": "reject", "reason": "déménage — moving away"}
    ).status_code == 200
    assert review.coord.post(f"/proposals/{second['id']}/decision", json={"action": "approve"}).status_code == 200
    assert review.lead.post(f"/proposals/{third['id']}/decision", json={"action": "lock"}).status_code == 200
    expected = _dumped(db, review.round_id)
    assert len(expected) == len(review.proposals) and any(p["decided_at"] for p in expected)
    assert list_all(review.reader, f"/rounds/{review.round_id}/proposals") == expected
    for item in expected:
        reply = review.reader.get(f"/proposals/{item['id']}")
        assert reply.status_code == 200 and reply.mimetype == "application/json"
        assert reply.json == item
        assert reply.headers["ETag"] == f'"{item["id"]}.{item["version"]}"'
    decided = {p["id"]: p for p in expected}[first["id"]]
    assert (decided["state"], decided["reason"], decided["decided_by"]) == (
        "rejected", "déménage — moving away", "Cora Coordinator"
    )
    assert dt.datetime.fromisoformat(decided["decided_at"]).utcoffset() == dt.timedelta(0)


def test_filtered_pages_equal_the_page_schema_dump(review, db):
    assert review.coord.post(
        f"/proposals/{review.proposals[0]['id']}/decision", json={"action": "approve"}
    ).status_code == 200
    url = f"/rounds/{review.round_id}/proposals"
    cases: list[tuple[str, dict[str, Any]]] = [
        ("state=proposed&per_page=7&page=2", {"state": "proposed"}),
        ("state=approved", {"state": "approved"}),
        ("role=cornerstone&per_page=5&page=3", {"role": "cornerstone"}),
        (f"school={review.proposals[0]['school_id']}", {"school_id": review.proposals[0]["school_id"]}),
        (f"partner={review.proposals[1]['partner_id']}&role={review.proposals[1]['role']}",
         {"partner_id": review.proposals[1]["partner_id"], "role": review.proposals[1]["role"]}),
        ("per_page=50&page=99", {}),  # past the end: no items, the total still counted
    ]
    for query, where in cases:
        every = _rows(db, review.round_id, **where)
        reply = review.reader.get(f"{url}?{query}")
        assert reply.status_code == 200, (query, reply.json)
        args = dict(part.split("=") for part in query.split("&"))
        page, per_page = int(args.get("page", 1)), int(args.get("per_page", 100))
        expected = ProposalPageSchema().dump({
            "items": every[(page - 1) * per_page: page * per_page], "page": page, "per_page": per_page,
            "total": len(every),
        })
        assert reply.json == expected, query


def test_reads_of_another_hub_or_nothing_answer_the_same_404(review, caller, make_hub, expect_error):
    other = caller("read_only", make_hub(None, prefix="other"))
    pid = review.proposals[0]["id"]
    for who in (other, review.reader):
        expect_error(who.get("/proposals/2147483000"), 404, "not_found", "No proposal 2147483000.")
        expect_error(who.get("/rounds/2147483000/proposals"), 404, "not_found", "No round 2147483000.")
    expect_error(other.get(f"/proposals/{pid}"), 404, "not_found", f"No proposal {pid}.")
    expect_error(
        other.get(f"/rounds/{review.round_id}/proposals?page=99"), 404, "not_found", f"No round {review.round_id}."
    )


# --- JSON out and in -------------------------------------------------------------------------------------------------


def test_orjson_provider_writes_what_flask_wrote():
    app = Flask("json-test")  # the providers hold their app weakly
    fast, plain = OrjsonProvider(app), DefaultJSONProvider(app)
    with app.app_context():
        for value in (
            {"b": [1, 2.5, None, True], "a": {"z": "é", "y": "line\nbreak"}, "c": 0.30000000000000004},
            {"when": dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), "day": dt.date(2026, 1, 2)},  # HTTP dates
            {"big": 2**70, "keys": {1: "int key"}},  # beyond orjson: the standard library writes it
            [],
        ):
            ours, theirs = fast.response(value), plain.response(value)
            assert ours.mimetype == theirs.mimetype == "application/json"
            assert ours.get_data().endswith(b"\n")
            assert json.loads(ours.get_data()) == json.loads(theirs.get_data()), value
        stored = '{"z": 1, "a": [1.5, "\\u00e9"], "n": 123456789012345678901234567890}'
        for extra in ({}, {"big": 2**70}):  # orjson copies the stored text; the fallback parses it
            reply = fast.bytes_response({"stored": StoredJSON(stored), "list": [StoredJSON("[]")], **extra})
            assert json.loads(reply.get_data()) == {"stored": json.loads(stored), "list": [[]], **extra}
        sorted_compact = fast.response({"b": 1, "a": [1, 2]}).get_data()
        assert sorted_compact == plain.response({"b": 1, "a": [1, 2]}).get_data() == b'{"a":[1,2],"b":1}\n'


def test_json_columns_read_exactly_as_the_standard_library():
    for text in ('{"a": 1, "b": [1.5, "x"]}', '[0.1, 1e-07, -3]', '{"n": 123456789012345678901234567890}',
                 '{"x": NaN, "y": Infinity}', '"\\u00e9"', '{"a": 1, "a": 2}', "1e400"):
        for raw in (text, text.encode(), memoryview(text.encode())):
            assert repr(json_loads(raw)) == repr(json.loads(text)), text


# --- pooled connections the server closed (no pre-ping) --------------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_idle_pooled_connections_killed_by_the_server_are_replaced(app, caller, make_hub, database_url):
    hub = make_hub("tiny")
    who = caller("read_only", hub)
    assert who.get(f"/hubs/{hub}").status_code == 200
    dbname = database_url.rsplit("/", 1)[1]
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND state = 'idle'", (dbname,)
        ).fetchall()
        assert killed, "no idle pooled connection to kill"
        deadline = time.monotonic() + 10
        while admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'idle'",
                            (dbname,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
    time.sleep(0.1)  # the server's goodbye reaches the pooled sockets
    for _ in range(2 * len(killed) + 2):  # every killed connection would be handed out once: none fails
        assert who.get(f"/hubs/{hub}").status_code == 200
        assert who.get(f"/hubs/{hub}/schools").status_code == 200
