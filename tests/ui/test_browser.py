"""The review page in a real browser: Playwright driving Debian's Chromium, headless, one browser for the module.

Each test drives what a coordinator does and checks it against the JSON API; axe-core runs on every page state
the test reaches; screenshots are kept in out/test-artifacts/. The tests share one solved round and run in order:
the last one solves the round again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from browser_kit import FLAGS, assert_accessible, chromium, screenshot, sign_in
from ui_harness import Served
from workers import worker_process

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


def coordinator_page(browser: Any, served: Served, path: str) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(page, served.url, served.tokens["coordinator"], path)
    return page


def api(served: Served, role: str = "coordinator") -> dict[str, str]:
    return {"Authorization": f"Bearer {served.tokens[role]}"}


def proposal(served: Served, pid: int) -> dict[str, Any]:
    return requests.get(f"{served.url}/proposals/{pid}", headers=api(served), timeout=10).json()


def test_the_sign_in_page_and_the_index_pass_axe(browser: Any, served: Served) -> None:
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{served.url}/ui/login")
    assert_accessible(page, "sign-in page")
    page.fill("#token", served.tokens["hub_lead"])
    page.keyboard.press("Enter")
    page.wait_for_url(f"{served.url}/ui/")
    expect(page.locator("table.rounds")).to_contain_text("Lancashire Careers Hub")
    assert_accessible(page, "index")
    screenshot(page, "index")
    page.close()


def test_a_decision_is_shown_by_its_row_and_focus_stays(browser: Any, served: Served) -> None:
    page = coordinator_page(browser, served, f"/ui/rounds/{served.round_id}?show=undecided")
    page.evaluate("window.notReloaded = true")
    boxes = page.locator('.proposal[data-state="proposed"]')
    total = int(re.search(r"of (\d+) pairings decided", page.locator(".progress label").inner_text()).group(1))
    first, second = boxes.nth(0), boxes.nth(1)
    first_id, second_id = int(first.get_attribute("data-proposal")), int(second.get_attribute("data-proposal"))
    first, second = (page.locator(f'.proposal[data-proposal="{i}"]') for i in (first_id, second_id))

    first.get_by_role("button", name="Approve").focus()
    page.keyboard.press("Enter")
    expect(first.locator('[data-role="state"]')).to_have_text("approved")
    expect(first.locator(".note")).to_have_text("Saved: approved.")
    expect(first.locator('[data-role="decided"]')).to_contain_text("approved by coordinator tester · ")
    assert page.evaluate("document.activeElement.dataset.action") == "approve"  # focus kept on the button
    assert page.evaluate("document.activeElement.closest('.proposal').dataset.proposal") == str(first_id)
    expect(page.locator(".progress label")).to_have_text(f"1 of {total} pairings decided")  # summary in place
    expect(page.locator("#summary .states")).to_contain_text("1 approved")

    page.keyboard.press("n")  # "next undecided" from here: the next proposed pairing after the one decided
    assert page.evaluate("document.activeElement.closest('.proposal').dataset.proposal") == str(second_id)
    reason = second.get_by_label("Reason to reject")
    reason.fill("")
    reason.press("Enter")  # no reason: the message is by the row, focus on the reason
    expect(second.locator(".note")).to_have_text("Give a reason to reject.")
    assert page.evaluate("document.activeElement.id") == f"reason-{second_id}"
    reason.fill("The adviser works nights this term")
    reason.press("Enter")
    expect(second.locator('[data-role="state"]')).to_have_text("rejected")
    expect(page.locator(".progress label")).to_have_text(f"2 of {total} pairings decided")
    assert page.evaluate("window.notReloaded") is True
    assert_accessible(page, "review page after decisions")
    screenshot(page, "review-feedback")
    page.close()

    assert (proposal(served, first_id)["state"], proposal(served, first_id)["decided_by"]) == (
        "approved", "coordinator tester")
    assert proposal(served, second_id)["reason"] == "The adviser works nights this term"


def test_a_batch_asks_with_its_count_approves_only_the_filter_and_names_a_stale_row(browser: Any,
                                                                                     served: Served) -> None:
    page = coordinator_page(browser, served, f"/ui/rounds/{served.round_id}?show=long_distance")
    picked = page.locator('.proposal[data-picked][data-state="proposed"]')
    outside = [int(x) for x in page.locator('.proposal.outside[data-state="proposed"]').evaluate_all(
        "els => els.map(e => e.dataset.proposal)")]
    ids = [int(x) for x in picked.evaluate_all("els => els.map(e => e.dataset.proposal)")]
    assert len(ids) >= 2 and outside  # the filter's schools also have short pairings, which it does not pick

    page.get_by_role("button", name="Approve the undecided pairings shown…").click()
    dialog = page.locator("dialog#confirm")
    expect(dialog).to_contain_text(f"Approve {len(ids)} undecided pairings shown under “Long distances (by distance)”")
    assert_accessible(page, "batch confirmation")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#batch-note")).to_have_text("Nothing approved.")
    assert all(proposal(served, i)["state"] == "proposed" for i in ids)

    # someone else locks one of them meanwhile: the batch names it, refreshes it, and decides nothing
    taken = ids[1]
    etag = requests.get(f"{served.url}/proposals/{taken}", headers=api(served, "hub_lead"), timeout=10).headers["ETag"]
    locked = requests.post(f"{served.url}/proposals/{taken}/decision", json={"action": "lock"},
                           headers={**api(served, "hub_lead"), "If-Match": etag}, timeout=10)
    assert locked.status_code == 200
    page.get_by_role("button", name="Approve the undecided pairings shown…").click()
    page.get_by_role("button", name=f"Approve {len(ids)}").click()
    box = page.locator(f'.proposal[data-proposal="{taken}"]')
    label = box.get_attribute("data-label")
    expect(page.locator("#batch-note")).to_contain_text(f"Nothing approved: {label} changed since you read it.")
    expect(box.locator(".note")).to_have_text("Changed since you read it: now locked by hub_lead tester.")
    expect(box.locator('[data-role="state"]')).to_have_text("locked")
    assert [proposal(served, i)["state"] for i in ids if i != taken] == ["proposed"] * (len(ids) - 1)
    screenshot(page, "review-batch-stale")

    page.get_by_role("button", name="Approve the undecided pairings shown…").click()
    page.get_by_role("button", name=f"Approve {len(ids) - 1}").click()
    expect(page.locator("#batch-note")).to_have_text(f"{len(ids) - 1} pairings approved.")
    assert [proposal(served, i)["state"] for i in ids if i != taken] == ["approved"] * (len(ids) - 1)
    assert [proposal(served, i)["state"] for i in outside] == ["proposed"] * len(outside)  # exactly the filter
    page.close()


def test_undoing_a_lock_asks_first(browser: Any, served: Served) -> None:
    page = coordinator_page(browser, served, f"/ui/rounds/{served.round_id}?show=undecided")
    pid = int(page.locator('.proposal[data-state="proposed"]').first.get_attribute("data-proposal"))
    box = page.locator(f'.proposal[data-proposal="{pid}"]')
    box.get_by_role("button", name="Lock").click()
    expect(box.locator('[data-role="state"]')).to_have_text("locked")
    box.get_by_role("button", name="Approve").click()
    expect(page.locator("dialog#confirm")).to_contain_text("is locked. Unlock it and approve it instead?")
    page.get_by_role("button", name="Cancel").click()
    expect(box.locator(".note")).to_have_text("Kept locked.")
    assert proposal(served, pid)["state"] == "locked"
    assert page.evaluate("document.activeElement.dataset.action") == "approve"  # focus back where it was
    box.get_by_role("button", name="Approve").click()
    page.get_by_role("button", name="Unlock and approve").click()
    expect(box.locator('[data-role="state"]')).to_have_text("approved")
    assert proposal(served, pid)["state"] == "approved"
    page.close()


def test_the_map_names_points_links_rows_and_zooms_to_a_district(browser: Any, served: Served) -> None:
    page = coordinator_page(browser, served, f"/ui/rounds/{served.round_id}")
    row = page.locator("tbody tr").first
    urn = row.get_attribute("data-school")
    name = row.locator("a.to-map").inner_text()
    expect(page.locator("#hubmap path.district")).to_have_count(page.locator("#zoom option").count() - 1)
    expect(page.locator("#hubmap text.town", has_text="Preston")).to_have_count(1)

    screenshot(page, "map-whole-hub", element=page.locator("section.map"))
    row.locator("a.to-map").click()  # the row leads to its point, focused, its name shown
    assert page.evaluate("document.activeElement.id") == f"pt-{urn}"
    expect(page.locator("#map-tip")).to_be_visible()
    expect(page.locator("#map-tip")).to_contain_text(name)

    other = page.locator("tbody tr").nth(5)
    other_urn = other.get_attribute("data-school")
    page.locator(f"#pt-{other_urn}").hover()
    expect(page.locator("#map-tip")).to_contain_text(other.locator("a.to-map").inner_text())
    page.locator(f"#pt-{other_urn}").click(force=True)  # the point leads to its row
    expect(other).to_have_class(re.compile("flash"))
    assert page.evaluate("document.activeElement.closest('tr').dataset.school") == other_urn

    line = page.locator("#hubmap line.pair").nth(3)  # a pairing's line leads to its school's row too
    line_school = line.get_attribute("data-school")
    assert page.locator(f"#school-{line_school}").count() == 1  # lines follow the rows' order: on this page
    line.dispatch_event("click")
    expect(page.locator(f"#school-{line_school}")).to_have_class(re.compile("flash"))

    whole = page.locator("#hubmap").get_attribute("viewBox")
    page.select_option("#zoom", label="Preston")
    zoomed = [float(v) for v in page.locator("#hubmap").get_attribute("viewBox").split()]
    assert zoomed[2] < float(whole.split()[2]) / 2  # a district is a small part of the hub
    assert_accessible(page, "map zoomed to Preston")
    screenshot(page, "map-zoomed-preston", element=page.locator("section.map"))
    page.select_option("#zoom", label="The whole hub")
    assert page.locator("#hubmap").get_attribute("viewBox") == whole

    box = page.locator('.proposal[data-state="proposed"]').first  # a decision redraws the map in place
    pid = box.get_attribute("data-proposal")
    school = box.evaluate("b => b.closest('tr').dataset.school")
    before = page.locator(f'#hubmap line.approved[data-school="{school}"]').count()
    page.locator(f'.proposal[data-proposal="{pid}"]').get_by_role("button", name="Approve").click()
    expect(page.locator(f'#hubmap line.approved[data-school="{school}"]')).to_have_count(before + 1)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "review-1920")
    page.close()


def test_a_hub_lead_sets_the_policy_solves_with_progress_and_is_told_what_blocks_publishing(
        browser: Any, served: Served) -> None:
    lead = api(served, "hub_lead")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(page, served.url, served.tokens["hub_lead"], "/ui/")
    page.get_by_label("Term").fill("2026 spring")  # not a term: the API's message by the form
    page.get_by_role("button", name="Create the round").click()
    expect(page.locator("#new-round-note")).to_contain_text("Not created:")
    page.get_by_label("Term").fill("2026-browser")
    page.get_by_role("button", name="Create the round").click()
    page.wait_for_url(re.compile(r"/ui/rounds/\d+$"))
    round_id = int(page.url.rsplit("/", 1)[1])
    assert requests.get(f"{served.url}/rounds/{round_id}", headers=lead, timeout=10).json()["term"] == "2026-browser"
    expect(page.locator("#summary")).to_contain_text("Not solved yet")
    assert_accessible(page, "draft round, Hub Lead")
    screenshot(page, "hub-lead-draft", full_page=True)

    page.get_by_label("Travel radius (km) for advisers without their own").fill("22")
    page.get_by_label("Weight of sector fit").fill("0.75")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.locator("#policy-note")).to_have_text("Policy saved; it applies to the next solve.")
    policy = requests.get(f"{served.url}/rounds/{round_id}", headers=lead, timeout=10).json()["policy"]
    assert (policy["default_max_travel_km"], policy["weights"]["sector"]) == (22.0, 0.75)
    page.get_by_label("Travel radius (km) for advisers without their own").fill("-3")
    page.get_by_label("Travel radius (km) for advisers without their own").evaluate("e => e.removeAttribute('min')")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.locator("#policy-note")).to_contain_text("Not saved:")  # the API's 422, by the form
    assert requests.get(f"{served.url}/rounds/{round_id}", headers=lead, timeout=10).json()["policy"][
        "default_max_travel_km"] == 22.0

    seen: list[str] = []
    page.on("response", lambda r: seen.append(r.url) if "/jobs/" in r.url else None)
    with worker_process(served.database, served.broker, concurrency=1):
        page.get_by_role("button", name="Solve", exact=True).click()
        expect(page.locator("#job")).to_be_visible()
        page.wait_for_selector("#summary .progress", timeout=90_000)  # reloaded with the proposals
    assert seen  # the page followed the job
    assert requests.get(f"{served.url}/rounds/{round_id}", headers=lead, timeout=10).json()["state"] == "proposed"
    expect(page.locator("#hub-lead .last-solve")).to_contain_text("Last solve: succeeded")
    page.get_by_role("button", name="Publish…").click()
    expect(page.locator("#lead-note")).to_contain_text("pairings are still undecided: decide every pairing")
    page.locator("details.audit summary").click()
    expect(page.locator("details.audit")).to_contain_text("solve started")
    page.locator("details.changes summary").click()
    assert_accessible(page, "solved round, Hub Lead")
    screenshot(page, "hub-lead-solved")
    page.close()


def test_a_page_opened_before_a_re_solve_says_so_and_offers_a_reload(browser: Any, served: Served) -> None:
    page = coordinator_page(browser, served, f"/ui/rounds/{served.round_id}?show=undecided")
    pid = int(page.locator('.proposal[data-state="proposed"]').first.get_attribute("data-proposal"))
    box = page.locator(f'.proposal[data-proposal="{pid}"]')
    with worker_process(served.database, served.broker, concurrency=1):
        solved = requests.post(f"{served.url}/rounds/{served.round_id}/solve?wait=60", headers=api(served, "hub_lead"),
                               timeout=90).json()
    assert solved["state"] == "succeeded", solved
    box.get_by_role("button", name="Approve").click()
    banner = page.locator("#stale")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("This round was solved again (solve 2) since you opened the page")
    expect(box.locator(".note")).to_contain_text("Not saved")
    assert_accessible(page, "stale page")
    screenshot(page, "review-stale")
    page.get_by_role("button", name="Reload the page").click()
    expect(page.locator("#stale")).to_be_hidden()
    assert page.locator("#review").get_attribute("data-solves") == "2"
    page.close()
