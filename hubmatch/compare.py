"""``hubmatch compare PROBLEM.json --policy A.json [--policy B.json] [-o OUT.json]``: which policy.

Each policy file is a partial policy merged over the problem's own (``models.policies``): ``{"default_max_travel_km":
40}`` is "40 km instead of 30". With one ``--policy`` the problem's own policy is side A; with two, each file is
merged over the problem's policy and A is compared with B. Both sides are solved from the same records and printed
side by side (``matcher.compare``); ``-o`` writes the comparison as JSON. Exact figures: the command line is run
by whoever holds the file, advisers' homes and all.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from hubmatch.progress import ProgressBar
from models import Problem, ProblemError
from models.errors import Fault


def add_parser(sub: Any) -> None:
    from hubmatch.cli import SOLVERS

    c = sub.add_parser("compare", help="solve a problem under two policies and compare them side by side")
    c.add_argument("problem", type=Path)
    c.add_argument(
        "--policy",
        type=Path,
        action="append",
        required=True,
        metavar="POLICY.json",
        help="a (partial) policy merged over the problem's; give one (against the problem's own) or two",
    )
    c.add_argument("-o", "--output", type=Path, help="write the comparison as JSON")
    c.add_argument("--solver", choices=SOLVERS, default="auto")
    c.add_argument("--time-limit", type=float, help="seconds per solve (overrides policy.time_limit_s)")
    c.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hubmatch.cli import InputError, _read_json, _write_json

    if len(args.policy) > 2:
        raise InputError("give one --policy (compared with the problem's own) or two (compared with each other)")
    problem = _load(args.problem, _read_json)
    sides = [(f"{args.problem.name} as it is", problem)] if len(args.policy) == 1 else []
    sides += [(path.name, _with_policy(problem, path, _read_json(path))) for path in args.policy]

    from matcher import solve
    from matcher.compare import compare, table
    from matcher.progress import band

    solved = []
    with ProgressBar() as bar:
        for step, (label, side) in enumerate(sides):
            progress = band(bar.stage(f"[{step + 1}/2] {label}"), step / 2, (step + 1) / 2)
            solved.append((side, solve(side, solver=args.solver, time_limit_s=args.time_limit, progress=progress)))
    result = compare(solved[0], solved[1], (sides[0][0], sides[1][0]))
    result["rows"] = table(result)
    print(render(result))
    if args.output:
        _write_json(args.output, result)
        print(f"comparison written to {args.output}")
    return 0


def _load(path: Path, read: Any) -> Problem:
    from models import load_problem

    return load_problem(read(path))


def _with_policy(problem: Problem, path: Path, change: Any) -> Problem:
    """The problem with the policy file merged over its policy; a fault names the file and the field."""
    from models.policies import changed_policy

    try:
        return dataclasses.replace(problem, policy=changed_policy(problem.policy, change))
    except ProblemError as err:
        raise ProblemError([Fault(str(path), f.field, f.message) for f in err.faults]) from None


def _cell(column: int, text: str, width: int) -> str:
    return text.ljust(width) if column == 0 else text.rjust(width)


def render(result: dict[str, Any]) -> str:
    """The side-by-side table, then the schools that gain or lose a partner from A to B."""
    head = ("", result["a"]["label"], result["b"]["label"], "change")
    rows = [head] + [(r["label"], r["a"], r["b"], r["change"] or "") for r in result["rows"]]
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    lines = ["  ".join(_cell(k, cell, w) for k, (cell, w) in enumerate(zip(row, widths, strict=True))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for key, verb in (("gained", "gain"), ("lost", "lose")):
        listed = result[key]
        lines.append(f"\nSchools that {verb} a partner with {result['b']['label']}: {len(listed)}")
        lines += [
            f"  {x['name']} ({x['school']}): {'an adviser' if x['role'] == 'adviser' else 'a Cornerstone'}"
            for x in listed
        ]
    return "\n".join(lines)
