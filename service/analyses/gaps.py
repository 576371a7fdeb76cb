"""The ``gaps`` analysis: where to recruit an adviser or a Cornerstone Employer for the schools a round leaves
without one (``matcher.gaps``), run on the solve queue because every place is verified by re-solving the role.

Parameters (validated by the API): ``role`` ("adviser", "cornerstone" or "both"), ``capacity`` (a recruited
adviser's schools), ``employer_capacity``, ``radius_km`` (default the policy's), ``top`` and ``ranking``
("sequence" or "independent"). The search runs on the round's problem as a solve of it would see it, decisions
included, so ``covers`` is what the next solve would gain with the recruit on the hub's list.

The result holds places (proposed positions for recruitment, the nearest town) and schools, never where an existing
partner lives or how far one travels, so a reader who is not an admin reads it as it is.
"""

from __future__ import annotations

import time
from typing import Any

from matcher.gaps import as_document, check_request, default_recruit, find_gaps, searchable_roles
from models.domain import ROLES, Role
from service.analyses import AnalysisContext, AnalysisError

TIME_LIMIT_S = 300.0  # a national round takes about 15 s


def run(ctx: AnalysisContext) -> dict[str, Any]:
    """The gap search of each role asked for, as the "Recruitment gaps" document of docs/problem-format.md."""
    params = ctx.params
    roles: list[Role] = list(ROLES) if params.get("role", "both") == "both" else [params["role"]]
    roles = searchable_roles(ctx.problem, roles)
    if not roles:
        raise AnalysisError("The round's policy gives schools no slot for the role asked for: nothing to recruit.")
    result: dict[str, Any] = {}
    for i, role in enumerate(roles):
        capacity = params.get("capacity") if role == "adviser" else params.get("employer_capacity")
        recruit = default_recruit(ctx.problem, role, capacity, params.get("radius_km"))
        top = int(params.get("top", 5))
        try:
            check_request(role, recruit, top)
        except ValueError as err:
            raise AnalysisError(str(err)) from None

        def progress(fraction: float, stage: str, i: int = i) -> None:
            ctx.progress((i + fraction) / len(roles), stage)

        started = time.perf_counter()
        found = find_gaps(
            ctx.problem,
            role,
            recruit,
            top=top,
            sequence=params.get("ranking", "sequence") == "sequence",
            progress=progress,
        )
        result[role] = as_document(ctx.problem, found, time.perf_counter() - started)
    return result
