"""Served, solved rounds for the review page's tests (SQLite in a temporary folder).

``served``: Lancashire's 84 schools, solved by a real worker process. ``served_wide``: the 155-school hub
(``fixtures.wide``), solved in this process (``service.tasks.run_job``: the worker's own code, without the wait
for a process), for the page's scale.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server
from workers import worker_process

import fixtures
from api.app import create_app
from api.auth import create_token
from fixtures.wide import lancashire_wide_problem
from models import load_problem
from models.repository import create_hub
from models.store import transaction
from service.tasks import run_job


@dataclass(frozen=True)
class Served:
    app: object
    url: str
    round_id: int
    tokens: dict[str, str]
    database: str = ""
    broker: str = ""


@contextlib.contextmanager
def serve(folder: Path, raw: dict[str, Any], with_worker: bool) -> Iterator[Served]:
    """The app on a real port with the problem's hub, a token for each role and one solved round."""
    database, broker = f"sqlite:///{folder / 'ui.sqlite'}", f"sqlite:///{folder / 'queue.sqlite'}"
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker})
    factory = app.extensions["hubmatch.sessions"]
    hub = raw["hub"]
    with transaction(factory) as session:
        create_hub(session, hub["id"], hub["name"], load_problem(raw))
        tokens = {role: create_token(session, f"{role} tester", role, None if role == "admin" else hub["id"])
                  for role in ("admin", "hub_lead", "coordinator", "read_only")}
    client = app.test_client()
    lead = {"Authorization": f"Bearer {tokens['hub_lead']}"}
    created = client.post(f"/hubs/{hub['id']}/rounds", json={"term": "2026-spring", "policy": raw["policy"]},
                          headers=lead)
    assert created.status_code == 201, created.json
    round_id = created.json["id"]
    if with_worker:
        with worker_process(database, broker, concurrency=1):
            solved = client.post(f"/rounds/{round_id}/solve?wait=60", headers=lead)
        assert solved.json["state"] == "succeeded", solved.json
    else:
        queued = client.post(f"/rounds/{round_id}/solve", headers=lead)
        run_job(queued.json["id"], factory)
        assert client.get(queued.json["url"], headers=lead).json["state"] == "succeeded"
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(app, f"http://127.0.0.1:{server.server_port}", round_id, tokens, database, broker)
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Lancashire's 84 schools, solved by a worker process."""
    with serve(Path(tmp_path_factory.mktemp("ui")), fixtures.lancashire_problem(), with_worker=True) as done:
        yield done


@pytest.fixture(scope="module")
def served_wide(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The 155-school hub, solved in this process."""
    with serve(Path(tmp_path_factory.mktemp("ui-wide")), lancashire_wide_problem(), with_worker=False) as done:
        yield done
