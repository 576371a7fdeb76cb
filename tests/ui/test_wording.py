"""A proposal's cost in words (api.wording): each phrase from the share of its component, at the edges."""

from __future__ import annotations

import pytest

from api.wording import alternative_words, cost_words, sorted_alternatives, weights

WEIGHTS = {"distance": 1.0, "sector": 0.5, "need": 0.5, "continuity": 0.5}


@pytest.mark.parametrize(("sector", "need", "continuity", "words"), [
    (0.0, 0.0, 0.0, ["4.2 km", "sector match", "high need"]),  # need 1.0
    (0.5, 0.5, 0.0, ["4.2 km", "sector mismatch", "low need"]),  # fit 0, need 0
    (0.2, 0.25, -0.5, ["4.2 km", "partial sector fit", "some need", "partner last term"]),
    (0.375, 0.1666, 0.0, ["4.2 km", "sector mismatch", "high need"]),  # share .75 is a mismatch; need 2/3 is high
])
def test_cost_words_name_each_component_by_its_share(sector: float, need: float, continuity: float,
                                                       words: list[str]) -> None:
    proposal = {"distance_km": 4.23, "components": {"distance": 0.17, "sector": sector, "need": need,
                                                    "continuity": continuity}}
    assert cost_words(proposal, WEIGHTS) == words


def test_a_non_admin_reads_the_band_and_a_given_cost_says_so() -> None:
    banded = {"distance_km": None, "distance_band": "10–20 km", "components": {"distance": 0.6}}
    assert cost_words(banded, WEIGHTS) == ["10–20 km"]
    given = {"distance_km": 3.0, "components": {"given": 0.4}}
    assert cost_words(given, WEIGHTS) == ["3.0 km", "cost given by the import"]


def test_alternatives_say_why_they_were_not_chosen_cheapest_first() -> None:
    listed = [{"cost_delta": 0.2, "full": False}, {"cost_delta": -0.586, "full": True},
              {"cost_delta": -0.1, "full": False}, {"cost_delta": 0.0001, "full": True}]
    assert [alternative_words(a) for a in sorted_alternatives(listed)] == [
        "cheaper, but full", "cheaper, but needed at another school", "as good, and full", "costlier"]


def test_weights_fall_back_to_the_policy_defaults() -> None:
    assert weights({"weights": {"sector": 0.75}}) == {"distance": 1.0, "sector": 0.75, "need": 0.5,
                                                      "continuity": 0.5}
