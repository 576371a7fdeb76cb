"""The review page in a real browser: Playwright driving Debian's Chromium, headless.

Chromium is installed with apt-get when it is missing (the machine's user is root here); the test is skipped,
saying why, only where it cannot be installed. The screenshot is kept in out/test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from ui_harness import Served

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HUBMATCH_ARTIFACTS", "out/test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    """The path of Chromium, installing Debian's package first when it is missing."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and cannot be installed here (needs apt-get as root)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            pytest.skip(f"Chromium could not be installed: {' '.join(command)} said {done.stderr.strip()[-300:]}")
    return CHROMIUM


def test_coordinator_approves_and_rejects_in_the_browser(served: Served) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    api = {"Authorization": f"Bearer {served.tokens['coordinator']}"}
    pending = requests.get(f"{served.url}/rounds/{served.round_id}/proposals?state=proposed&per_page=2",
                           headers=api, timeout=10).json()["items"]
    first, second = pending[0]["id"], pending[1]["id"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS)
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(f"{served.url}/ui/rounds/{served.round_id}?show=undecided")
        page.fill("#token", served.tokens["coordinator"])
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/ui/rounds/{served.round_id}?show=undecided")

        approve_box = page.locator(f'.proposal[data-proposal="{first}"]')
        approve_box.get_by_role("button", name="Approve").click()
        playwright.expect(approve_box.locator('[data-role="state"]')).to_have_text("approved")

        reject_box = page.locator(f'.proposal[data-proposal="{second}"]')
        reject_box.get_by_label("Reason to reject").fill("The adviser works nights this term")
        reject_box.get_by_label("Reason to reject").press("Enter")  # the keyboard path: Enter rejects
        playwright.expect(reject_box.locator('[data-role="state"]')).to_have_text("rejected")
        playwright.expect(page.locator("#status")).to_contain_text("rejected")
        page.screenshot(path=str(ARTIFACTS / "review-page.png"), full_page=False)
        browser.close()

    approved = requests.get(f"{served.url}/proposals/{first}", headers=api, timeout=10).json()
    rejected = requests.get(f"{served.url}/proposals/{second}", headers=api, timeout=10).json()
    assert (approved["state"], approved["decided_by"]) == ("approved", "coordinator tester")
    assert (rejected["state"], rejected["reason"]) == ("rejected", "The adviser works nights this term")
    log = requests.get(f"{served.url}/rounds/{served.round_id}/decisions", headers=api, timeout=10).json()
    assert [(d["proposal_id"], d["action"]) for d in log if d["proposal_id"] in (first, second)] == [
        (first, "approve"), (second, "reject")]
    assert (ARTIFACTS / "review-page.png").stat().st_size > 10_000
