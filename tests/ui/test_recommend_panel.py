"""The "Try a newcomer" panel: shown to Hub Leads and admins only, and its request (cookie session, CSRF header,
the newcomer's record) is one the API takes and the worker answers."""

from __future__ import annotations

import re

import pytest
from test_pages import signed_in
from ui_harness import Served

from service.tasks import run_job

NEWCOMER = {
    "kind": "adviser",
    "record": {"id": "NEW-UI", "name": "Ana Patel", "company": "New Co", "postcode": "BB11 2DL", "capacity": 1},
    "top": 2,
}


@pytest.mark.parametrize(
    ("role", "shown"), [("hub_lead", True), ("admin", True), ("coordinator", False), ("read_only", False)]
)
def test_the_panel_is_for_hub_leads_and_admins(served: Served, role: str, shown: bool) -> None:
    page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    assert ('id="recommend-form"' in page) is shown
    assert ("recommend.js" in page) is shown


def test_the_panels_request_is_answered_with_placements_and_their_chains(served: Served) -> None:
    client = signed_in(served, "hub_lead")
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page).group(1)  # type: ignore[union-attr]
    url = f"/rounds/{served.round_id}/recommend"
    refused = client.post(url, json=NEWCOMER)
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == "A request signed in by cookie must send the page's X-CSRF-Token header."
    started = client.post(url, json=NEWCOMER, headers={"X-CSRF-Token": csrf})
    assert started.status_code == 202, started.json
    run_job(started.json["id"], served.app.extensions["hubmatch.sessions"])  # type: ignore[attr-defined]
    job = client.get(started.json["url"]).json
    assert job["state"] == "succeeded", job["message"]
    [advisers] = job["result"]["roles"]
    assert [r["rank"] for r in advisers["recommendations"]] == [1, 2]
    assert advisers["recommendations"][0]["chain"].startswith("Ana Patel takes ")


def test_a_hub_lead_tries_a_newcomer_in_the_browser(served: Served) -> None:
    """The form posts the newcomer, the job runs (here, in this process), and the page lists the placements."""
    playwright = pytest.importorskip("playwright.sync_api")
    from browser_kit import ARTIFACTS, FLAGS, chromium, sign_in

    executable = chromium()
    factory = served.app.extensions["hubmatch.sessions"]  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        sign_in(page, served.url, served.tokens["hub_lead"], f"/ui/rounds/{served.round_id}")
        form = page.locator("#recommend-form")
        form.get_by_label("Id").fill("NEW-BROWSER")
        form.get_by_label("Name").fill("Ana Patel")
        form.get_by_label("Company").fill("New Co")
        form.get_by_label("Postcode").fill("BB11 2DL")
        form.get_by_label("Recommendations").fill("2")
        form.get_by_role("button", name="Find placements").click()
        run_job(_queued_recommend(factory), factory)
        result = page.locator("#recommend-result")
        playwright.expect(result.locator(".placements > li")).to_have_count(2, timeout=30_000)
        playwright.expect(result.locator(".chain").first).to_contain_text("Ana Patel takes ")
        page.screenshot(path=str(ARTIFACTS / "recommend-panel.png"), full_page=True)
        browser.close()


def _queued_recommend(factory, timeout_s: float = 30.0) -> str:  # type: ignore[no-untyped-def]
    """The id of the recommend job the page just started, once it is in the database."""
    import time

    from sqlalchemy import select

    from models import tables as t
    from models.store import transaction

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with transaction(factory) as session:
            job_id = session.scalar(select(t.Job.id).where(t.Job.kind == "recommend", t.Job.state == "queued"))
        if job_id:
            return job_id
        time.sleep(0.1)
    raise AssertionError("the page started no recommend job")
