"""``hubmatch import`` and ``hubmatch export``: spreadsheets and the DfE register in, workbooks out.

File to file, ``import`` reads a CSV or an Excel workbook (a DfE register export with ``--dfe``) and writes a
problem JSON, validated exactly as the service validates an upload; ``export`` turns a solution JSON (with its
problem, for names) into a printable workbook. With ``--url`` both talk to a running service instead, with the
token of ``--token`` or ``HUBMATCH_TOKEN``: ``import`` uploads the file, ``export`` downloads a round's or a hub's
pairings. Exit codes as the rest of the command line: 0 done, 2 bad input (every fault on stderr, nothing
written), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.sources import SourceRow

COLLECTIONS = ("schools", "advisers", "employers")
MIMETYPES = {".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
EXPORT_FORMATS = {".xlsx": "xlsx", ".csv": "csv", ".json": "json"}
# The share of an import's bar each part takes, as measured on a 130,000-row CSV (reading and checking the rows
# nine tenths of it, the checks across records nearly all the rest).
READ, CHECKED = 0.9, 0.99


class TransferError(Exception):
    """A file or a service reply that stops the command: reported on stderr, exit code 2."""


def add_parser(sub: Any) -> None:
    """Register ``import`` and ``export`` on the command line's subparsers."""
    imp = sub.add_parser("import", help="a CSV, Excel workbook or DfE register export -> problem JSON (or the service)")
    imp.add_argument("source", type=Path, help=".csv or .xlsx")
    imp.add_argument("--collection", choices=COLLECTIONS,
                     help="what the file holds (default: schools; a workbook: every sheet named after one)")
    imp.add_argument("--dfe", action="store_true", help="the DfE register's columns (schools)")
    imp.add_argument("--primary", choices=("refuse", "admit"), default="refuse",
                     help="DfE register: admit primary schools (refused by default)")
    imp.add_argument("-o", "--output", type=Path, help="the problem JSON to write (file to file)")
    imp.add_argument("--base", type=Path, help="start from this problem JSON (its hub, policy and other records)")
    imp.add_argument("--hub-id", default="hub", help="the new problem's hub id (without --base)")
    imp.add_argument("--hub-name", default="Careers Hub", help="the new problem's hub name (without --base)")
    _service_options(imp)
    imp.add_argument("--hub", help="the hub to import into (with --url)")
    imp.add_argument("--wave", help="tag imported schools with this wave (with --url)")
    imp.set_defaults(run=_guarded(_import))

    exp = sub.add_parser("export", help="a solution JSON -> Excel workbook (or a round or hub from the service)")
    exp.add_argument("solution", type=Path, nargs="?", help="the solution JSON (file to file)")
    exp.add_argument("--problem", type=Path, help="its problem JSON, for school and partner names")
    exp.add_argument("-o", "--output", type=Path, required=True, help=".xlsx (or .csv/.json with --url)")
    _service_options(exp)
    exp.add_argument("--round", type=int, help="the round to export (with --url)")
    exp.add_argument("--hub", help="the hub whose published pairings to export (with --url)")
    exp.set_defaults(run=_guarded(_export))


def _service_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the service's base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--token", help="API token (default: HUBMATCH_TOKEN)")


def _guarded(command: Any) -> Any:
    """The command with its expected failures reported as faults on stderr and exit code 2."""
    from models.intake import FileFaults
    from models.sources import UnreadableFile

    def run(args: argparse.Namespace) -> int:
        try:
            return int(command(args))
        except FileFaults as err:
            print(f"error: {err}", file=sys.stderr)
            for fault in err.faults:
                print(f"  {fault}", file=sys.stderr)
            return 2
        except (UnreadableFile, TransferError, OSError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2

    return run


# ---------------------------------------------------------------------------------------------------- import


def _import(args: argparse.Namespace) -> int:
    if args.source.suffix.lower() not in MIMETYPES:
        raise TransferError(f"{args.source}: give a .csv or .xlsx file")
    if args.dfe and args.collection not in (None, "schools"):
        raise TransferError("--dfe: the DfE register holds schools only")
    if args.url:
        return _upload(args)
    if args.output is None:
        raise TransferError("give -o/--output (a problem JSON), or --url to import into the service")
    return _import_to_file(args)


def _import_to_file(args: argparse.Namespace) -> int:
    from hubmatch.progress import ProgressBar

    collections = _collections(args)
    with ProgressBar() as bar:
        valid, notes = _read_and_write(args, collections, bar)
    for kind in ("skipped", "flagged"):
        for note in notes[kind]:
            print(f"{kind}: {note.place} (URN {note.urn}): {note.reason}", file=sys.stderr)
    counts = ", ".join(f"{len(getattr(valid, c))} {c}" for c in COLLECTIONS if c in collections)
    print(f"imported {counts} from {args.source}; problem written to {args.output}")
    return 0


def _read_and_write(args: argparse.Namespace, collections: tuple[str, ...], bar: Callable[[float, str], None]
                    ) -> tuple[Any, dict[str, list]]:
    """Read the collections of the file into the problem, check it whole and write it: the valid Problem and the
    register's notes."""
    import orjson

    from models import ProblemError, load_problem

    problem = _base(args)
    notes: dict[str, list] = {"skipped": [], "flagged": []}
    for k, collection in enumerate(collections):
        with args.source.open("rb") as stream:
            problem[collection] = list(_records(stream, args, collection, notes, _part(bar, k, len(collections))))
    bar(READ, "checking the records together")
    try:
        valid = load_problem(problem)  # the checks across records: ids unique across collections, references
    except ProblemError as err:
        raise TransferError(f"the imported records do not make a valid problem: {err}") from None
    bar(CHECKED, "writing the problem")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(problem, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))
    bar(1.0, "written")
    return valid, notes


def _part(bar: Callable[[float, str], None], k: int, n: int) -> Callable[[float, str], None]:
    """The ``k``-th of ``n`` equal parts of the bar's share for reading (a workbook's sheets, one by one): what
    ``matcher.progress.band`` does, without importing the solver package (OR-Tools) into an import."""
    return lambda fraction, stage: bar(READ * (k + fraction) / n, stage)


def _base(args: argparse.Namespace) -> dict[str, Any]:
    if args.base is None:
        return {"hub": {"id": args.hub_id, "name": args.hub_name}, "schools": []}
    try:
        base = json.loads(args.base.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TransferError(f"{args.base}: not valid JSON ({err})") from None
    if not isinstance(base, dict):
        raise TransferError(f"{args.base}: a problem is a JSON object")
    return base


def _collections(args: argparse.Namespace) -> tuple[str, ...]:
    """The collections to read: the one asked for; for a workbook without one, every sheet named after one."""
    if args.collection or args.dfe:
        return (args.collection or "schools",)
    if args.source.suffix.lower() != ".xlsx":
        return ("schools",)
    from openpyxl import load_workbook

    book = load_workbook(args.source, read_only=True)
    names = {n.lower() for n in book.sheetnames}
    book.close()
    found = tuple(c for c in COLLECTIONS if c in names)
    return found or ("schools",)


def _records(stream: IO[bytes], args: argparse.Namespace, collection: str, notes: dict[str, list],
             progress: Callable[[float, str], None]) -> Iterator[dict[str, Any]]:
    """The file's records in the problem format, validated a chunk at a time, telling ``progress`` how far
    through the file each chunk reaches."""
    from models.dfe import FIELD_COLUMNS, Notes
    from models.intake import problem_rows, register_rows, validated
    from models.repository import FIELDS
    from models.sources import read_csv, read_xlsx

    position = _Position(stream, args.source.stat().st_size)
    if args.source.suffix.lower() == ".xlsx":
        rows = position.follow(read_xlsx(stream, collection))
    else:
        rows = position.follow(read_csv(stream, expected=FIELDS[collection]))
    if args.dfe:
        register = Notes.empty()
        chunks = validated(collection, register_rows(rows, register, admit_primary=args.primary == "admit"),
                           columns=FIELD_COLUMNS)
    else:
        chunks = validated(collection, problem_rows(collection, rows))
    for chunk in chunks:
        progress(position.fraction(), f"{collection}: reading and checking rows")
        yield from (_problem_record(collection, r) for r in chunk)
    if args.dfe:
        notes["skipped"] += register.skipped
        notes["flagged"] += register.flagged


class _Position:
    """How far through its file a reader is: the last row read against the last row its worksheet declares, else
    the bytes read against the file's size (a CSV streams in order; a workbook without a dimension, roughly)."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.size = stream, max(size, 1)
        self.row: SourceRow | None = None

    def follow(self, rows: Iterable[SourceRow]) -> Iterator[SourceRow]:
        for row in rows:
            self.row = row
            yield row

    def fraction(self) -> float:
        if self.row is not None and self.row.sheet.rows:
            return min(self.row.line / self.row.sheet.rows, 1.0)
        return min(self.stream.tell() / self.size, 1.0)


def _problem_record(collection: str, record: Any) -> dict[str, Any]:
    """A validated record back in the problem format, empty optional fields left out."""
    from models.repository import FIELDS, columns

    values = columns(record)
    out = {k: values[k] for k in FIELDS[collection] if k in values}
    return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}


def _upload(args: argparse.Namespace) -> int:
    if not args.hub:
        raise TransferError("--hub: the hub to import into")
    collection = args.collection or "schools"
    query = {"format": "dfe" if args.dfe else "hubmatch", "primary": args.primary}
    if args.wave:
        query["wave"] = args.wave
    size = args.source.stat().st_size
    with args.source.open("rb") as body:
        reply = _call(args, "POST", f"/hubs/{args.hub}/{collection}/import", query, body,
                      {"Content-Type": MIMETYPES[args.source.suffix.lower()], "Content-Length": str(size)})
    result = json.loads(reply)
    for kind in ("skipped", "flagged"):
        for note in result.get(kind, []):
            print(f"{kind}: {note['place']} (URN {note['urn']}): {note['reason']}", file=sys.stderr)
    print(f"{collection}: {result['created']} created, {result['updated']} updated in hub {args.hub}")
    return 0


# ---------------------------------------------------------------------------------------------------- export


def _export(args: argparse.Namespace) -> int:
    suffix = args.output.suffix.lower()
    if args.url:
        if (args.round is None) == (args.hub is None):
            raise TransferError("with --url, give --round ID or --hub HUB (one of them)")
        if suffix not in EXPORT_FORMATS:
            raise TransferError(f"{args.output}: write .xlsx, .csv or .json")
        path = f"/rounds/{args.round}/export" if args.round is not None else f"/hubs/{args.hub}/pairings"
        data = _call(args, "GET", path, {"format": EXPORT_FORMATS[suffix]})
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_bytes(data)
        print(f"written to {args.output} ({len(data):,} bytes)")
        return 0
    if args.solution is None:
        raise TransferError("give the solution JSON to export, or --url with --round or --hub")
    if suffix != ".xlsx":
        raise TransferError(f"{args.output}: a solution is exported as .xlsx")
    from models.workbook import write_workbook

    solution = _read_json(args.solution)
    problem = _read_json(args.problem) if args.problem else {}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_workbook(solution_sheets(solution, problem), str(args.output))
    print(f"workbook written to {args.output}")
    return 0


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise TransferError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise TransferError(f"{path}: expected a JSON object")
    return data


ROLE_TITLES = {"adviser": "Enterprise Adviser", "cornerstone": "Cornerstone Employer"}


def solution_sheets(solution: dict[str, Any], problem: dict[str, Any]) -> Iterable[Any]:
    """A solution's workbook: "Pairings" (one row per pairing) and "Unmatched" (each open place and why); the
    "Idle volunteers" sheet joins as one more function once solutions report idle volunteers."""
    from models.workbook import Column, SheetSpec

    names = {r.get("id"): r.get("name") for c in COLLECTIONS for r in problem.get(c, []) if isinstance(r, dict)}
    school = (Column("school", "School URN / id", 14), Column("school_name", "School", 40))
    pairings = (
        {**a, "school_name": names.get(a.get("school")), "role": ROLE_TITLES.get(a.get("role"), a.get("role")),
         "partner_name": names.get(a.get("partner"))}
        for a in sorted(solution.get("assignments", []), key=lambda a: (a.get("school"), a.get("role")))
    )
    unmatched = (
        {**u, "school_name": names.get(u.get("school")), "role": ROLE_TITLES.get(u.get("role"), u.get("role"))}
        for u in solution.get("unmatched", [])
    )
    yield SheetSpec("Pairings", (*school, Column("role", "Role", 22), Column("partner", "Partner id", 12),
                                 Column("partner_name", "Partner", 30), Column("distance_km", "Distance (km)", 13),
                                 Column("cost", "Score", 9), Column("locked", "Locked", 8)), pairings)
    yield SheetSpec("Unmatched", (*school, Column("role", "Place for", 22), Column("reason", "Reason", 18),
                                  Column("detail", "What would fill it", 70)), unmatched)


# ---------------------------------------------------------------------------------------------------- service


def _call(args: argparse.Namespace, method: str, path: str, query: dict[str, str], body: Any = None,
          headers: dict[str, str] | None = None) -> bytes:
    """One request to the service; its JSON error (status, message, every detail) as a TransferError."""
    from urllib.parse import urlencode

    token = args.token or os.environ.get("HUBMATCH_TOKEN")
    if not token:
        raise TransferError("give --token or set HUBMATCH_TOKEN")
    url = f"{args.url.rstrip('/')}{path}?{urlencode(query)}"
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=600) as reply:  # the user's own service URL
            return bytes(reply.read())
    except urllib.error.HTTPError as err:
        raise TransferError(_service_error(err)) from None
    except urllib.error.URLError as err:
        raise TransferError(f"cannot reach {args.url}: {err.reason}") from None


def _service_error(err: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(err.read())["error"]
    except (ValueError, KeyError, TypeError):
        return f"the service answered {err.code} {err.reason}"
    lines = [f"the service answered {err.code}: {error['message']}"]
    details = error.get("details")
    if isinstance(details, list):
        lines += [f"  {d.get('record')}: {d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict)]
    return "\n".join(lines)
