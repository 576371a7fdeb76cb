"""Notifications on publish: what writing the outbox adds to a publish, and how fast the outbox is delivered.

A Lancashire round (84 schools, last term's pairings in the fixture) is solved once and then published on fresh
SQLite databases, each publish twice in the same run: with the outbox (the service's publish) and without it (the
publish before notifications: the baseline). The delivery rows time ``service.delivery.deliver_due`` over the
same messages, to the folder (the embedded default) and to an aiosmtpd server on 127.0.0.1.
"""

from __future__ import annotations

import socket
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

from common import Config, Table, median, ratio, timed

import fixtures
from matcher import solve
from models import load_problem
from models import tables as t
from models.lifecycle import ProposalState, RoundState
from models.repository import create_hub, publish
from models.store import make_engine, migrate, session_factory, transaction
from service.delivery import deliver_due
from service.mail import FolderMailer, SmtpMailer
from service.notify import pairing_set, write_outbox


def _setup(folder: Path, problem: Any, solution: Any) -> tuple[Any, Any, int]:
    url = f"sqlite:///{folder / 'bench.sqlite'}"
    migrate(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    with transaction(factory) as session:
        create_hub(session, "lancs", "Lancashire Careers Hub", problem)
        for collection, kind in (("schools", "school"), ("advisers", "adviser"), ("employers", "employer")):
            session.add_all(t.Contact(hub_id="lancs", kind=kind, record_id=r.id, email=f"{r.id}@example.org",
                                      consent=True) for r in getattr(problem, collection))
        round_ = t.Round(hub_id="lancs", term="bench", state=RoundState.PROPOSED)
        session.add(round_)
        session.flush()
        session.add_all(t.Proposal(round_id=round_.id, school_id=a.school, partner_id=a.partner, role=a.role,
                                   cost=a.cost, components=a.components, state=ProposalState.APPROVED)
                        for a in solution.assignments)
        round_id = round_.id
    return engine, factory, round_id


def _publish(factory: Any, round_id: int, outbox: bool) -> int:
    with transaction(factory) as session:
        round_ = session.get(t.Round, round_id)
        before = pairing_set(session, "lancs")
        publish(session, round_)
        return sum(write_outbox(session, round_, before).values()) if outbox else 0


def run(cfg: Config) -> tuple[Table, dict[str, Any]]:
    from aiosmtpd.controller import Controller

    problem = load_problem({k: v for k, v in fixtures.lancashire_problem().items() if k != "pairs"})
    solution = solve(problem)
    timings: dict[str, list[float]] = {"plain": [], "outbox": [], "folder": [], "smtp": []}
    messages = 0

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        with tempfile.TemporaryDirectory() as scratch:  # a warm-up publish, not counted (first-use compilation)
            engine, factory, round_id = _setup(Path(scratch), problem, solution)
            _publish(factory, round_id, True)
            engine.dispose()
        for _ in range(max(cfg.repeats, 3)):
            for kind in ("plain", "outbox", "folder", "smtp"):
                with tempfile.TemporaryDirectory() as scratch:
                    engine, factory, round_id = _setup(Path(scratch), problem, solution)
                    written, seconds = timed(partial(_publish, factory, round_id, kind != "plain"))
                    if kind in ("plain", "outbox"):
                        timings[kind].append(seconds)
                        messages = max(messages, written)
                    else:
                        mailer = FolderMailer(Path(scratch) / "mail") if kind == "folder" else \
                            SmtpMailer(f"smtp://127.0.0.1:{port}")
                        _, seconds = timed(partial(deliver_due, factory, mailer, "bench@example.org", 30.0))
                        timings[kind].append(seconds)
                    engine.dispose()
    finally:
        smtp.stop()
    plain, outbox = median(timings["plain"]), median(timings["outbox"])
    table = Table("M1. Lancashire publish: the outbox's cost, and delivering it",
                  ["what", "messages", "median s", "per message ms", "vs baseline"])
    table.add("publish without notifications (baseline)", 0, plain, None, "1.00x")
    table.add("publish writing the outbox", messages, outbox, 1000 * (outbox - plain) / max(messages, 1),
              ratio(outbox, plain))
    for kind, label in (("folder", "deliver to the folder (embedded default)"), ("smtp", "deliver to SMTP (local)")):
        value = median(timings[kind])
        table.add(label, messages, value, 1000 * value / max(messages, 1), "-")
    table.notes.append(f"{max(cfg.repeats, 3)} repeats after a warm-up; SQLite (a commit per claim and per record) "
                       "in a temporary folder; the machine is shared")
    return table, {k: v for k, v in timings.items()} | {"messages": messages}
