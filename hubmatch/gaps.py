"""``hubmatch gaps``: where to recruit an Enterprise Adviser or a Cornerstone Employer to reach the schools a
round leaves without one (``matcher.gaps``), as a file and a table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from hubmatch import cli
from hubmatch.progress import ProgressBar
from models import load_problem
from models.domain import ROLES

NOUNS = {"adviser": "advisers", "cornerstone": "Cornerstone Employers"}


def add_parser(sub: Any) -> None:
    g = sub.add_parser("gaps", help="where to recruit: places where one new partner covers the most schools")
    g.add_argument("problem", type=Path)
    g.add_argument("-o", "--output", type=Path, required=True)
    g.add_argument("--role", choices=[*ROLES, "both"], default="both")
    g.add_argument("--capacity", type=float, help="the recruited adviser's schools (default: the hub's most common)")
    g.add_argument(
        "--employer-capacity",
        type=float,
        help="the recruited Cornerstone Employer's capacity (default: the hub's most common)",
    )
    g.add_argument("--radius", type=float, help="travel radius in km (default: the policy's)")
    g.add_argument("--top", type=int, default=5, help="places per role (1-20)")
    g.add_argument(
        "--independent",
        action="store_true",
        help="rank each place against the round as it is (default: a sequence, each place given the recruits above it)",
    )
    g.add_argument("--solver", choices=cli.SOLVERS, default="auto")
    g.set_defaults(run=_gaps)


def _gaps(args: argparse.Namespace) -> int:
    problem = load_problem(cli._read_json(args.problem))
    from matcher.gaps import as_document, check_request, default_recruit, find_gaps, searchable_roles

    roles = searchable_roles(problem, list(ROLES) if args.role == "both" else [args.role])
    if not roles:
        raise cli.InputError("gaps: the policy gives schools no slot for the role asked for: nothing to recruit")
    document: dict[str, Any] = {}
    with ProgressBar() as bar:
        for role in roles:
            capacity = args.capacity if role == "adviser" else args.employer_capacity
            recruit = default_recruit(problem, role, capacity, args.radius)
            try:
                check_request(role, recruit, args.top)
            except ValueError as err:
                raise cli.InputError(f"gaps: {err}") from None
            started = time.perf_counter()
            found = find_gaps(
                problem,
                role,
                recruit,
                top=args.top,
                sequence=not args.independent,
                solver=args.solver,
                progress=bar.stage(NOUNS[role]),
            )
            document[role] = as_document(problem, found, time.perf_counter() - started)
    cli._write_json(args.output, document)
    for role in roles:
        print(table(document[role]))
    print(f"gaps written to {args.output}")
    return 0


def table(doc: dict[str, Any]) -> str:
    """The ranked places of one role as aligned text: rank, town, position, covers and the schools."""
    r = doc["recruit"]
    head = (
        f"{NOUNS[doc['role']]}: {len(doc['schools_without'])} schools without one; recruit capacity "
        f"{r['capacity']:g}, radius {r['max_travel_km']:g} km, {doc['ranking']} ranking"
    )
    if not doc["places"]:
        return head + "\n  no place where one recruit would cover another school"
    rows = [("rank", "town", "lat", "lon", "covers", "schools")]
    rows += [
        (
            str(p["rank"]),
            p["town"],
            f"{p['lat']:.3f}",
            f"{p['lon']:.3f}",
            str(p["covers"]),
            ", ".join(s["name"] for s in p["schools"]),
        )
        for p in doc["places"]
    ]
    widths = [max(len(row[k]) for row in rows) for k in range(5)]
    lines = [
        "  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True)) + "  " + row[5] for row in rows
    ]
    return "\n".join([head, *lines])
