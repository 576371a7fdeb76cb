"""The review page's load time in a real browser: Lancashire's 84 schools and the 155-school hub (fixtures.wide),
each served and solved here, loaded in Debian's headless Chromium (Playwright) as a coordinator.

The baseline is the page as it was before paging: every school on one page (``?page=all``), measured in the same
run. Target: the 155-school hub's page (paged) loads at least as fast as the 84 schools on one page.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common import ROOT, Config, Table, ratio, verdict
from werkzeug.serving import make_server

import fixtures
from api.app import create_app
from api.auth import create_token
from fixtures.wide import lancashire_wide_problem
from models import load_problem
from models.repository import create_hub
from models.store import transaction
from service.tasks import run_job

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@contextlib.contextmanager
def served(raw: dict[str, Any], folder: Path) -> Iterator[tuple[str, int, str]]:
    """The app on a local port with the problem's hub and one round solved in this process; (url, round, token)."""
    database, broker = f"sqlite:///{folder / 'page.sqlite'}", f"sqlite:///{folder / 'queue.sqlite'}"
    app = create_app({"DATABASE_URL": database, "BROKER_URL": broker})
    factory = app.extensions["hubmatch.sessions"]
    with transaction(factory) as session:
        create_hub(session, raw["hub"]["id"], raw["hub"]["name"], load_problem(raw))
        lead = create_token(session, "bench lead", "hub_lead", raw["hub"]["id"])
        coordinator = create_token(session, "bench coordinator", "coordinator", raw["hub"]["id"])
    client = app.test_client()
    auth = {"Authorization": f"Bearer {lead}"}
    round_id = client.post(f"/hubs/{raw['hub']['id']}/rounds", json={"term": "2026-spring", "policy": raw["policy"]},
                           headers=auth).json["id"]
    run_job(client.post(f"/rounds/{round_id}/solve", headers=auth).json["id"], factory)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the benchmark's output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", round_id, coordinator
    finally:
        server.shutdown()


def measure(browser: Any, url: str, round_id: int, token: str, query: str, loads: int) -> dict[str, float]:
    """Median milliseconds to the load event over ``loads`` loads, the HTML's size and the page's elements."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{url}/ui/login")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/ui/login" not in u)
    times = []
    for _ in range(loads):
        page.goto(f"{url}/ui/rounds/{round_id}{query}", wait_until="load")
        times.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    out = {"load_ms": statistics.median(times),
           "html_kb": page.evaluate("performance.getEntriesByType('navigation')[0].decodedBodySize") / 1024,
           "elements": page.evaluate("document.getElementsByTagName('*').length")}
    page.close()
    return out


def run(cfg: Config) -> tuple[Table, dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests" / "ui"))  # the browser tests' way to Chromium, installed when missing
    from browser_kit import installed_chromium

    loads = 3 if cfg.quick else 9
    table = Table(f"review page, median ms to the load event over {loads} loads (headless Chromium, 1366x900)",
                  ["hub", "schools", "layout", "load ms", "HTML KB", "elements", "vs 84 on one page", "target"])
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hubmatch-page-") as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=installed_chromium(), args=FLAGS)
        for name, problem in (("lancashire", fixtures.lancashire_problem()), ("wide", lancashire_wide_problem())):
            folder = Path(tmp) / name
            folder.mkdir()
            with served(problem, folder) as (url, round_id, token):
                for layout, query in (("one page", "?page=all"), ("paged (40)", "")):
                    raw[f"{len(problem['schools'])} {layout}"] = measure(browser, url, round_id, token, query, loads)
        browser.close()
    base = raw["84 one page"]["load_ms"]
    for key, m in raw.items():
        schools, layout = key.split(" ", 1)
        target = verdict(m["load_ms"], base * 1.0001) if key == "155 paged (40)" else ""
        table.add("Lancashire" if schools == "84" else "Lancashire + Merseyside", int(schools), layout,
                  m["load_ms"], m["html_kb"], int(m["elements"]), ratio(m["load_ms"], base), target)
    table.notes.append("target: the 155-school hub, paged, loads no slower than 84 schools on one page (the page "
                       "before paging)")
    return table, raw
