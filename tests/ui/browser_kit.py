"""What the browser tests share: Debian's Chromium (installed with apt-get when missing), signing in, axe-core
with the WCAG 2.1 A and AA rules, and screenshots kept in out/test-artifacts/ (``HUBMATCH_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("HUBMATCH_ARTIFACTS", "out/test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def installed_chromium() -> str:
    """The path of Chromium, installing Debian's package first when it is missing; RuntimeError saying why when it
    cannot be (bench/page.py, which measures the review page, takes it from here too)."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise RuntimeError("Chromium is not installed and cannot be installed here (needs apt-get as root)")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            said = done.stderr.strip()[-300:]
            raise RuntimeError(f"Chromium could not be installed: {' '.join(command)} said {said}")
    return CHROMIUM


def chromium() -> str:
    """``installed_chromium()``, or the test skipped with the reason it gives."""
    try:
        return installed_chromium()
    except RuntimeError as err:
        pytest.skip(str(err))


def sign_in(page: Any, url: str, token: str, path: str) -> None:
    """Open ``path``; the page sends to sign-in; sign in with ``token`` and come back."""
    page.goto(f"{url}{path}")
    page.fill("#token", token)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/ui/login" not in url and url.endswith(path))
    page.wait_for_load_state("load")


def assert_accessible(page: Any, name: str) -> None:
    """axe-core (bundled by axe-playwright-python) finds no WCAG 2.1 A/AA violation on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_AA}, "resultTypes": ["violations"]})
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"


def screenshot(page: Any, name: str, full_page: bool = False, element: Any = None) -> Path:
    """Keep a picture of the page (or of one element of it) as a test artefact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if element is not None:
        element.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=full_page)
    return path
