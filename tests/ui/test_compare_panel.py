"""The "Which policy" panel of the round page: shown to Hub Leads and admins only, prefilled with the round's
policy, and in a real browser it starts the compare job, follows it and renders the job's own table."""

from __future__ import annotations

import pytest
import requests
from browser_kit import ARTIFACTS, FLAGS, chromium, sign_in
from test_pages import signed_in
from ui_harness import Served
from workers import worker_process

from models.privacy import BANDS


@pytest.mark.parametrize(
    ("role", "shown"), [("hub_lead", True), ("admin", True), ("coordinator", False), ("read_only", False)]
)
def test_the_panel_is_for_hub_leads_and_admins(served: Served, role: str, shown: bool) -> None:
    page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    assert ('id="compare-form"' in page) is shown
    assert ("compare.js" in page) is shown
    if shown:  # prefilled with the round's policy (the Lancashire fixture's 25 km and cap of 3)
        assert (
            'name="default_max_travel_km" type="number" min="1" max="200" step="any"\n'
            '             value="25.0" data-was="25.0"' in page
        )
        assert 'value="3" data-was="3"' in page


def test_a_round_not_yet_solved_asks_for_a_solve_first(served: Served) -> None:
    client = signed_in(served, "hub_lead")
    lead = {"Authorization": f"Bearer {served.tokens['hub_lead']}"}
    draft = served.app.test_client().post(  # type: ignore[attr-defined]
        "/hubs/lancashire/rounds", json={"term": "2026-draft"}, headers=lead
    )
    page = client.get(f"/ui/rounds/{draft.json['id']}").get_data(as_text=True)
    assert 'id="compare-unsolved"' in page and 'id="compare-form"' not in page


def test_a_hub_lead_compares_40_km_in_the_browser(served: Served) -> None:
    """The table the page renders is the job's own (the same request through the API gives the same rows), and a
    Hub Lead reads advisers' worst travel as a band."""
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    config = served.app.config  # type: ignore[attr-defined]
    lead = {"Authorization": f"Bearer {served.tokens['hub_lead']}"}
    with worker_process(config["DATABASE_URL"], config["BROKER_URL"], concurrency=1):
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=FLAGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            sign_in(page, served.url, served.tokens["hub_lead"], f"/ui/rounds/{served.round_id}")
            page.locator("#compare-radius").fill("40")
            page.get_by_role("button", name="Compare").click()
            playwright.expect(page.locator("#compare-stage")).to_have_text("Done.", timeout=90_000)
            rows = page.locator("#compare-rows tr")
            shown = [[c.strip() for c in rows.nth(i).locator("th, td").all_inner_texts()] for i in range(rows.count())]
            lost = page.locator("#compare-lost li").all_inner_texts()
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("section.compare").screenshot(path=str(ARTIFACTS / "compare-panel.png"))
            browser.close()
        reply = requests.post(
            f"{served.url}/rounds/{served.round_id}/compare?wait=90",
            headers=lead,
            timeout=100,
            json={"policy": {"default_max_travel_km": 40}},
        )
    assert reply.status_code == 200 and reply.json()["state"] == "succeeded", reply.json()
    expected = reply.json()["result"]
    assert shown == [[r["label"], r["a"], r["b"], r["change"] or ""] for r in expected["rows"]]
    worst = next(row for row in shown if row[0] == "Worst adviser travel")
    assert {worst[1], worst[2]} <= {band.label for band in BANDS}
    assert lost == (
        [
            f"{s['name']} ({s['school']}): {'an adviser' if s['role'] == 'adviser' else 'a Cornerstone'}"
            for s in expected["lost"]
        ]
        or ["none"]
    )
