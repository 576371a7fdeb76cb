"""``hubmatch recommend``: where a newcomer fits in a solved round, without re-solving it.

    hubmatch recommend PROBLEM.json --solution SOLUTION.json --adviser NEW.json [--top K] [-o OUT.json]

(``--school NEW.json`` or ``--employer NEW.json`` for a school or a Cornerstone Employer arriving). Prints the
best K placements per role with the chain of changes each needs; ``-o`` writes them as JSON
(docs/problem-format.md, "Newcomers"). Bad input exits with code 2 naming the record and field.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from models import Problem, ProblemError, Solution, load_previous, load_problem
from models.newcomers import load_newcomer

MAX_TOP = 50


def add_parser(sub: Any) -> None:
    """Register the command on the ``hubmatch`` subcommands."""
    p = sub.add_parser("recommend", help="the best placements for a newcomer adviser, employer or school mid-term")
    p.add_argument("problem", type=Path, help="the round's problem file")
    p.add_argument("--solution", type=Path, required=True, help="the round's solution (its current pairings)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--adviser", type=Path, metavar="NEW.json", help="a new Enterprise Adviser's record")
    who.add_argument("--employer", type=Path, metavar="NEW.json", help="a new Cornerstone Employer's record")
    who.add_argument("--school", type=Path, metavar="NEW.json", help="a new school's record")
    p.add_argument("--top", type=int, default=3, help=f"recommendations per role, 1 to {MAX_TOP} (default 3)")
    p.add_argument("-o", "--output", type=Path, help="write the recommendations as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hubmatch.cli import InputError, _read_json, _write_json
    from hubmatch.overlap import load_while_importing

    if not 1 <= args.top <= MAX_TOP:
        raise InputError(f"--top must be a whole number from 1 to {MAX_TOP}")
    kind = "adviser" if args.adviser else "employer" if args.employer else "school"
    path = args.adviser or args.employer or args.school

    def load() -> tuple[Problem, Solution, Any]:
        problem = load_problem(_read_json(args.problem))
        return problem, load_previous(_read_json(args.solution)), load_newcomer(kind, _read_json(path), problem)

    problem, solution, newcomer = load_while_importing(load, ["matcher.recommend"], (ProblemError, InputError))
    from matcher.recommend import as_dict, recommend

    found = recommend(problem, solution, newcomer, args.top)
    print(report(kind, newcomer, as_dict(found)))
    if args.output:
        _write_json(
            args.output, {"newcomer": {"kind": kind, "id": newcomer.id}, "top": args.top, "roles": as_dict(found)}
        )
        print(f"recommendations written to {args.output}")
    return 0


def report(kind: str, newcomer: Any, roles: list[dict[str, Any]]) -> str:
    """The recommendations as a Hub Lead reads them: per role, rank, what changes, and the chain."""
    name = getattr(newcomer, "name", None) or newcomer.id
    lines = [f"newcomer {kind} {newcomer.id}" + (f" ({name})" if name != newcomer.id else "")]
    for role in roles:
        how = (
            "augmenting paths from the current pairings, no re-solve"
            if role["method"] == "augmenting paths"
            else f"a re-solve of the role ({role['reason']})"
        )
        lines.append(f"{role['role']}s: {len(role['recommendations'])} recommendation(s), by {how}")
        for r in role["recommendations"]:
            lines.append(f"  {r['rank']}. {_gain(r)}")
            lines.append(f"     {r['chain']}")
    return "\n".join(lines)


def _gain(r: dict[str, Any]) -> str:
    covered, filled = r["schools_covered"], r["slots_filled"]
    parts = [f"{covered:+d} school(s) covered"] if covered else []
    parts += [f"{filled:+d} slot(s) filled"] if filled != covered else []
    parts += [f"need {r['need'] / 10:+.1f}"] if r["need"] else []
    parts.append(f"cost change {r['cost_change']:+.3f}")
    return ", ".join(parts)
