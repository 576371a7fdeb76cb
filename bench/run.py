"""Benchmark of hubmatch against its performance targets, with baselines measured in the same run.

    python bench/run.py [--quick] [--repeats N] [--profile]
        [--only hubs,national,lsa,gap,queue,scale,compare,recommend,engaged,mail,page,imports,gaps]

Prints aligned plain-text tables (medians over repeats; PASS/MISS beside each target, never an assertion) and writes
bench/results.json. The machine is shared and noisy, so ratios are only taken between numbers of the same run.
Full run: about 15 minutes; --quick: about 3 (national round once, smaller baselines, two GAP seeds, 20 s limits).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import compare
import engaged
import gap
import gaps
import hubs
import imports
import lsa
import mail
import national
import page
import queueing
import recommend
import scale
from common import BENCH, Config, Table, machine

SECTIONS = ("hubs", "national", "lsa", "gap", "queue", "scale", "compare", "recommend", "engaged", "mail", "page",
            "imports", "gaps")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cfg = Config.make(args.quick, args.repeats, args.profile)
    only = SECTIONS if args.only is None else tuple(s.strip() for s in args.only.split(","))
    unknown = set(only) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    started = time.perf_counter()
    report: dict[str, Any] = {"date": dt.datetime.now().isoformat(timespec="seconds"), "command": _command(argv),
                              "config": cfg.__dict__, "machine": machine(), "tables": [], "raw": {}}
    _header(report)
    with tempfile.TemporaryDirectory(prefix="hubmatch-bench-") as tmp:
        for section in only:
            _SECTION[section](cfg, Path(tmp), report)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(f"benchmark wall time: {report['wall_s']:.0f} s")
    out = BENCH / "results.json"
    out.write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"results written to {out.relative_to(BENCH.parent)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 1 repeat, shorter limits (~3 min)")
    parser.add_argument("--repeats", type=int, help="repeats per timing (default 3, or 1 with --quick)")
    parser.add_argument("--only", help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    parser.add_argument("--profile", action="store_true", help="profile the national round even when it meets 2 s")
    return parser


def _command(argv: list[str] | None) -> str:
    return "python bench/run.py " + " ".join(sys.argv[1:] if argv is None else argv)


def _header(report: dict[str, Any]) -> None:
    m = report["machine"]
    print(f"hubmatch benchmark, {report['date']}, commit {m['commit']}")
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    print(f"machine: {m['nproc']} cores, {m['cpu']}, {m['memory_gb']} GB; Python {m['python']}, OR-Tools "
          f"{m['ortools']}, scipy {m['scipy']}; load average at start {load}")
    print(f"command: {report['command']}\n", flush=True)


def _show(report: dict[str, Any], *tables: Table) -> None:
    for table in tables:
        print(table.render() + "\n", flush=True)
        report["tables"].append(table.as_json())


def _hubs(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
    _show(report, hubs.run(cfg))


def _national(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
    files = national.write_problems(cfg, tmp)
    e2e_table, e2e = national.run_e2e(cfg, files, tmp)
    _show(report, e2e_table)
    _show(report, national.run_phases(cfg, files, tmp, e2e))
    plain = next(iter(e2e))
    if cfg.profile or e2e[plain]["wall_s"] >= national.E2E_TARGET_S:
        _show(report, national.run_profile(files[plain], tmp))
    table, baselines = national.run_baselines(cfg, files)
    _show(report, table)
    report["raw"]["national"] = {"e2e": e2e, "baselines": baselines}


def _gap(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
    detail, summary, runs = gap.run(cfg)
    _show(report, detail, summary)
    report["raw"]["gap"] = [{"seed": r.seed, "solver": r.solver, "seconds": r.seconds, "status": r.result.status,
                             "coverage": r.result.coverage, "cost_units": r.result.cost_units,
                             "bound_units": r.result.bound_units} for r in runs]


def _queue(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
    burst, latency, raw = queueing.run(cfg)
    _show(report, burst, latency)
    report["raw"]["queue"] = raw


def _compare(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
    _show(report, compare.run(cfg))


# Sections whose module's ``run`` returns one table and the raw figures behind it (``with_tmp``: it also takes the
# run's temporary folder).
_TABLE_AND_RAW: dict[str, tuple[Callable[..., tuple[Table, Any]], bool]] = {
    "lsa": (lsa.run, False), "scale": (scale.run, True), "recommend": (recommend.run, False),
    "engaged": (engaged.run, False), "mail": (mail.run, False), "page": (page.run, False),
    "imports": (imports.run, True), "gaps": (gaps.run, False),
}


def _table_and_raw(name: str) -> Callable[[Config, Path, dict[str, Any]], None]:
    run, with_tmp = _TABLE_AND_RAW[name]

    def section(cfg: Config, tmp: Path, report: dict[str, Any]) -> None:
        table, raw = run(cfg, tmp) if with_tmp else run(cfg)
        _show(report, table)
        report["raw"][name] = raw

    return section


_SECTION = {"hubs": _hubs, "national": _national, "gap": _gap, "queue": _queue, "compare": _compare,
            **{name: _table_and_raw(name) for name in _TABLE_AND_RAW}}
assert set(_SECTION) == set(SECTIONS), "every section runs, and only those"


if __name__ == "__main__":
    sys.exit(main())
