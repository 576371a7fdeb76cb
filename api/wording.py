"""A proposal's cost in words a coordinator reads: "23.4 km · sector mismatch · high need", and alternatives as
"cheaper, but full" instead of "-0.586".

The cost components (``matcher.costs``) are each a weight times a share in [0, 1]: the distance over the travel
radius, one minus the sector fit, one minus the school's need, minus one on the pairing the school had last term.
Dividing by the round's weights gives the shares back, and the shares have plain names. What a non-admin reads of
an adviser's distance is its band (``models.privacy``), so the words use the proposal's band where it has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.domain import Policy


def weights(policy: Mapping[str, Any]) -> dict[str, float]:
    """The round's cost weights by component name (the policy's, else the defaults of ``Policy``)."""
    default = Policy().weights
    given = policy.get("weights", {}) or {}
    return {name: float(given.get(name, getattr(default, name))) for name in ("distance", "sector", "need",
                                                                            "continuity")}


def distance_words(km: float | None, band: str | None) -> str:
    """A distance as the viewer may read it: exact to a tenth of a km, else the band."""
    return f"{km:.1f} km" if km is not None else (band or "distance unknown")


def _share(components: Mapping[str, float], name: str, weight: float) -> float | None:
    if name not in components or weight <= 0:
        return None
    return float(components[name]) / weight


def sector_words(share: float | None) -> str | None:
    """One minus the sector fit: 0 is the sector the school wants, 1 none of them."""
    if share is None:
        return None
    if share <= 0.05:
        return "sector match"
    return "sector mismatch" if share >= 0.75 else "partial sector fit"


def need_words(share: float | None) -> str | None:
    """One minus the school's need: needier schools are cheaper to serve."""
    if share is None:
        return None
    need = 1.0 - share
    if need >= 2 / 3:
        return "high need"
    return "low need" if need <= 1 / 3 else "some need"


def cost_words(proposal: Mapping[str, Any], weight: Mapping[str, float]) -> list[str]:
    """The proposal's cost as short phrases, distance first."""
    parts = [distance_words(proposal.get("distance_km"), proposal.get("distance_band"))]
    components = proposal.get("components") or {}
    if "given" in components:
        return [*parts, "cost given by the import"]
    parts += [w for w in (sector_words(_share(components, "sector", weight["sector"])),
                          need_words(_share(components, "need", weight["need"]))) if w]
    if float(components.get("continuity", 0.0)) < 0:
        parts.append("partner last term")
    return parts


def alternative_words(alternative: Mapping[str, Any]) -> str:
    """Why an alternative partner was not proposed, from its cost delta and whether it is full."""
    delta = float(alternative.get("cost_delta", 0.0))
    if delta < 0:
        return "cheaper, but full" if alternative.get("full") else "cheaper, but needed at another school"
    verdict = "costlier" if delta > 0.0005 else "as good"
    return f"{verdict}, and full" if alternative.get("full") else verdict


def sorted_alternatives(alternatives: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Alternatives cheapest first, the order a coordinator weighs them in."""
    return sorted(alternatives, key=lambda a: float(a.get("cost_delta", 0.0)))
