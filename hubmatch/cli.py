"""The ``hubmatch`` command: solve a problem file, run the demo round, write fixtures.

Exit codes: 0 solved (even with unmatched schools), 2 bad input (a message naming the record and field on stderr,
nothing written), 75 the database stayed locked by another process past ``HUBMATCH_LOCK_WAIT_S`` (try again), 1
anything unexpected.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import orjson

from hubmatch import __version__
from hubmatch.overlap import load_while_importing
from hubmatch.progress import ProgressBar
from models import Problem, ProblemError, Solution, dump_solution, load_previous, load_problem
from models.collector import collector_paused

# matcher.solvers.SOLVERS (a test keeps them equal): importing the solvers here would load OR-Tools and scipy
# before the input is read, which ``solve`` overlaps with validation instead.
SOLVERS = ("auto", "flow", "cpsat", "mip")
EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, worth trying again
BUSY = ("the database is busy (another process held a lock on it for too long); nothing was changed: try again in "
        "a moment")
CLI_ACTOR = "cli"  # the actor of the audit events of the command line (it runs with the database's own rights)
# The commands defined in modules of their own (a test keeps this equal to what each module adds), imported only
# when one of them runs or the full list is asked for: hubmatch.transfer alone loads pyproj (0.08 s, 0.3 s cold),
# which a solve would otherwise pay before reading its input.
LAZY_COMMANDS = {"compare": "hubmatch.compare", "recommend": "hubmatch.recommend", "import": "hubmatch.transfer",
                 "export": "hubmatch.transfer", "gaps": "hubmatch.gaps"}


class InputError(Exception):
    """A file that cannot be read as JSON: reported like a ProblemError, with exit code 2."""


def run() -> NoReturn:
    """The console entry point: ``main``, then an immediate exit once the output is flushed.

    Interpreter teardown (unloading scipy, OR-Tools and the rest) takes 0.12 s here whatever the command did, a
    sixteenth of a national round's two-second budget. Every file the commands write is closed before they return
    and nothing here registers exit handlers, so skipping that teardown loses nothing.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(_command_of(argv)).parse_args(argv)
    try:
        return args.run(args)
    except (ProblemError, InputError) as err:
        _report(err)
        return 2
    except Exception as err:
        if not _lock_refused(err):
            raise
        print(f"error: {BUSY}", file=sys.stderr)
        return EX_TEMPFAIL


def _lock_refused(err: Exception) -> bool:
    """Whether a database command gave up on a lock another process held (``models.store.lock_refused``); only a
    command that loaded SQLAlchemy can meet one, so a solve never imports it for this."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import OperationalError

    from models.store import lock_refused

    return isinstance(err, OperationalError) and lock_refused(err)


def _sessions() -> Any:
    """Sessions on the service's database, with its lock wait (``service.config.Settings``: the same variables)."""
    from models.store import make_engine, session_factory
    from service.config import Settings

    settings = Settings.from_env()
    return session_factory(make_engine(settings.database_url, settings.lock_wait_s))


def _command_of(argv: list[str]) -> str | None:
    """The command named in ``argv``: its first word not an option (the top level has no option taking a value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, except that for a command defined here the modules of the others
    (``LAZY_COMMANDS``) are not imported, and for one of theirs only its own module is. Without a command (help,
    version, a typo) all are there, so the help lists them and an unknown name is refused with the full list."""
    parser = argparse.ArgumentParser(prog="hubmatch", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"hubmatch {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("solve", help="match a problem file and write the solution file")
    p.add_argument("problem", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    _solve_options(p)
    p.add_argument("--previous", type=Path, help="an earlier solution: keep its pairings unless change pays")
    p.set_defaults(run=_solve)

    d = sub.add_parser("demo", help="run a full round on the bundled Lancashire hub (real schools)")
    d.add_argument("--hub", choices=("lancashire", "cumbria"), default="lancashire")
    d.add_argument("-o", "--output", type=Path, default=Path("out/demo-solution.json"))
    _solve_options(d)
    d.set_defaults(run=_demo)

    f = sub.add_parser("fixture", help="write a bundled or generated problem as JSON")
    f.add_argument("name", choices=("lancashire", "cumbria", "national", "gap"))
    f.add_argument("-o", "--output", type=Path, required=True)
    f.add_argument("--seed", type=int)
    size = f.add_argument_group("size of a generated national round (national only)")
    size.add_argument("--schools", type=_count, help="schools (default 5000; every state school: about 20000)")
    size.add_argument("--advisers", type=_count, help="advisers (default 5000)")
    size.add_argument("--employers", type=_count, help="Cornerstone Employers (default 300; 0: advisers only)")
    size.add_argument("--radius", type=float, help="default travel radius in km (default 30)")
    size.add_argument("--company-cap", type=_count, help="max_schools_per_company (default none)")
    f.set_defaults(run=_fixture)

    v = sub.add_parser("validate", help="check a problem file without solving it")
    v.add_argument("problem", type=Path)
    v.set_defaults(run=_validate)

    s = sub.add_parser("serve", help="run the API (HUBMATCH_DATABASE_URL, default ./hubmatch.sqlite; docs/queue.md)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--prod", action="store_true", help="serve with gunicorn (2 workers, threads)")
    s.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (with --prod)")
    s.add_argument("--solve-workers", type=int, default=None, metavar="N",
                   help="start a solve worker with N processes beside the server (default: 1 with the embedded "
                        "queue, none when HUBMATCH_BROKER_URL names a broker: run `hubmatch worker` there)")
    s.set_defaults(run=_serve)

    w = sub.add_parser("worker", help="solve jobs from the queue (HUBMATCH_BROKER_URL, HUBMATCH_DATABASE_URL)")
    w.add_argument("--concurrency", type=int, default=2, metavar="N", help="solves at once on this host (default 2)")
    w.set_defaults(run=_worker)

    tok = sub.add_parser("token", help="API tokens").add_subparsers(required=True, metavar="ACTION")
    tc = tok.add_parser("create", help="create a token and print it once")
    tc.add_argument("--role", required=True, choices=("admin", "hub_lead", "coordinator", "read_only"))
    tc.add_argument("--hub", help="the hub the token is scoped to (all but admin)")
    tc.add_argument("--name", help="who holds it (recorded with every decision)")
    tc.add_argument("--expires-in", type=int, metavar="DAYS", help="refuse it after this many days (default never)")
    tc.set_defaults(run=_token_create)
    tok.add_parser("list", help="list tokens (never their secrets)").set_defaults(run=_token_list)
    tr = tok.add_parser("revoke", help="revoke a token: refused by every server from its next request on")
    tr.add_argument("token", metavar="ID|NAME", help="the token's id, or its name if no other live token has it")
    tr.set_defaults(run=_token_revoke)

    dbp = sub.add_parser("db", help="database").add_subparsers(required=True, metavar="ACTION")
    dbp.add_parser("upgrade", help="apply the migrations to HUBMATCH_DATABASE_URL").set_defaults(run=_db_upgrade)
    hub = sub.add_parser("hub", help="hubs").add_subparsers(required=True, metavar="ACTION")
    hc = hub.add_parser("create", help="create a hub (optionally loading a problem file's records)")
    hc.add_argument("id")
    hc.add_argument("--name", required=True)
    hc.add_argument("--from-problem", type=Path, help="import the schools, advisers and employers of this file")
    hc.set_defaults(run=_hub_create)
    if command in sub.choices:
        return parser
    for name in dict.fromkeys(LAZY_COMMANDS.values()):
        if command not in LAZY_COMMANDS or LAZY_COMMANDS[command] == name:
            importlib.import_module(name).add_parser(sub)
    return parser


def _solve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", type=float, help="seconds (overrides policy.time_limit_s)")
    p.add_argument("--solver", choices=SOLVERS, default="auto")
    p.add_argument("--alternatives", type=int, default=3, help="next-best partners listed per pairing")


# one-shot commands (never serve): ~100k live records rescanned for nothing cost 10% of load and solve
@collector_paused()
def _solve(args: argparse.Namespace) -> int:
    with ProgressBar() as bar:
        problem, previous = load_while_importing(lambda: _load_inputs(args), ["matcher"], (ProblemError, InputError))
        from matcher import solve
        from matcher.progress import band

        solution = solve(problem, solver=args.solver, time_limit_s=args.time_limit, previous=previous,
                         alternatives=args.alternatives, progress=band(bar, 0.05, 0.95))
        bar(0.95, "writing the solution")
        _write_json(args.output, dump_solution(solution))
        bar(1.0, "written")
    print(summary(problem, solution))
    print(f"solution written to {args.output}")
    return 0


def _load_inputs(args: argparse.Namespace) -> tuple[Problem, Solution | None]:
    """The validated problem and, if given, the previous solution."""
    problem = load_problem(_read_json(args.problem))
    return problem, (load_previous(_read_json(args.previous)) if args.previous else None)


@collector_paused()
def _demo(args: argparse.Namespace) -> int:
    import fixtures
    from matcher import solve

    raw = fixtures.lancashire_problem() if args.hub == "lancashire" else fixtures.cumbria_problem()
    problem = load_problem(raw)
    solution = solve(problem, solver=args.solver, time_limit_s=args.time_limit, alternatives=args.alternatives)
    _write_json(args.output, dump_solution(solution))
    print(summary(problem, solution))
    print(explain_some(problem, solution))
    print(f"solution written to {args.output}")
    from hubmatch.demo_mail import write_messages

    print(write_messages(problem, solution, args.output.parent / "demo-mail"))
    return 0


def _count(text: str) -> int:
    """A whole number of at least zero, for the fixture's size options."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    return int(text)


def _fixture(args: argparse.Namespace) -> int:
    import fixtures

    builders: dict[str, Callable[..., dict[str, Any]]] = {
        "lancashire": fixtures.lancashire_problem,
        "cumbria": fixtures.cumbria_problem,
        "national": fixtures.national_problem,
        "gap": fixtures.gap_problem,
    }
    build = builders[args.name]
    sizes = {key: value for key, value in (("n_schools", args.schools), ("n_advisers", args.advisers),
                                           ("n_employers", args.employers), ("radius_km", args.radius),
                                           ("max_schools_per_company", args.company_cap)) if value is not None}
    if sizes and args.name != "national":
        print(f"hubmatch fixture: the size options apply to the national round, not {args.name}", file=sys.stderr)
        return 2
    raw = build(**sizes) if args.seed is None else build(seed=args.seed, **sizes)
    _write_json(args.output, raw)
    print(
        f"{args.name}: {len(raw['schools'])} schools, {len(raw['advisers'])} advisers, "
        f"{len(raw['employers'])} employers written to {args.output}"
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    problem = load_problem(_read_json(args.problem))
    print(
        f"valid: {len(problem.schools)} schools, {len(problem.advisers)} advisers, "
        f"{len(problem.employers)} Cornerstone Employers, {len(problem.pairs)} pair rules"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from models.store import migrate
    from service.config import Settings
    from service.worker import beside

    settings = Settings.from_env()
    migrate(settings.database_url)  # once, before any worker process starts
    solvers = args.solve_workers if args.solve_workers is not None else (1 if settings.embedded else 0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a stop ends the worker beside the server too
    with beside(solvers):
        if args.prod:
            from hubmatch.serve import gunicorn

            return gunicorn(args.host, args.port, args.workers)
        from api.app import create_app

        create_app({"MIGRATE": False}).run(host=args.host, port=args.port, threaded=True)
    return 0


def _worker(args: argparse.Namespace) -> int:
    from service.config import Settings
    from service.worker import run

    if not 1 <= args.concurrency <= 64:
        raise InputError("--concurrency must be a whole number from 1 to 64")
    return run(Settings.from_env(), args.concurrency)


def _token_create(args: argparse.Namespace) -> int:
    from api.auth import TokenError, issue_token, token_details
    from models.audit import Action, record_event
    from models.store import migrate, transaction

    if args.expires_in is not None and args.expires_in < 1:
        raise InputError("--expires-in: give a number of days, 1 or more")
    migrate()
    expires_at = _days_from_now(args.expires_in) if args.expires_in is not None else None
    try:
        with transaction(_sessions()) as session:
            name = args.name or f"{args.role}@{args.hub or 'all'}"
            row, token = issue_token(session, name, args.role, args.hub, expires_at)
            record_event(session, None, CLI_ACTOR, Action.TOKEN_CREATED, f"tokens/{row.id}", token_details(row))
    except TokenError as err:
        raise InputError(str(err)) from None
    print(token)
    return 0


def _token_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from models import tables as t
    from models.store import migrate, transaction

    migrate()
    with transaction(_sessions()) as session:
        rows = list(session.scalars(select(t.Token).order_by(t.Token.id)))
        lines = [(str(r.id), r.name, r.role, r.hub_id or "-", _when(r.created_at), _when(r.expires_at),
                  _when(r.revoked_at) if r.revoked else "no") for r in rows]
    header = ("ID", "NAME", "ROLE", "HUB", "CREATED", "EXPIRES", "REVOKED")
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    from api.auth import TokenError, revoke_token, token_details
    from models.audit import Action, record_event
    from models.store import migrate, transaction

    migrate()
    try:
        with transaction(_sessions()) as session:
            row = _find_token(session, args.token)
            revoke_token(row)
            record_event(session, None, CLI_ACTOR, Action.TOKEN_REVOKED, f"tokens/{row.id}", token_details(row))
    except TokenError as err:
        raise InputError(str(err)) from None
    print(f"token {row.id} ({row.name}) revoked")
    return 0


def _find_token(session: Any, key: str) -> Any:
    """The token with this id, else the one live token with this name; InputError naming why there is none."""
    from sqlalchemy import select

    from models import tables as t

    if key.isdigit() and (row := session.get(t.Token, int(key))) is not None:
        return row
    named = list(session.scalars(select(t.Token).where(t.Token.name == key).order_by(t.Token.id)))
    live = [r for r in named if not r.revoked]
    if len(live) == 1:
        return live[0]
    if len(live) > 1:
        ids = ", ".join(str(r.id) for r in live)
        raise InputError(f"{len(live)} live tokens are named {key!r} (ids {ids}); give the id")
    if named:
        raise InputError(f"token {key!r} is already revoked")
    raise InputError(f"no token with id or name {key!r}")


def _days_from_now(days: int) -> Any:
    from datetime import timedelta

    from models.tables import now

    return now() + timedelta(days=days)


def _when(at: Any) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else "-"


def _db_upgrade(args: argparse.Namespace) -> int:
    from models.store import database_url, migrate

    migrate()
    print(f"database at {database_url().split('@')[-1]} is up to date")
    return 0


def _hub_create(args: argparse.Namespace) -> int:
    from models.repository import create_hub
    from models.store import migrate, transaction

    migrate()
    problem = load_problem(_read_json(args.from_problem)) if args.from_problem else None
    try:
        with transaction(_sessions()) as session:
            counts = create_hub(session, args.id, args.name, problem)
    except ValueError as err:
        raise InputError(str(err)) from None
    print(f"hub {args.id}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0


def summary(problem: Problem, solution: Solution) -> str:
    """A few lines a Hub Lead reads first: matched, unmatched and why, travel, changes, proof."""
    st: dict[str, Any] = solution.stats
    lines = [
        f"{problem.hub.name}: {len(problem.schools)} schools, {len(problem.advisers)} advisers, "
        f"{len(problem.employers)} Cornerstone Employers",
        f"status {solution.status}: objective {solution.objective:.3f}, bound {solution.bound:.3f}, "
        f"gap {solution.gap:.2%}; solved in {st['solve_seconds']:.3f} s (build {st['build_seconds']:.3f} s)",
    ]
    for role, label in (("adviser", "Enterprise Advisers"), ("cornerstone", "Cornerstone Employers")):
        if role in st["matched"]:
            km = st["mean_travel_km"][role]
            travel = f", mean travel {km:.1f} km" if km is not None else ""
            lines.append(
                f"{label}: {st['matched'][role]}/{len(problem.schools)} schools matched{travel} "
                f"[{st['solver'][role]}, {st['role_status'][role]}]"
            )
    reasons = Counter((u.role, u.reason) for u in solution.unmatched)
    if reasons:
        lines.append("unmatched: " + ", ".join(f"{n} {role} {reason}" for (role, reason), n in sorted(reasons.items())))
    from hubmatch.engaged import volunteers_line

    lines += filter(None, [volunteers_line(solution)])
    lines.append(f"pairings: {st['kept_pairings']} kept, {st['changed_pairings']} changed, {st['new_pairings']} new")
    return "\n".join(lines)


def explain_some(problem: Problem, solution: Solution, n: int = 3) -> str:
    """Why, for a few pairings and a few unmatched schools: what a coordinator sees on review."""
    names = {s.id: s.name for s in problem.schools}
    lines = ["", "why, for a few of them:"]
    for a in solution.assignments[:n]:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in a.components.items())
        alt = a.alternatives[0] if a.alternatives else None
        nxt = f"; next best {alt['partner']} costs {alt['cost_delta']:+.3f}" if alt else ""
        lines.append(
            f"  {names[a.school]} <- {a.role} {a.partner}: {a.distance_km:.1f} km, cost {a.cost:.3f} ({parts}){nxt}"
        )
    for u in solution.unmatched[:n]:
        lines.append(f"  {names[u.school]}: no {u.role} ({u.reason}): {u.detail}")
    return "\n".join(lines)


def _read_json(path: Path) -> Any:
    """The parsed document: orjson first (a national problem parses 3x faster), the standard library for what
    orjson refuses, so that bad bytes get its line-and-column message and NaN literals reach the validator, which
    names the field."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None


def _write_json(path: Path, data: Any) -> None:
    """Write through a temporary file so that a failed run never leaves half a solution behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(data) + b"\n")
    tmp.replace(path)


def _report(err: Exception) -> None:
    if isinstance(err, ProblemError):
        print(f"error: invalid problem: {len(err.faults)} fault(s)", file=sys.stderr)
        for fault in err.faults:
            print(f"  {fault}", file=sys.stderr)
    else:
        print(f"error: {err}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
