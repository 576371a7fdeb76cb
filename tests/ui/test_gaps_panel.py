"""The "Where to recruit" panel of the round page: shown to Hub Leads and admins only, and in a real browser it
starts the gaps job, follows it, lists the job's own places and redraws the map with them."""

from __future__ import annotations

import pytest
import requests
from browser_kit import ARTIFACTS, FLAGS, chromium, sign_in
from test_pages import signed_in
from ui_harness import Served
from workers import worker_process


@pytest.mark.parametrize(
    ("role", "shown"), [("hub_lead", True), ("admin", True), ("coordinator", False), ("read_only", False)]
)
def test_the_panel_is_for_hub_leads_and_admins(served: Served, role: str, shown: bool) -> None:
    page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    assert ('id="gaps-form"' in page) is shown
    assert ("gaps.js" in page) is shown


def test_a_hub_lead_finds_where_to_recruit_in_the_browser(served: Served) -> None:
    """The places the page lists are the job's own (the same request through the API gives the same), and the
    map image is redrawn with the job's places."""
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    config = served.app.config  # type: ignore[attr-defined]
    lead = {"Authorization": f"Bearer {served.tokens['hub_lead']}"}
    with worker_process(config["DATABASE_URL"], config["BROKER_URL"], concurrency=1):
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=executable, args=FLAGS)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            sign_in(page, served.url, served.tokens["hub_lead"], f"/ui/rounds/{served.round_id}")
            page.select_option("#gaps-role", "adviser")
            page.get_by_label("Travel radius in km (empty: the policy's)").fill("20")
            page.get_by_role("button", name="Find places").click()
            playwright.expect(page.locator("#gaps-stage")).to_have_text("Done.", timeout=90_000)
            rows = page.locator("tr.gap-adviser")
            shown = [[c.strip() for c in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]
            playwright.expect(page.locator("#hubmap g.pt.marker").first).to_be_visible(timeout=30_000)
            drawn_tags = page.locator("#hubmap g.pt.marker text").all_text_contents()
            map_link = page.locator("#gaps-map-link").get_attribute("href") or ""
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.locator("section.gaps").screenshot(path=str(ARTIFACTS / "gaps-panel.png"))
            browser.close()
        reply = requests.post(
            f"{served.url}/rounds/{served.round_id}/gaps?wait=90",
            headers=lead,
            timeout=100,
            json={"role": "adviser", "radius_km": 20},
        )
    assert reply.status_code == 200 and reply.json()["state"] == "succeeded", reply.json()
    places = reply.json()["result"]["adviser"]["places"]
    assert places and shown == [
        [
            str(p["rank"]),
            p["town"],
            f"{p['lat']:.3f}, {p['lon']:.3f}",
            str(p["covers"]),
            "; ".join(f"{s['name']} ({s['distance_km']} km)" for s in p["schools"]),
        ]
        for p in places
    ]
    assert drawn_tags == [str(p["rank"]) for p in places]  # the page's own map draws the places, ranked
    assert map_link.startswith(f"/ui/rounds/{served.round_id}/map.svg?gaps=")
    drawn = requests.get(f"{served.url}{map_link}", headers=lead, timeout=30)
    assert drawn.status_code == 200 and drawn.text.count('class="pt marker"') == len(places)
