"""Load test of the production server: reads and decisions under concurrent users, and a hub solve under load.

``python bench/load.py [--sqlite] [--duration 20] [--users 32] [--workers 2]`` sets up a database of its own (a
fresh PostgreSQL database ``hubmatch_load_<pid>``, dropped at the end, or a SQLite file in a temporary folder), loads
the Lancashire hub and its tokens with the command line, starts ``hubmatch serve --prod`` on a free loopback port,
solves a round through the API, then runs each scenario for a fixed time with a fixed number of users:

- reads: ``GET /rounds/{id}/proposals?per_page=50&page=k`` and ``GET /proposals/{id}``, half and half;
- decisions: ``GET /proposals/{id}`` for its ETag, then ``POST /proposals/{id}/decision`` with ``If-Match``
  (approve and lock in turn); 409 and 412 are the API refusing a stale or racing decision, counted apart, and
  every accepted decision must appear exactly once in the round's audit log;
- a hub solve of a second round (``POST /rounds/{id}/solve?wait=60``), timed with no load and under read load.

It prints a table (requests, requests per second, 50/95/99th percentile latency in ms, errors, target, PASS/MISS)
and writes the same figures to ``bench/load-results.json``. Everything is on 127.0.0.1, every step has a time
limit, and the server (a process group of its own, with its solve workers) is stopped at the end, even on errors.

Why a load generator of its own rather than locust or wrk: wrk cannot do the decision scenario (a GET whose ETag
feeds the next POST) without Lua, and is not on the machine; locust would be a new dependency for the test, and its
gevent client plus its percentile buckets (rounded to 2 significant figures) cost CPU on a two-core machine where
the client competes with the server. Here each user is a thread holding one keep-alive ``http.client``
connection, users are spread over a few forked processes so that the client's GIL does not inflate the measured
latencies, and every latency is kept exactly. The client's own CPU time is reported, so that the share of the
machine the generator took is known.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "load-results.json"
HOST = "127.0.0.1"  # loopback only: nothing here ever listens on or connects to another address
PG = {"host": HOST, "port": 5432, "user": "postgres"}
HUB = "lancashire"
PER_PAGE = 50
READ_TARGET_RPS = 500.0
READ_TARGET_P99_MS = 100.0
REQUEST_TIMEOUT_S = 30.0  # one request; a server that stops answering shows up as errors, not as a hang
SOLVE_TIMEOUT_S = 180.0  # one solve, from POST to the job's end
START_TIMEOUT_S = 60.0  # the server answering /health
CLI_TIMEOUT_S = 300.0  # one command-line step (fixture, hub create, token create)
MAX_LOADED_S = 600.0  # the read load around the loaded solves stops by itself after this, whatever happens


@dataclass(frozen=True)
class Options:
    """What to run: the backend, the server's shape and the size of each scenario."""

    sqlite: bool = False
    duration_s: float = 20.0
    users: int = 32
    processes: int = 4
    workers: int = 2
    threads: int | None = None  # None: ``hubmatch serve --prod`` (4 threads); else gunicorn started directly
    solves: int = 3
    output: Path | None = RESULTS
    quiet: bool = False
    seed: int = 1


@dataclass
class Server:
    """A running server: its base address, tokens, the solved round and its proposals, the second round."""

    port: int
    pid: int  # the gunicorn master (its process tree is the server's CPU)
    db_name: str | None  # the PostgreSQL database (its backends are the database's CPU); None for SQLite
    lead: str
    coord: str
    round_id: int = 0
    round2_id: int = 0
    proposal_ids: list[int] = field(default_factory=list)
    pages: int = 1


# --------------------------------------------------------------------------------------------------- HTTP client


class Client:
    """One keep-alive connection to the server, reconnecting after a transport error (counted as status 0)."""

    def __init__(self, port: int, token: str, timeout_s: float = REQUEST_TIMEOUT_S):
        self.port, self.timeout_s = port, timeout_s
        self.headers = {"Authorization": f"Bearer {token}", "Connection": "keep-alive"}
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, http.client.HTTPResponse | None, float]:
        """Status, body, response (for headers) and latency in ms; status 0 when the connection failed."""
        hdrs = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        start = time.perf_counter()
        try:
            self.conn.request(method, path, payload, hdrs)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as err:
            self.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout_s)
            return 0, repr(err).encode(), None, (time.perf_counter() - start) * 1000.0
        if resp.getheader("Connection", "").lower() == "close":
            self.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout_s)
        return resp.status, data, resp, (time.perf_counter() - start) * 1000.0

    def json(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201)) -> Any:
        """A set-up call: its JSON body, or an error naming the call and the server's answer."""
        status, data, _, _ = self.request(method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path} answered {status}: {data[:500]!r}")
        return json.loads(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


@dataclass
class Tally:
    """What one client process measured: latencies and statuses by request kind, accepted decisions, CPU time."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)
    decided: list[tuple[int, str]] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)  # a few bodies of 5xx answers, for the report
    cpu_s: float = 0.0

    def add(self, kind: str, status: int, latency_ms: float, data: bytes) -> None:
        self.latencies.setdefault(kind, []).append(latency_ms)
        self.statuses.setdefault(kind, Counter())[status] += 1
        if (status == 0 or status >= 500) and len(self.samples) < 5:
            self.samples.append(f"{kind} {status}: {data[:300]!r}")

    def merge(self, other: Tally) -> None:
        for kind, values in other.latencies.items():
            self.latencies.setdefault(kind, []).extend(values)
        for kind, counts in other.statuses.items():
            self.statuses.setdefault(kind, Counter()).update(counts)
        self.decided.extend(other.decided)
        self.samples.extend(other.samples[: max(0, 10 - len(self.samples))])
        self.cpu_s += other.cpu_s


@dataclass(frozen=True)
class LoadSpec:
    """One scenario's load, as handed to each client process (plain data: it crosses a fork)."""

    scenario: str  # "reads" or "decisions"
    port: int
    token: str
    round_id: int
    proposal_ids: tuple[int, ...]
    pages: int
    users: int
    start_at: float  # time.time() at which every user starts, after its connection is warm
    end_at: float  # time.time() after which no user starts a request
    seed: int


def _user(spec: LoadSpec, index: int, tally: Tally, lock: threading.Lock, stop: Any) -> None:
    """One simulated user: a loop of requests on its own connection until the end time (or the stop event)."""
    rng = random.Random(spec.seed * 1000 + index)
    client = Client(spec.port, spec.token)
    mine = Tally()
    try:
        client.request("GET", f"/proposals/{spec.proposal_ids[0]}")  # warm: the connection, not the figures
        time.sleep(max(0.0, spec.start_at - time.time()))
        turn = index  # approve and lock alternate per user; users start on different actions
        while time.time() < spec.end_at and not stop.is_set():
            pid = rng.choice(spec.proposal_ids)
            if spec.scenario == "reads":
                if rng.random() < 0.5:
                    page = rng.randint(1, spec.pages)
                    status, data, _, ms = client.request(
                        "GET", f"/rounds/{spec.round_id}/proposals?per_page={PER_PAGE}&page={page}"
                    )
                    mine.add("list", status, ms, data)
                else:
                    status, data, _, ms = client.request("GET", f"/proposals/{pid}")
                    mine.add("item", status, ms, data)
                continue
            status, data, resp, ms = client.request("GET", f"/proposals/{pid}")
            mine.add("etag", status, ms, data)
            if status != 200 or resp is None:
                continue
            action = ("approve", "lock")[turn % 2]
            turn += 1
            headers = {"If-Match": resp.getheader("ETag", "")}
            status, data, _, ms = client.request(
                "POST", f"/proposals/{pid}/decision", {"action": action}, headers
            )
            mine.add("decide", status, ms, data)
            if status == 200:
                mine.decided.append((pid, action))
    finally:
        client.close()
        with lock:
            tally.merge(mine)


def _client_process(spec: LoadSpec, first: int, count: int, conn: Any, stop: Any) -> None:
    """A client process: ``count`` user threads; sends its Tally back through the pipe."""
    tally, lock = Tally(), threading.Lock()
    users = [
        threading.Thread(target=_user, args=(spec, first + i, tally, lock, stop), daemon=True) for i in range(count)
    ]
    for user in users:
        user.start()
    for user in users:
        user.join(spec.end_at - time.time() + 2 * REQUEST_TIMEOUT_S)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    tally.cpu_s = usage.ru_utime + usage.ru_stime
    conn.send(tally)
    conn.close()


class Load:
    """A scenario's load running in forked client processes; ``join`` returns the merged Tally."""

    def __init__(self, spec: LoadSpec, processes: int):
        ctx = multiprocessing.get_context("fork")  # the user code needs no import by name (this file may be
        self.stop = ctx.Event()  # loaded by path from a test), and the parent has no threads at this point
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs = []
        processes = max(1, min(processes, spec.users))
        share = [spec.users // processes + (1 if i < spec.users % processes else 0) for i in range(processes)]
        first = 0
        for count in share:
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_client_process, args=(spec, first, count, child, self.stop), daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)
            first += count
        self.spec = spec

    def join(self) -> Tally:
        """Wait for every client process (bounded: the end time plus twice a request's timeout)."""
        tally = Tally()
        deadline = self.spec.end_at + 3 * REQUEST_TIMEOUT_S
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            if pipe.poll(max(0.0, deadline - time.time())):
                tally.merge(pipe.recv())
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        return tally

    def kill(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.kill()


# ---------------------------------------------------------------------------------------------------- figures


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (the value below which p% of the requests finished); NaN with no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100.0 * len(ordered)) - 1)]


def row(name: str, tally: Tally, kinds: tuple[str, ...], seconds: float, target: str = "") -> dict[str, Any]:
    """One line of the table: every request of these kinds, with its errors and the statuses apart.

    A request counts if it started within the window (at most one per user ends after it, a fraction of a percent
    of a run): the decisions among them must all be in the audit log, so none is left out of the figures either.
    """
    latencies = [v for k in kinds for v in tally.latencies.get(k, [])]
    statuses: Counter[int] = Counter()
    for k in kinds:
        statuses.update(tally.statuses.get(k, Counter()))
    errors = sum(n for s, n in statuses.items() if s == 0 or s >= 500 or (s >= 400 and s not in (409, 412)))
    return {
        "scenario": name,
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "rps": len(latencies) / seconds if seconds > 0 else float("nan"),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "target": target,
    }


def judge(r: dict[str, Any]) -> str:
    """PASS/MISS for the rows with a target; '-' for the others."""
    if r["target"].startswith(">="):
        ok = r["rps"] >= READ_TARGET_RPS and r["p99_ms"] < READ_TARGET_P99_MS and r["errors"] == 0
    elif r["target"] == "no 5xx":
        ok = r["server_errors"] == 0 and r["errors"] == 0
    else:
        return "-"
    return "PASS" if ok else "MISS"


def _ticks(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children) from /proc; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid ... utime(14) stime cutime cstime
    return int(rest[1]), sum(float(x) for x in rest[11:15]) / os.sysconf("SC_CLK_TCK")


def _all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process tree: the server's master, workers and solve processes (reaped ones included,
    through their parent's children times)."""
    info = {pid: t for pid in _all_pids() if (t := _ticks(pid)) is not None}
    total, todo = 0.0, [root]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in info.items():
        children.setdefault(ppid, []).append(pid)
    while todo:
        pid = todo.pop()
        if pid in info:
            total += info[pid][1]
        todo.extend(children.get(pid, []))
    return total


def db_cpu_s(db_name: str | None) -> float:
    """CPU seconds of the PostgreSQL backends serving this run's database (their process title names it)."""
    if not db_name:
        return 0.0
    total = 0.0
    for pid in _all_pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"postgres: ") and f" {db_name} ".encode() in title and (t := _ticks(pid)):
            total += t[1]
    return total


class Meter:
    """Where the CPU went over an interval: the machine's busy share (/proc/stat), the server's process tree, the
    database backends of this run, and the load average. The machine is shared: the server's and the database's
    CPU per request is what does not depend on what else runs, so the ceiling is estimated from them."""

    def __init__(self, server_pid: int, db_name: str | None):
        self.server_pid, self.db_name = server_pid, db_name
        self.start = (self._machine(), tree_cpu_s(server_pid), db_cpu_s(db_name), time.time())
        self.load_1m = os.getloadavg()[0]

    @staticmethod
    def _machine() -> tuple[float, float]:
        try:
            ticks = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        except (OSError, ValueError, IndexError):
            return 0.0, 0.0
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0.0)
        return sum(ticks) - idle, sum(ticks)

    def read(self) -> dict[str, float]:
        (busy0, total0), server0, db0, t0 = self.start
        busy, total = self._machine()
        return {
            "wall_s": time.time() - t0,
            "machine_busy_pct": 100.0 * (busy - busy0) / (total - total0) if total > total0 else float("nan"),
            "server_cpu_s": tree_cpu_s(self.server_pid) - server0,
            "db_cpu_s": db_cpu_s(self.db_name) - db0,
            "load_avg_1m_before": self.load_1m,
            "load_avg_1m_after": os.getloadavg()[0],
        }


# ----------------------------------------------------------------------------------------------- set-up, server


def _cli(args: list[str], env: dict[str, str]) -> str:
    """One ``hubmatch`` command (the same entry point an operator uses); its stdout, or an error with stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "hubmatch", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hubmatch {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def free_port() -> int:
    """A port the kernel says is free on the loopback address (bound and released; the server binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def database(opts: Options, workdir: Path) -> Iterator[str]:
    """A database of this run alone: a new PostgreSQL database (dropped after) or a SQLite file in ``workdir``."""
    if opts.sqlite:
        yield f"sqlite:///{workdir / 'hubmatch.sqlite'}"
        return
    import psycopg
    from psycopg import sql

    name = f"hubmatch_load_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG) as conn:  # type: ignore[arg-type]
        conn.execute(drop)  # a leftover of a killed run with the same pid
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG) as conn:  # type: ignore[arg-type]
            conn.execute(drop)


def server_command(opts: Options, port: int) -> list[str]:
    """``hubmatch serve --prod`` as in production; with ``threads``, gunicorn with the same settings but that count
    of threads (``serve`` fixes 4), for comparing configurations only."""
    if opts.threads is None:
        return [sys.executable, "-m", "hubmatch", "serve", "--prod", "--host", HOST, "--port", str(port),
                "--workers", str(opts.workers)]
    from hubmatch.serve import options  # the production settings, but for the threads

    settings = {**options(HOST, port, opts.workers), "threads": opts.threads}
    flags = {"bind": "--bind", "workers": "--workers", "threads": "--threads", "worker_class": "--worker-class",
             "timeout": "--timeout", "accesslog": "--access-logfile", "worker_tmp_dir": "--worker-tmp-dir",
             "reuse_port": "--reuse-port"}
    args = [sys.executable, "-m", "gunicorn"]
    for key, flag in flags.items():
        value = settings.get(key)
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return [*args, "api.app:create_app()"]


@contextlib.contextmanager
def running_server(opts: Options, env: dict[str, str], workdir: Path) -> Iterator[tuple[int, int]]:
    """The server in a process group of its own (so its workers and solve processes stop with it); its port, pid."""
    port = free_port()
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        server_command(opts, port), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.time() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}: {_tail(workdir / 'server.log')}")
            try:
                conn = http.client.HTTPConnection(HOST, port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"the server did not answer /health in {START_TIMEOUT_S:.0f} s")
            time.sleep(0.2)
        yield port, proc.pid
    finally:
        _stop_group(proc)
        log.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (gunicorn stops its workers), SIGKILL it if still there after 15 s."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray solve workers of the group, if any
        return


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def prepare(port: int, pid: int, db_name: str | None, lead: str, coord: str) -> Server:
    """Two rounds of the hub; the first solved through the API (its proposals are what the load reads)."""
    server = Server(port, pid, db_name, lead, coord)
    client = Client(port, lead, SOLVE_TIMEOUT_S)
    try:
        server.round_id = client.json("POST", f"/hubs/{HUB}/rounds", {"term": "2026-spring"})["id"]
        server.round2_id = client.json("POST", f"/hubs/{HUB}/rounds", {"term": "2026-summer"})["id"]
        job = solve(client, server.round_id)
        if job["state"] != "succeeded":
            raise RuntimeError(f"the set-up solve failed: {job.get('message')}")
        page = client.json("GET", f"/rounds/{server.round_id}/proposals?per_page=1000")
        server.proposal_ids = [p["id"] for p in page["items"]]
        if not server.proposal_ids:
            raise RuntimeError("the set-up solve proposed nothing")
        server.pages = max(1, math.ceil(page["total"] / PER_PAGE))
    finally:
        client.close()
    return server


def solve(client: Client, round_id: int) -> dict[str, Any]:
    """Solve a round through the API and wait for its job (the API waits at most 30 s itself: poll after that)."""
    start = time.perf_counter()
    job = client.json("POST", f"/rounds/{round_id}/solve?wait=60", expect=(200, 202))
    while job["state"] not in ("succeeded", "failed"):
        if time.perf_counter() - start > SOLVE_TIMEOUT_S:
            raise RuntimeError(f"the solve of round {round_id} did not finish in {SOLVE_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
        job = client.json("GET", f"/jobs/{job['id']}")
    job["wall_s"] = time.perf_counter() - start
    return job


def timed_solve(client: Client, round_id: int) -> dict[str, Any]:
    """``solve``, with a failure (a failed job, an error answer, a timeout) kept as a result: under load it is a
    finding to report, not a reason to lose the rest of the run."""
    start = time.perf_counter()
    try:
        return solve(client, round_id)
    except RuntimeError as err:
        return {"state": "error", "message": str(err), "wall_s": time.perf_counter() - start}


def _job_seconds(job: dict[str, Any]) -> float:
    """The job's own time, from its creation to its end (includes the worker process's start-up)."""
    created, finished = job.get("created_at"), job.get("finished_at")
    if not created or not finished:
        return float("nan")
    return (datetime.fromisoformat(finished) - datetime.fromisoformat(created)).total_seconds()


# -------------------------------------------------------------------------------------------------- scenarios


def _spec(server: Server, opts: Options, scenario: str, round_id: int, seconds: float, seed: int) -> LoadSpec:
    start_at = time.time() + 1.0 + 0.1 * opts.users / max(1, opts.processes)  # room to fork and warm up
    return LoadSpec(
        scenario, server.port, server.coord, round_id, tuple(server.proposal_ids), server.pages, opts.users,
        start_at, start_at + seconds, seed,
    )


def run_load(server: Server, opts: Options, scenario: str, seed: int) -> tuple[Tally, dict[str, float]]:
    """One bounded scenario: what the users measured, and where the CPU went meanwhile."""
    spec = _spec(server, opts, scenario, server.round_id, opts.duration_s, seed)
    load = Load(spec, opts.processes)
    try:
        time.sleep(max(0.0, spec.start_at - time.time()))
        meter = Meter(server.pid, server.db_name)
        time.sleep(max(0.0, spec.end_at - time.time()))
        used = meter.read()
        tally = load.join()
    finally:
        load.kill()
    used["wall_s"] = opts.duration_s
    return tally, used


def solve_scenario(server: Server, opts: Options) -> dict[str, Any]:
    """The second round's solve, ``solves`` times with no load, then as many times under the read load."""
    lead = Client(server.port, server.lead, SOLVE_TIMEOUT_S)  # the API holds a solve request up to 30 s
    try:
        quiet = [timed_solve(lead, server.round2_id) for _ in range(opts.solves)]
        lead.close()
        spec = _spec(server, opts, "reads", server.round_id, MAX_LOADED_S, opts.seed + 2)
        load = Load(spec, opts.processes)
        try:
            time.sleep(max(0.0, spec.start_at - time.time()))
            meter = Meter(server.pid, server.db_name)
            time.sleep(1.0)  # the load is on before the solve starts
            loaded = [timed_solve(lead, server.round2_id) for _ in range(opts.solves)]
            time.sleep(1.0)
            load.stop.set()
            used = meter.read()
            tally = load.join()
        finally:
            load.kill()
    finally:
        lead.close()
    return {"quiet": quiet, "loaded": loaded, "tally": tally, "used": used}


def audit(server: Server, decided: list[tuple[int, str]]) -> dict[str, Any]:
    """Every accepted decision against the round's audit log, and each proposal's version against its decisions."""
    client = Client(server.port, server.coord)
    try:
        log = client.json("GET", f"/rounds/{server.round_id}/decisions")
        proposals = client.json("GET", f"/rounds/{server.round_id}/proposals?per_page=1000")["items"]
    finally:
        client.close()
    accepted = Counter(decided)
    logged = Counter((d["proposal_id"], d["action"]) for d in log)
    per_proposal = Counter(pid for pid, _ in decided)
    bad_versions = [p["id"] for p in proposals if p["version"] - 1 != per_proposal.get(p["id"], 0)]
    return {
        "accepted": sum(accepted.values()),
        "logged": len(log),
        "missing": sorted(f"{p}:{a}" for p, a in (accepted - logged).elements()),
        "extra": sorted(f"{p}:{a}" for p, a in (logged - accepted).elements()),
        "version_mismatch": bad_versions,
        "accepted_pairs": [[p, a] for p, a in decided],
        "logged_pairs": [[d["proposal_id"], d["action"]] for d in log],
        "ok": accepted == logged and not bad_versions,
    }


def run(opts: Options) -> dict[str, Any]:
    """The whole run: set-up, the three scenarios, the audit; the results (also written to ``opts.output``)."""
    say = (lambda *_: None) if opts.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    workdir = Path(tempfile.mkdtemp(prefix="hubmatch-load-"))
    try:
        with database(opts, workdir) as url:
            env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
            problem = workdir / "lancashire.json"
            say(f"set-up: {'SQLite' if opts.sqlite else 'PostgreSQL'} database, Lancashire hub, tokens")
            _cli(["fixture", HUB, "-o", str(problem)], env)
            _cli(["hub", "create", HUB, "--name", "Lancashire Careers Hub", "--from-problem", str(problem)], env)
            lead = _cli(["token", "create", "--role", "hub_lead", "--hub", HUB, "--name", "load lead"], env)
            coord = _cli(["token", "create", "--role", "coordinator", "--hub", HUB, "--name", "load coordinator"], env)
            with running_server(opts, env, workdir) as (port, pid):
                say(f"server on {HOST}:{port} ({' '.join(server_command(opts, port)[2:])}); solving the round")
                server = prepare(port, pid, None if opts.sqlite else url.rsplit("/", 1)[1], lead, coord)
                say(f"round {server.round_id}: {len(server.proposal_ids)} proposals; reads for {opts.duration_s:g} s")
                reads = run_load(server, opts, "reads", opts.seed)
                say(f"decisions for {opts.duration_s:g} s")
                decisions = run_load(server, opts, "decisions", opts.seed + 1)
                checked = audit(server, decisions[0].decided)
                say(f"hub solve of round {server.round2_id}: {opts.solves} quiet, then {opts.solves} under read load")
                solved = solve_scenario(server, opts)
            server_log = _tail(workdir / "server.log", 5)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results = _results(opts, server, reads, decisions, checked, solved, server_log)
    if opts.output is not None:
        slim = {**results, "audit": {k: v for k, v in checked.items() if not k.endswith("_pairs")}}
        opts.output.write_text(json.dumps(_nan_free(slim), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return results


def _cpu_fields(r: dict[str, Any], used: dict[str, float], tally: Tally) -> None:
    """CPU per request of the server and the database, and the ceiling they imply on this machine's CPUs."""
    n = max(1, r["requests"])
    r.update(used)
    r["client_cpu_s"] = tally.cpu_s
    r["server_cpu_ms_per_request"] = 1000 * used["server_cpu_s"] / n
    r["db_cpu_ms_per_request"] = 1000 * used["db_cpu_s"] / n
    per_request_s = (used["server_cpu_s"] + used["db_cpu_s"]) / n
    r["cpu_bound_rps"] = (os.cpu_count() or 1) / per_request_s if per_request_s > 0 else float("nan")


def _results(
    opts: Options, server: Server, reads: tuple[Tally, dict[str, float]], decisions: tuple[Tally, dict[str, float]],
    checked: dict[str, Any], solved: dict[str, Any], server_log: str,
) -> dict[str, Any]:
    read_target = f">={READ_TARGET_RPS:.0f} rps, p99<{READ_TARGET_P99_MS:.0f}"
    loaded: Tally = solved["tally"]
    rows = [
        row("reads (list + item)", reads[0], ("list", "item"), reads[1]["wall_s"], read_target),
        row("  reads: list page of 50", reads[0], ("list",), reads[1]["wall_s"]),
        row("  reads: one proposal", reads[0], ("item",), reads[1]["wall_s"]),
        row("decisions: POST decision", decisions[0], ("decide",), decisions[1]["wall_s"], "no 5xx"),
        row("  decisions: GET for ETag", decisions[0], ("etag",), decisions[1]["wall_s"], "no 5xx"),
        row("reads during hub solves", loaded, ("list", "item"), solved["used"]["wall_s"]),
    ]
    _cpu_fields(rows[0], reads[1], reads[0])
    _cpu_fields(rows[5], solved["used"], loaded)
    # the decision scenario's CPU is per pair of requests (a GET for the ETag, then the POST)
    _cpu_fields(rows[3], decisions[1], decisions[0])
    decide_status = rows[3]["statuses"]
    rows[3]["accepted"] = decide_status.get("200", 0)
    rows[3]["conflict_409"] = decide_status.get("409", 0)
    rows[3]["stale_412"] = decide_status.get("412", 0)
    for r in rows:
        r["verdict"] = judge(r)
    ok = {key: [j for j in solved[key] if j["state"] == "succeeded"] for key in ("quiet", "loaded")}
    quiet_s = [j["wall_s"] for j in ok["quiet"]]
    loaded_s = [j["wall_s"] for j in ok["loaded"]]
    solve: dict[str, Any] = {
        "round_id": server.round2_id,
        "failed": [f"{key}: {j['state']}: {j.get('message')}" for key in ("quiet", "loaded") for j in solved[key]
                   if j["state"] != "succeeded"],
        "quiet_wall_s": quiet_s,
        "loaded_wall_s": loaded_s,
        "quiet_job_s": [_job_seconds(j) for j in ok["quiet"]],
        "loaded_job_s": [_job_seconds(j) for j in ok["loaded"]],
        "quiet_median_s": _median(quiet_s),
        "loaded_median_s": _median(loaded_s),
        "slowdown": _median(loaded_s) / _median(quiet_s),
    }
    for key in ("quiet", "loaded"):
        walls: list[float] = solve[f"{key}_wall_s"]
        failed = len(solved[key]) - len(walls)
        rows.append({
            "scenario": f"hub solve, {'no load' if key == 'quiet' else 'under read load'} (wall)",
            "requests": len(solved[key]), "rps": float("nan"), "p50_ms": 1000 * _median(walls),
            "p95_ms": float("nan"), "p99_ms": 1000 * max(walls) if walls else float("nan"), "errors": failed,
            "server_errors": 0, "target": "finishes", "verdict": "PASS" if not failed else "MISS",
        })
    return {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/load.py", *sys.argv[1:]]) if sys.argv[0].endswith("load.py") else "",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "options": {
            "backend": "sqlite" if opts.sqlite else "postgresql", "duration_s": opts.duration_s, "users": opts.users,
            "client_processes": opts.processes, "workers": opts.workers, "threads": opts.threads or 4,
            "server": "hubmatch serve --prod" if opts.threads is None else "gunicorn (gthread) direct",
            "solves": opts.solves,
        },
        "round": {"id": server.round_id, "proposals": len(server.proposal_ids), "pages": server.pages},
        "rows": rows,
        "solve": solve,
        "audit": checked,
        "error_samples": (reads[0].samples + decisions[0].samples + loaded.samples)[:10],
        "server_log_tail": server_log,
    }


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _nan_free(value: Any) -> Any:
    """NaN (a figure with no requests) as null: strict JSON readers reject NaN."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    if isinstance(value, dict):
        return {k: _nan_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_free(v) for v in value]
    return value


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def table(results: dict[str, Any]) -> str:
    """The plain-text table of the load test; below it the decisions' audit, the solve and where the CPU went."""
    head = ("scenario", "requests", "rps", "p50", "p95", "p99 (ms)", "errors", "target", "PASS/MISS")
    lines = [head]
    for r in results["rows"]:
        lines.append((
            r["scenario"], str(r["requests"]), _num(r["rps"]), _num(r["p50_ms"]), _num(r["p95_ms"]),
            _num(r["p99_ms"]), str(r["errors"]), r["target"] or "-", r["verdict"],
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = [
        "  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
        for line in lines
    ]
    out.insert(1, "-" * len(out[0]))
    rows = {r["scenario"].strip(): r for r in results["rows"]}
    d = rows["decisions: POST decision"]
    s, a, o = results["solve"], results["audit"], results["options"]
    out += [
        "",
        f"decisions: {d['accepted']} accepted, {d['stale_412']} stale (412), {d['conflict_409']} racing (409); "
        f"audit log {a['logged']} rows for {a['accepted']} accepted: {'exactly once' if a['ok'] else 'MISMATCH'}",
        f"hub solve (POST ?wait=60 to the job's end, n={len(s['quiet_wall_s'])}): median {s['quiet_median_s']:.2f} s "
        f"with no load, {s['loaded_median_s']:.2f} s under read load ({s['slowdown']:.2f}x)",
        "where the CPU went (the machine is shared: the per-request figures do not depend on other work):",
    ]
    for name in ("reads (list + item)", "decisions: POST decision", "reads during hub solves"):
        r = rows[name]
        per = {"decisions: POST decision": "GET+POST pair", "reads during hub solves": "request (with the solves)"}.get(
            name, "request"
        )
        out.append(
            f"  {name}: server {_num(r['server_cpu_ms_per_request'])} ms + database "
            f"{_num(r['db_cpu_ms_per_request'])} ms CPU per {per} -> at most {_num(r['cpu_bound_rps'], 0)}/s on "
            f"{results['machine']['cpus']} CPUs; machine {_num(r['machine_busy_pct'], 0)}% busy, load average "
            f"{_num(r['load_avg_1m_before'])} before, client {_num(r['client_cpu_s'])} CPU s"
        )
    out.append(
        f"{o['backend']}, {o['server']}: {o['workers']} workers x {o['threads']} threads; {o['users']} users in "
        f"{o['client_processes']} client processes, {o['duration_s']:g} s each; round of "
        f"{results['round']['proposals']} proposals"
    )
    return "\n".join(out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sqlite", action="store_true", help="a SQLite file instead of a PostgreSQL database")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each load scenario (default 20)")
    p.add_argument("--users", type=int, default=32, help="concurrent users, each one keep-alive connection")
    p.add_argument("--processes", type=int, default=4, help="client processes the users are spread over")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (hubmatch serve --prod --workers N)")
    p.add_argument("--threads", type=int, help="threads per worker: runs gunicorn directly (serve fixes 4)")
    p.add_argument("--solves", type=int, default=3, help="timed solves with no load, and as many under load")
    p.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS.relative_to(ROOT)})")
    p.add_argument("--seed", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run, print the table; exit 1 if the service answered 5xx, the audit log disagrees or a solve failed (the
    performance targets are only printed: a shared machine's figures are not a verdict on the code)."""
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a stopped run still stops its server and database
    opts = Options(
        sqlite=args.sqlite, duration_s=args.duration, users=args.users, processes=args.processes,
        workers=args.workers, threads=args.threads, solves=args.solves, output=args.output, seed=args.seed,
    )
    results = run(opts)
    print(table(results))
    if opts.output is not None:
        print(f"\nresults written to {opts.output}")
    server_errors = any(r["server_errors"] for r in results["rows"])
    return 1 if server_errors or not results["audit"]["ok"] or results["solve"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
