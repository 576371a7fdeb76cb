"""The demo's messages: what publishing the demo round would tell its people, written as ``.eml`` files.

The demo has no service, so this runs the service's own path on a scratch SQLite database: the hub's records and
last term's pairings, the solution's pairings approved and published, the outbox written (with a first meeting two
weeks on, to show the invitation) and delivered by the embedded default, the folder. The bundled hubs hold no
e-mail addresses, so each person gets a placeholder at ``demo.invalid`` (a domain that never delivers).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Problem, Solution
from models import tables as t
from models.lifecycle import ProposalState, RoundState
from models.repository import create_hub, publish
from models.store import make_engine, migrate, session_factory, transaction
from service.delivery import deliver_due
from service.mail import FolderMailer
from service.notify import Meeting, pairing_set, write_outbox

HUB = "demo"
KINDS = (("schools", "school"), ("advisers", "adviser"), ("employers", "employer"))


def write_messages(problem: Problem, solution: Solution, folder: Path) -> str:
    """Publish the solution on a scratch database, deliver its messages into ``folder``; a line saying so."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'demo.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        factory = session_factory(engine)
        try:
            with transaction(factory) as session:
                _published(session, problem, solution)
                counts = Counter(session.scalars(select(t.OutboxMessage.kind)))
            done = deliver_due(factory, FolderMailer(folder), "demo@hubmatch.invalid", retry_s=1.0)
        finally:
            engine.dispose()
    who = ", ".join(f"{counts[kind]} to {collection}" for collection, kind in KINDS)
    return (f"{len(done.sent)} messages a publish would send ({who}: everyone whose pairings change) written to "
            f"{folder}/ (the embedded default: nothing leaves the machine; a service with HUBMATCH_SMTP_URL sends)")


def _published(session: Session, problem: Problem, solution: Solution) -> t.Round:
    create_hub(session, HUB, problem.hub.name or "Demo hub", problem)
    for collection, kind in KINDS:
        session.add_all(t.Contact(hub_id=HUB, kind=kind, record_id=r.id, email=f"{kind}.{r.id}@demo.invalid".lower(),
                                  consent=True) for r in getattr(problem, collection))
    round_ = t.Round(hub_id=HUB, term="demo", state=RoundState.PROPOSED)
    session.add(round_)
    session.flush()
    session.add_all(t.Proposal(round_id=round_.id, school_id=a.school, partner_id=a.partner, role=a.role, cost=a.cost,
                               components=a.components, distance_km=a.distance_km, state=ProposalState.APPROVED)
                    for a in solution.assignments)
    session.flush()
    before = pairing_set(session, HUB)
    publish(session, round_)
    write_outbox(session, round_, before, Meeting(starts_at=(t.now() + timedelta(days=14)).replace(
        hour=15, minute=30, second=0, microsecond=0)))
    return round_
