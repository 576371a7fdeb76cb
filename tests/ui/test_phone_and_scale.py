"""The review page on a phone and at scale, in Debian's Chromium: cards without sideways scrolling at 390 px, and
a 155-school hub whose page is no heavier than Lancashire's 84 (paged), its load time measured and kept."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from typing import Any

import pytest
from browser_kit import ARTIFACTS, FLAGS, assert_accessible, chromium, screenshot, sign_in
from ui_harness import Served

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect
LOADS = 5


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=FLAGS)
        yield launched
        launched.close()


def test_a_phone_reads_cards_with_the_map_above_and_the_filters_as_a_bar(browser: Any, served: Served) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                            has_touch=True)
    sign_in(page, served.url, served.tokens["coordinator"], f"/ui/rounds/{served.round_id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
    assert page.evaluate("getComputedStyle(document.querySelector('table.review tbody tr')).display") == "block"
    assert page.evaluate("getComputedStyle(document.querySelector('table.review thead')).display") == "none"
    top = page.evaluate("document.querySelector('section.map').getBoundingClientRect().top")
    assert top < page.evaluate("document.querySelector('#summary').getBoundingClientRect().top")
    assert page.evaluate("getComputedStyle(document.querySelector('.filters')).position") == "sticky"
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 27_000, height  # a page of 40 cards, not 54,000 px of table
    button = page.locator('.proposal[data-state="proposed"] button[data-action="approve"]').first
    box = button.bounding_box()
    assert box["height"] >= 24 and box["x"] + box["width"] <= 390  # a thumb can reach and hit it
    page.locator(".review-section").scroll_into_view_if_needed()
    page.evaluate("window.scrollBy(0, 400)")
    assert page.evaluate("document.querySelector('.filters').getBoundingClientRect().top") < 5  # stays in view
    assert_accessible(page, "phone")
    screenshot(page, "phone-390")
    page.close()


def load_times(browser: Any, served: Served) -> dict[str, float]:
    """Median time to the load event over ``LOADS`` loads of the round page, its HTML size and its elements."""
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    sign_in(page, served.url, served.tokens["coordinator"], f"/ui/rounds/{served.round_id}")
    times = []
    for _ in range(LOADS):
        page.goto(f"{served.url}/ui/rounds/{served.round_id}", wait_until="load")
        times.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    size = page.evaluate("performance.getEntriesByType('navigation')[0].decodedBodySize")
    elements = page.evaluate("document.getElementsByTagName('*').length")
    schools = int(page.locator("#shown").inner_text().split(" of ")[1].split()[0])
    page.close()
    return {"schools": schools, "load_ms": statistics.median(times), "html_kb": size / 1024, "elements": elements}


def test_155_schools_load_like_84(browser: Any, served: Served, served_wide: Served) -> None:
    small, wide = load_times(browser, served), load_times(browser, served_wide)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "page-load.json").write_text(json.dumps({"84": small, "155": wide}, indent=1) + "\n")
    print(f"\nround page, median of {LOADS} loads to the load event: {small['schools']} schools "
          f"{small['load_ms']:.0f} ms, {small['html_kb']:.0f} KB, {small['elements']} elements; "
          f"{wide['schools']} schools {wide['load_ms']:.0f} ms, {wide['html_kb']:.0f} KB, {wide['elements']} elements")
    assert (small["schools"], wide["schools"]) == (84, 155)
    assert wide["elements"] <= 1.25 * small["elements"]  # a page of 40 schools either way; the map grows a little
    assert wide["html_kb"] <= 1.35 * small["html_kb"]
