"""The solve queue under a term's start: 20 hub rounds posted at once, a warm worker's latency, the national round.

Everything runs against a real service: ``hubmatch serve --prod`` (gunicorn, no solve worker of its own) and
``hubmatch worker --concurrency 2`` on the embedded queue, on a SQLite database in a temporary folder. The
baseline is the design this replaced, measured in the same run on the same rows: every job in a fresh interpreter
of its own, all started at once (what the web process used to do per request), running the same task code.

Memory is the sum of the resident sizes of every process of the service (server, its workers, the solve worker and
its processes; for the baseline the server and the per-job processes), sampled every 50 ms; its peak is reported.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import requests
from common import PYTHON, ROOT, Config, Table, median, ratio, timed

import fixtures
from api.auth import create_token
from models import load_problem
from models import tables as t
from models.repository import create_hub
from models.store import make_engine, migrate, session_factory, transaction
from service.jobs import JobQueue

ROUNDS = 20
LATENCY_REPEATS = 5


class Service:
    """The database, a server and (optionally) a worker, all real processes, stopped at the end."""

    def __init__(self, tmp: Path):
        self.tmp, self.db = tmp, f"sqlite:///{tmp / 'bench.sqlite'}"
        self.env = {**os.environ, "HUBMATCH_DATABASE_URL": self.db,
                    "HUBMATCH_BROKER_URL": f"sqlite:///{tmp / 'bench-queue.sqlite'}"}
        self.port = _free_port()
        self.procs: list[subprocess.Popen] = []
        migrate(self.db)
        self.engine = make_engine(self.db)
        self.factory = session_factory(self.engine)
        with transaction(self.factory) as session:
            self.admin = create_token(session, "bench", "admin", None)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start_server(self) -> None:
        self._spawn("serve", "--prod", "--port", str(self.port), "--solve-workers", "0")
        _wait(lambda: _healthy(self.base), 60, "server up")

    def start_worker(self, concurrency: int = 2) -> psutil.Process:
        proc = self._spawn("worker", "--concurrency", str(concurrency))
        _wait(lambda: len(psutil.Process(proc.pid).children()) >= concurrency, 60, "worker processes up")
        return psutil.Process(proc.pid)

    def _spawn(self, *args: str) -> subprocess.Popen:
        log = (self.tmp / f"{args[0]}.log").open("ab")
        proc = subprocess.Popen([PYTHON, "-m", "hubmatch", *args], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def rss_mb(self, extra: Callable[[], list[psutil.Process]] = list) -> float:
        """Resident memory of every process of the service now, in MB."""
        total = 0
        for proc in [*self.procs, *extra()]:
            with contextlib.suppress(psutil.NoSuchProcess):
                p = psutil.Process(proc.pid)
                for q in (p, *p.children(recursive=True)):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += q.memory_info().rss
        return total / 2**20

    def hub(self, name: str, raw: dict[str, Any]) -> int:
        """A hub of the problem's records and a draft round of its policy; the round's id."""
        raw = {**raw, "pairs": []}
        with transaction(self.factory) as session:
            create_hub(session, name, name, load_problem(raw))
            round_ = t.Round(hub_id=name, term="2026-spring", policy=raw.get("policy", {}))
            session.add(round_)
            session.flush()
            return round_.id

    def http(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.admin}"
        return session

    def stop(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.engine.dispose()


@contextlib.contextmanager
def service() -> Iterator[Service]:
    with tempfile.TemporaryDirectory(prefix="hubmatch-queue-bench-") as tmp:
        svc = Service(Path(tmp))
        try:
            yield svc
        finally:
            svc.stop()


class Sampler:
    """Peak memory and peak count of solve processes, sampled in a thread while a scenario runs."""

    def __init__(self, memory: Callable[[], float], processes: Callable[[], int]):
        self.memory, self.processes = memory, processes
        self.peak_mb, self.peak_procs = 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(psutil.Error):
                self.peak_mb = max(self.peak_mb, self.memory())
                self.peak_procs = max(self.peak_procs, self.processes())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


def run(cfg: Config) -> tuple[Table, Table, dict[str, Any]]:
    raw = fixtures.lancashire_problem()
    with service() as svc:
        rounds = [svc.hub(f"hub{k:02d}", raw) for k in range(2 * ROUNDS + LATENCY_REPEATS)]
        svc.start_server()
        burst_old = _burst_process_per_job(svc, rounds[:ROUNDS])
        worker = svc.start_worker(2)
        burst_new = _burst_queue(svc, rounds[ROUNDS:2 * ROUNDS], worker)
        latency = _latency(svc, rounds[2 * ROUNDS:], raw)
        national = _national(svc, cfg)
    burst = Table(f"Q1. {ROUNDS} Lancashire rounds posted at once (2 cores)",
                  ["design", "peak processes", "peak memory MB", "all done s", "failures", "vs process per job"])
    for name, r in (("process per job (before)", burst_old), ("queue, worker --concurrency 2", burst_new)):
        burst.add(name, r["peak_procs"], r["peak_mb"], r["done_s"], r["failures"], ratio(r["done_s"],
                                                                                     burst_old["done_s"]))
    burst.notes.append("peak processes: the solve processes (per job), or the worker's (2 solving, 1 Huey "
                       "scheduler)")
    burst.notes.append("process per job: each job in a fresh interpreter started at once, as the web process used to; "
                       "memory: every process of the service summed, sampled every 50 ms")
    lat = Table(f"Q2. Solve latency, median of {LATENCY_REPEATS}", ["path", "problem", "median s", "min s", "vs CLI"])
    cli = latency["cli"]
    lat.add("hubmatch solve (fresh command)", "Lancashire", median(cli), min(cli), "1.00x")
    api = latency["api"]
    lat.add("POST /rounds/{id}/solve?wait=60 (warm worker)", "Lancashire", median(api), min(api),
            ratio(median(api), median(cli)))
    lat.add("hubmatch solve (fresh command)", "national", national["cli_s"], national["cli_s"], "1.00x")
    lat.add("POST /rounds/{id}/solve?wait=120 (warm worker)", "national", national["api_s"], national["api_s"],
            ratio(national["api_s"], national["cli_s"]))
    lat.notes.append("API: from the request to the finished job's answer, over HTTP to gunicorn; CLI: process start "
                     "to solution file; national: 5,000 schools x 5,000 advisers, one run each")
    return burst, lat, {"burst_old": burst_old, "burst_new": burst_new, "latency": latency, "national": national}


def _burst_process_per_job(svc: Service, rounds: list[int]) -> dict[str, Any]:
    """The old design: one fresh process per job, all started at once."""
    jobs = JobQueue(svc.factory, None)  # type: ignore[arg-type]  (never sends: the bench starts the processes)
    with transaction(svc.factory) as session:
        ids = [jobs.submit(session, session.get(t.Round, r)).id for r in rounds]
    code = "import sys; from models.store import make_engine, session_factory; from service.tasks import run_job; " \
           "run_job(sys.argv[1], session_factory(make_engine()))"
    started = time.perf_counter()
    children: list[subprocess.Popen] = []
    alive = lambda: [c for c in children if c.poll() is None]  # noqa: E731
    with Sampler(lambda: svc.rss_mb(alive), lambda: len(alive())) as sample:
        children += [subprocess.Popen([PYTHON, "-c", code, job_id], cwd=ROOT, env=svc.env) for job_id in ids]
        for child in children:
            child.wait()
        done_s = time.perf_counter() - started
    return {"peak_procs": sample.peak_procs, "peak_mb": round(sample.peak_mb), "done_s": round(done_s, 2),
            "failures": _failures(svc, ids)}


def _burst_queue(svc: Service, rounds: list[int], worker: psutil.Process) -> dict[str, Any]:
    http = svc.http()
    started = time.perf_counter()
    with Sampler(svc.rss_mb, lambda: len(worker.children())) as sample:
        threads = [threading.Thread(target=lambda r=r: http.post(f"{svc.base}/rounds/{r}/solve", timeout=60))
                   for r in rounds]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        ids = _job_ids(svc, rounds)
        _wait(lambda: _over(svc, ids), 600, "queued solves done", every_s=0.05)
        done_s = time.perf_counter() - started
    return {"peak_procs": sample.peak_procs, "peak_mb": round(sample.peak_mb), "done_s": round(done_s, 2),
            "failures": _failures(svc, ids)}


def _latency(svc: Service, rounds: list[int], raw: dict[str, Any]) -> dict[str, list[float]]:
    http = svc.http()
    problem = svc.tmp / "lancashire.json"
    problem.write_text(json.dumps(raw), encoding="utf-8")
    cli, api = [], []
    for r in rounds:
        _, seconds = timed(lambda r=r: http.post(f"{svc.base}/rounds/{r}/solve?wait=60", timeout=90).raise_for_status())
        api.append(round(seconds, 3))
        _, seconds = timed(lambda: subprocess.run([PYTHON, "-m", "hubmatch", "solve", str(problem), "-o",
                                                   str(svc.tmp / "out.json")], cwd=ROOT, check=True,
                                                  capture_output=True))
        cli.append(round(seconds, 3))
    return {"cli": cli, "api": api}


def _national(svc: Service, cfg: Config) -> dict[str, Any]:
    raw = fixtures.national_problem(*cfg.national)
    raw["policy"] = {**raw.get("policy", {}), "time_limit_s": 120}
    round_id = svc.hub("national", raw)
    problem = svc.tmp / "national.json"
    problem.write_text(json.dumps(raw), encoding="utf-8")
    reply, api_s = timed(lambda: svc.http().post(f"{svc.base}/rounds/{round_id}/solve?wait=120", timeout=180).json())
    _, cli_s = timed(lambda: subprocess.run([PYTHON, "-m", "hubmatch", "solve", str(problem), "-o",
                                             str(svc.tmp / "national-out.json")], cwd=ROOT, check=True,
                                            capture_output=True))
    return {"api_s": round(api_s, 2), "cli_s": round(cli_s, 2), "state": reply.get("state")}


def _job_ids(svc: Service, rounds: list[int]) -> list[str]:
    with transaction(svc.factory) as session:
        return [j.id for j in session.query(t.Job).filter(t.Job.round_id.in_(rounds)).order_by(t.Job.created_at)]


def _over(svc: Service, ids: list[str]) -> bool:
    with transaction(svc.factory) as session:
        return all(session.get(t.Job, i).state in ("succeeded", "failed") for i in ids)


def _failures(svc: Service, ids: list[str]) -> int:
    with transaction(svc.factory) as session:
        return sum(session.get(t.Job, i).state != "succeeded" for i in ids)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _wait(check: Callable[[], Any], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout_s} s")
        time.sleep(every_s)
