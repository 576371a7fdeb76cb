"""Twenty coordinators deciding proposals of one round at once through real HTTP: ``hubmatch serve --prod``
(gunicorn, 2 workers x 4 threads) on a loopback port, on a fresh PostgreSQL database, each coordinator a thread
with its own token and its own ``requests`` session.

What must hold: on one proposal with one ETag exactly one decision wins and is audited once; on overlapping
subsets every accepted decision is audited exactly once, no decision is lost or recorded twice (each proposal's
version moved once per accepted decision) and each proposal ends in the state of its last audited decision.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from helpers import race
from pg import scratch_database, skip_without_postgres

import fixtures
from api.auth import create_token
from models import load_problem
from models.repository import create_hub
from models.store import make_engine, migrate, session_factory, transaction

ROOT = Path(__file__).resolve().parents[2]
HUBMATCH = Path(sys.executable).with_name("hubmatch")
COORDINATORS = 20
STATES = {"approve": "approved", "reject": "rejected", "lock": "locked"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh database with the Lancashire hub and tokens, and a production server on it (stopped after)."""
    skip_without_postgres()
    with scratch_database("hubmatch_http") as url:
        migrate(url)
        raw = fixtures.lancashire_problem()
        policy = raw["policy"]
        raw.pop("pairs", None)
        engine = make_engine(url)
        with transaction(session_factory(engine)) as session:
            create_hub(session, "lancashire", "Lancashire", load_problem(raw))
            lead = create_token(session, "lead", "hub_lead", "lancashire")
            coordinators = {
                f"coordinator {i:02d}": create_token(session, f"coordinator {i:02d}", "coordinator", "lancashire")
                for i in range(COORDINATORS)
            }
        engine.dispose()
        log = tmp_path_factory.mktemp("server") / "server.log"
        with _server(url, log) as base:
            yield {"base": base, "url": url, "lead": lead, "coordinators": coordinators, "policy": policy, "log": log}


@contextlib.contextmanager
def _server(url: str, log: Path) -> Iterator[str]:
    """``hubmatch serve --prod`` on a free loopback port, once /health answers; its process group killed after."""
    port = _free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HUBMATCH), "serve", "--prod", "--port", str(port)],
            cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if requests.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the server did not answer /health within 60 s"
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def session_for(token: str) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return http


_terms = iter(range(1, 1000))


@pytest.fixture
def solved_round(service: dict[str, Any]) -> dict[str, Any]:
    """A new round of the hub, solved through the API; its proposals."""
    base, lead = service["base"], session_for(service["lead"])
    created = lead.post(f"{base}/hubs/lancashire/rounds",
                        json={"term": f"2026-t{next(_terms)}", "policy": service["policy"]}, timeout=30)
    assert created.status_code == 201, created.text
    round_id = created.json()["id"]
    solved = lead.post(f"{base}/rounds/{round_id}/solve?wait=60", timeout=90)
    assert solved.status_code == 200 and solved.json()["state"] == "succeeded", solved.text
    proposals = lead.get(f"{base}/rounds/{round_id}/proposals?per_page=1000", timeout=30).json()["items"]
    assert len(proposals) >= 20
    return {"id": round_id, "proposals": proposals, "lead": lead}




def audit(service: dict[str, Any], round_id: int) -> list[tuple]:
    with psycopg.connect(service["url"], autocommit=True) as conn:
        return conn.execute(
            "SELECT id, proposal_id, action, actor FROM decisions WHERE round_id = %s ORDER BY id", (round_id,)
        ).fetchall()


def check_error(reply: requests.Response, status: int, code: str) -> None:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body


def test_twenty_coordinators_same_proposal_same_etag_one_wins(service, solved_round):
    base, round_id = service["base"], solved_round["id"]
    proposal = solved_round["proposals"][0]["id"]
    etag = solved_round["lead"].get(f"{base}/proposals/{proposal}", timeout=30).headers["ETag"]
    names = sorted(service["coordinators"])
    sessions = [session_for(service["coordinators"][n]) for n in names]
    actions = ["approve" if i % 2 else "lock" for i in range(COORDINATORS)]
    started = time.monotonic()
    replies = race([
        (lambda http=http, action=action: http.post(f"{base}/proposals/{proposal}/decision", json={"action": action},
                                                    headers={"If-Match": etag}, timeout=60))
        for http, action in zip(sessions, actions, strict=True)
    ])
    elapsed = time.monotonic() - started
    codes = Counter(r.status_code for r in replies)
    print(f"\n{COORDINATORS} concurrent decisions on one proposal in {elapsed:.2f} s: {dict(codes)}")
    assert codes[200] == 1, codes
    assert set(codes) <= {200, 409, 412}, codes
    for reply in replies:
        if reply.status_code == 409:
            check_error(reply, 409, "conflict")
        elif reply.status_code == 412:
            check_error(reply, 412, "precondition_failed")
    winner = next(i for i, r in enumerate(replies) if r.status_code == 200)
    rows = audit(service, round_id)
    assert [(p, a, who) for _, p, a, who in rows] == [(proposal, actions[winner], names[winner])]
    final = solved_round["lead"].get(f"{base}/proposals/{proposal}", timeout=30)
    assert (final.json()["state"], final.json()["version"], final.json()["decided_by"]) == (
        STATES[actions[winner]], 2, names[winner]
    )
    assert final.headers["ETag"] == f'"{proposal}.2"'


@pytest.mark.slow
def test_twenty_coordinators_overlapping_subsets_no_decision_lost_or_doubled(service, solved_round):
    base, round_id = service["base"], solved_round["id"]
    pool = [p["id"] for p in solved_round["proposals"][:12]]
    names = sorted(service["coordinators"])
    rng = random.Random(20260)
    plans = [
        [(pid, rng.choice(list(STATES))) for pid in rng.sample(pool, 6)] for _ in range(COORDINATORS)
    ]

    def coordinator(name: str, plan: list[tuple[int, str]]) -> list[tuple[int, str, int, int | None]]:
        """Read each proposal's ETag, then decide it with If-Match; (proposal, action, status, new version)."""
        http = session_for(service["coordinators"][name])
        done = []
        for pid, action in plan:
            seen = http.get(f"{base}/proposals/{pid}", timeout=60)
            assert seen.status_code == 200, seen.text
            body = {"action": action, **({"reason": f"{name} says no"} if action == "reject" else {})}
            reply = http.post(f"{base}/proposals/{pid}/decision", json=body,
                              headers={"If-Match": seen.headers["ETag"]}, timeout=60)
            assert reply.status_code in (200, 409, 412), reply.text
            if reply.status_code != 200:
                check_error(reply, reply.status_code, {409: "conflict", 412: "precondition_failed"}[reply.status_code])
            done.append((pid, action, reply.status_code, reply.json().get("version")))
        return done

    started = time.monotonic()
    results = race([lambda n=n, plan=plan: coordinator(n, plan) for n, plan in zip(names, plans, strict=True)])
    elapsed = time.monotonic() - started
    outcomes = [(name, *o) for name, done in zip(names, results, strict=True) for o in done]
    codes = Counter(status for *_, status, _ in outcomes)
    print(f"\n{len(outcomes)} decisions by {COORDINATORS} coordinators on {len(pool)} proposals in {elapsed:.2f} s "
          f"(plus as many GETs): {dict(codes)}")
    assert sum(codes.values()) == COORDINATORS * 6
    assert codes[200] >= len(pool) // 2  # every proposal was contested; many decisions still got through

    accepted = Counter((pid, action, name) for name, pid, action, status, _ in outcomes if status == 200)
    rows = audit(service, round_id)
    assert Counter((p, a, who) for _, p, a, who in rows) == accepted  # each 200 audited exactly once, no other
    assert {p for _, p, _, _ in rows} <= set(pool)
    versions = [(pid, v) for _, pid, _, status, v in outcomes if status == 200]
    assert len(set(versions)) == len(versions)  # no two accepted decisions made the same version of a proposal

    per_proposal = Counter(p for _, p, _, _ in rows)
    for pid in pool:
        final = solved_round["lead"].get(f"{base}/proposals/{pid}", timeout=30).json()
        assert final["version"] == 1 + per_proposal[pid], (pid, final, per_proposal[pid])  # no lost update
        mine = [r for r in rows if r[1] == pid]
        if mine:
            _, _, action, who = mine[-1]
            assert (final["state"], final["decided_by"]) == (STATES[action], who), (pid, final, mine)
            assert sorted(v for p, v in versions if p == pid) == list(range(2, 2 + len(mine)))
        else:
            assert final["state"] == "proposed"
