"""The solve summary's line about volunteers: how many partners got a school, and why the others did not."""

from __future__ import annotations

from collections import Counter
from typing import Any

from models.domain import Solution

LABELS = (("adviser", "advisers"), ("cornerstone", "employers"))


def volunteers_line(solution: Solution) -> str | None:
    """"volunteers: 68 advisers engaged, 20 idle (20 company_cap); 1 employer engaged, 0 idle", or None when
    the solve matched neither role."""
    st: dict[str, Any] = solution.stats
    reasons = Counter((i.role, i.reason) for i in solution.idle)
    parts = []
    for role, name in LABELS:
        if f"{name}_engaged" not in st:
            continue
        why = ", ".join(f"{n} {reason}" for (r, reason), n in sorted(reasons.items()) if r == role)
        engaged = int(st[f"{name}_engaged"])
        counts = f"{engaged} {name if engaged != 1 else name[:-1]} engaged, {st[f'{name}_idle']} idle"
        parts.append(f"{counts} ({why})" if why else counts)
    return "volunteers: " + "; ".join(parts) if parts else None
