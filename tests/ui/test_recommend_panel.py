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
    "record": {"id": "NEW-UI", "name": "Ana Patel", "company": "New Co", "postcode": "BB11", "capacity": 1},
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
