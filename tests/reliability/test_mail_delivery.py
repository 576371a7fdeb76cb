"""Delivering the outbox to a real SMTP server (aiosmtpd on 127.0.0.1): exactly one message per person per change
when the worker delivering them is killed mid-send and the server is down for a while; a permanent refusal marks
the address bounced, a temporary one is retried after its back-off.

The hub is Lancashire (about 180 people hear of its first publish). The server stops answering once 20 messages
are in, so the kill lands inside a send (before the server accepted it: a worker killed after the server's
acceptance and before its own record would send that one again, with the same Message-ID; see
``service.delivery``). The worker's lease and back-off are short so that the test takes seconds.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from flask import Flask
from mailserver import SmtpServer
from sqlalchemy import select
from workers import children, worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from models import load_problem
from models import tables as t
from models.repository import create_hub
from models.store import migrate, transaction
from service.config import Settings
from service.tasks import deliver, run_job

pytestmark = pytest.mark.slow
TIMEOUT_S = 120.0


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'hubmatch.sqlite'}"
    migrate(url)
    return url


@pytest.fixture
def broker(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'queue.sqlite'}"


@pytest.fixture
def service(database: str, broker: str) -> Iterator[Flask]:
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker, "MIGRATE": False})
    yield app
    app.extensions["hubmatch.engine"].dispose()


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(0.05)
    return value


def email(kind: str, record_id: str) -> str:
    return f"{kind}.{record_id}@example.org".lower()


def published_round(app: Flask, data: dict[str, Any], opted_out: set[str] = frozenset(),  # type: ignore[assignment]
                    ) -> tuple[Any, int]:
    """A hub with every person's contact (consent given; ``opted_out`` ids opted out), one round solved (in this
    process), approved and published through the API. Returns the Hub Lead's client and the round."""
    factory = app.extensions["hubmatch.sessions"]
    hub = "hub"
    with transaction(factory) as session:
        create_hub(session, hub, "Lancashire Careers Hub", load_problem(data))
        token = create_token(session, "lead", "hub_lead", hub)
        for collection, kind in (("schools", "school"), ("advisers", "adviser"), ("employers", "employer")):
            for record in data[collection]:
                session.add(t.Contact(hub_id=hub, kind=kind, record_id=record["id"], email=email(kind, record["id"]),
                                      consent=True, opted_out=record["id"] in opted_out))
        round_ = t.Round(hub_id=hub, term="2026-autumn", policy=data.get("policy", {}))
        session.add(round_)
        session.flush()
        round_id = round_.id
        job_id = app.extensions["hubmatch.jobs"].submit(session, round_).id
    run_job(job_id, factory)
    lead = app.test_client()
    lead.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    proposals = lead.get(f"/rounds/{round_id}/proposals?per_page=1000").json["items"]
    batch = [{"proposal": p["id"], "action": "approve", "version": p["version"]} for p in proposals]
    assert lead.post(f"/rounds/{round_id}/decisions/batch", json={"decisions": batch}).status_code == 200
    reply = lead.post(f"/rounds/{round_id}/publish")
    assert reply.status_code == 200, reply.json
    return lead, round_id


def outbox(app: Flask, round_id: int) -> list[t.OutboxMessage]:
    with transaction(app.extensions["hubmatch.sessions"]) as session:
        rows = list(session.scalars(select(t.OutboxMessage).where(t.OutboxMessage.round_id == round_id)))
        session.expunge_all()
        return rows


def test_exactly_one_message_per_person_across_a_killed_worker_and_a_restarted_server(service, database, broker,
                                                                                     tmp_path):
    data = fixtures.lancashire_problem()
    data.pop("pairs", None)
    for school in data["schools"]:  # a first publish: everyone is new, so everyone hears
        school.pop("current_advisers", None)
        school.pop("current_cornerstones", None)
    opted_out = {data["advisers"][0]["id"], data["schools"][0]["id"]}
    server = SmtpServer()
    server.handler.slow_s, server.handler.stall_after = 0.02, 20
    server.start()
    try:
        with worker_process(database, broker, concurrency=1, log=tmp_path / "worker.log",
                            SMTP_URL=server.url, MAIL_LEASE_S="2", MAIL_RETRY_S="0.2",
                            REAPER_INTERVAL_S="0.2") as consumer:
            _, round_id = published_round(service, data, opted_out)
            rows = outbox(service, round_id)
            pending = {r.key: r.email for r in rows if r.state == "pending"}
            assert len(pending) > 150 and {r.record_id for r in rows if r.state == "skipped"} == opted_out

            assert server.handler.stalled.wait(TIMEOUT_S)  # the 21st message waits for its RCPT reply
            for kid in children(consumer.pid):  # the worker process mid-send, and its scheduler
                os.kill(kid.pid, signal.SIGKILL)
            in_flight = {r.key for r in outbox(service, round_id) if r.state == "sending"}
            assert in_flight, "the kill landed mid-send"
            server.stop()
            # the supervisor puts the dead worker's message back after its lease; with the server down, every
            # attempt is refused at the door and waits out its back-off
            wait_for(lambda: any(r.attempts >= 2 and "ConnectionRefused" in (r.reason or "")
                                 for r in outbox(service, round_id)), "a retry against the stopped server")
            server.handler.slow_s, server.handler.stall_after = 0.0, None
            server.start()
            wait_for(lambda: all(r.state in ("sent", "skipped") for r in outbox(service, round_id)),
                     "every message delivered")
            assert psutil.pid_exists(consumer.pid)
    finally:
        server.stop()
    received = server.received
    copies = Counter(m.key for m in received)
    assert set(copies) == set(pending)
    assert [key for key, n in copies.items() if n != 1] == []  # nothing doubled, nothing lost
    for message in received:
        assert message.recipients == [pending[message.key]]
        assert message.message["To"].addresses[0].addr_spec == pending[message.key]
    assert not {email(k, i) for k in ("adviser", "school") for i in opted_out} & {
        r for m in received for r in m.recipients}
    final = outbox(service, round_id)
    assert any(r.attempts >= 3 for r in final)  # the restart was waited out, not lucky
    assert all(r.state == "sent" and r.attempts >= 2 for r in final if r.key in in_flight)  # sent again, once


def test_a_refused_address_is_marked_bounced_and_a_deferred_one_retried(service, database, tmp_path):
    from helpers import TINY

    data = {**TINY}
    with SmtpServer() as server:
        server.handler.refuse.add(email("adviser", "A1"))
        server.handler.defer.add(email("school", "S1"))
        lead, round_id = published_round(service, data)
        settings = Settings.from_env(database_url=database, smtp_url=server.url, mail_retry_s=0.5)
        factory = service.extensions["hubmatch.sessions"]
        first = deliver(factory, settings)
        by_key = {r.record_id: r for r in outbox(service, round_id)}
        assert first.bounced == [by_key["A1"].id] and first.retrying == [by_key["S1"].id]
        assert by_key["A1"].state == "bounced" and by_key["A1"].reason == "550 5.1.1 No such mailbox here"
        assert by_key["S1"].state == "pending" and by_key["S1"].attempts == 1
        assert by_key["S1"].reason == "451 4.3.0 Mailbox busy, try again later"
        contact = lead.get("/hubs/hub/contacts/advisers/A1").json
        assert contact["bounced_at"] is not None and contact["bounce"] == "550 5.1.1 No such mailbox here"
        view = lead.get(f"/rounds/{round_id}/messages").json
        assert view["counts"]["bounced"] == 1 and view["counts"]["pending"] == 1

        assert deliver(factory, settings).sent == []  # not due before its back-off
        server.handler.defer.clear()
        time.sleep(0.6)
        assert deliver(factory, settings).sent == [by_key["S1"].id]
        assert [m.key for m in server.received].count(by_key["S1"].key) == 1
        assert by_key["A1"].key not in {m.key for m in server.received}

        # a new address clears the bounce
        reply = lead.put("/hubs/hub/contacts/advisers/A1", json={"email": "ada@example.org", "consent": True})
        assert reply.json["bounced_at"] is None and reply.json["bounce"] is None


def test_deliveries_running_at_once_send_each_message_once(service, database):
    import threading

    from helpers import TINY

    with SmtpServer() as server:
        server.handler.slow_s = 0.02
        _, round_id = published_round(service, {**TINY})
        settings = Settings.from_env(database_url=database, smtp_url=server.url)
        factory = service.extensions["hubmatch.sessions"]
        runs = [threading.Thread(target=deliver, args=(factory, settings)) for _ in range(4)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(TIMEOUT_S)
        rows = outbox(service, round_id)
        assert {r.state for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
        assert sorted(m.key for m in server.received) == sorted(r.key for r in rows)  # each once
