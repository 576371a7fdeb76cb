"""A served, solved Lancashire round for the review page's tests (SQLite in a temporary folder)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from workers import worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from models import load_problem
from models.repository import create_hub
from models.store import transaction


@dataclass(frozen=True)
class Served:
    app: object
    url: str
    round_id: int
    tokens: dict[str, str]
    database: str = ""
    broker: str = ""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on a real port with the Lancashire hub, tokens for each role and one solved round."""
    folder = Path(tmp_path_factory.mktemp("ui"))
    database, broker = f"sqlite:///{folder / 'ui.sqlite'}", f"sqlite:///{folder / 'queue.sqlite'}"
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker})
    factory = app.extensions["hubmatch.sessions"]
    raw = fixtures.lancashire_problem()
    with transaction(factory) as session:
        create_hub(session, "lancashire", "Lancashire Careers Hub", load_problem(raw))
        tokens = {role: create_token(session, f"{role} tester", role, None if role == "admin" else "lancashire")
                  for role in ("admin", "hub_lead", "coordinator", "read_only")}
    client = app.test_client()
    lead = {"Authorization": f"Bearer {tokens['hub_lead']}"}
    created = client.post("/hubs/lancashire/rounds", json={"term": "2026-spring", "policy": raw["policy"]},
                          headers=lead)
    assert created.status_code == 201, created.json
    round_id = created.json["id"]
    with worker_process(database, broker, concurrency=1):
        solved = client.post(f"/rounds/{round_id}/solve?wait=60", headers=lead)
    assert solved.json["state"] == "succeeded", solved.json
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Served(app, f"http://127.0.0.1:{server.server_port}", round_id, tokens, database, broker)
    server.shutdown()
