"""Delivering the outbox: claim a due message, send it, record what happened; nothing lost, nothing doubled.

Each message moves by conditional UPDATEs, like a solve job: ``pending`` -> ``sending`` (the claim: only one
delivery wins a row, however many workers run) -> ``sent``; a permanent refusal (SMTP 5xx) -> ``bounced``, and the
person's address is marked bounced so no later publish writes to it; a temporary failure (4xx, no connection) ->
``pending`` again, due after an exponential back-off (``HUBMATCH_MAIL_RETRY_S`` doubling, at most an hour), and
``failed`` after ``MAX_ATTEMPTS``.

A worker killed between its claim and its record leaves the row ``sending``; once its claim is older than
``HUBMATCH_MAIL_LEASE_S`` the supervisor puts it back to ``pending`` (``reclaim``). The one window where a message
can be sent twice is a worker that dies after the server accepted it and before it wrote ``sent`` (milliseconds);
the copy then carries the same Message-ID, by which mail systems recognise a duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formataddr
from hashlib import sha256

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from models import tables as t
from models.store import transaction
from service.mail import Mailer, Refused, TryLater

log = logging.getLogger("hubmatch.delivery")
MAX_ATTEMPTS = 8
LONGEST_WAIT_S = 3600.0


@dataclass
class Delivered:
    """What one delivery run did, by outbox id (for the log and for tests)."""

    sent: list[int] = field(default_factory=list)
    bounced: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def deliver_due(factory: sessionmaker[Session], mailer: Mailer, sender: str, retry_s: float,
                limit: int | None = None) -> Delivered:
    """Send every message due now (at most ``limit``), one claim at a time, until none is left."""
    done = Delivered()
    try:
        _deliver(factory, mailer, sender, retry_s, limit, done)
    finally:
        mailer.close()
    return done


def _deliver(factory: sessionmaker[Session], mailer: Mailer, sender: str, retry_s: float, limit: int | None,
             done: Delivered) -> None:
    while limit is None or len(done.sent) + len(done.bounced) + len(done.retrying) + len(done.failed) < limit:
        claimed = claim_next(factory, sender)
        if claimed is None:
            return
        row_id, message = claimed
        try:
            mailer.send(message)
        except Refused as err:
            _bounce(factory, row_id, str(err))
            done.bounced.append(row_id)
        except TryLater as err:
            (done.failed if _retry(factory, row_id, str(err), retry_s) else done.retrying).append(row_id)
        else:
            _mark(factory, row_id, "sent", sent_at=t.now(), reason=None)
            done.sent.append(row_id)


def claim_next(factory: sessionmaker[Session], sender: str) -> tuple[int, EmailMessage] | None:
    """The oldest due pending message, claimed for this delivery (None when nothing is due)."""
    while True:
        with transaction(factory) as session:
            row_id = session.scalar(
                select(t.OutboxMessage.id)
                .where(t.OutboxMessage.state == "pending", t.OutboxMessage.next_attempt_at <= t.now())
                .order_by(t.OutboxMessage.next_attempt_at, t.OutboxMessage.id)
                .limit(1)
            )
            if row_id is None:
                return None
            won = session.execute(
                update(t.OutboxMessage)
                .where(t.OutboxMessage.id == row_id, t.OutboxMessage.state == "pending")
                .values(state="sending", claimed_at=t.now(), attempts=t.OutboxMessage.attempts + 1),
                execution_options={"synchronize_session": False},
            ).rowcount  # type: ignore[attr-defined]
            if won:
                row = session.get(t.OutboxMessage, row_id)
                assert row is not None
                return row_id, email_of(row, sender)
        # another delivery took it between the read and the claim: look again


def email_of(row: t.OutboxMessage, sender: str) -> EmailMessage:
    """The message as it goes out: plain text and HTML alternatives, the invitation attached when there is one,
    and a Message-ID fixed by the outbox key (a resent copy is recognisably the same message)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((row.name, row.email or ""))
    message["Subject"] = row.subject
    message["Message-ID"] = f"<{sha256(row.key.encode()).hexdigest()[:32]}@hubmatch>"
    message["X-Hubmatch-Key"] = row.key
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    if row.calendar:
        message.add_attachment(row.calendar.encode(), maintype="text", subtype="calendar",
                               filename="first-meeting.ics", params={"method": "PUBLISH"})
    return message


def reclaim(session: Session, lease_s: float) -> int:
    """Put messages claimed longer ago than ``lease_s`` (their worker died mid-send) back to pending, due now."""
    return session.execute(
        update(t.OutboxMessage)
        .where(t.OutboxMessage.state == "sending", t.OutboxMessage.claimed_at < t.now() - timedelta(seconds=lease_s))
        .values(state="pending", next_attempt_at=t.now(), reason="its delivery stopped before it finished; sent again"),
        execution_options={"synchronize_session": False},
    ).rowcount  # type: ignore[attr-defined]


def due_count(session: Session) -> int:
    """How many messages wait to be sent now (the supervisor sends a delivery when any do)."""
    return int(session.scalar(select(func.count()).where(
        t.OutboxMessage.state == "pending", t.OutboxMessage.next_attempt_at <= t.now())) or 0)


def _mark(factory: sessionmaker[Session], row_id: int, state: str, **values: object) -> bool:
    with transaction(factory) as session:
        return bool(session.execute(
            update(t.OutboxMessage).where(t.OutboxMessage.id == row_id, t.OutboxMessage.state == "sending")
            .values(state=state, **values),
            execution_options={"synchronize_session": False},
        ).rowcount)  # type: ignore[attr-defined]


def _bounce(factory: sessionmaker[Session], row_id: int, reply: str) -> None:
    """The message is refused for good; its address is marked bounced on the person's contact."""
    if not _mark(factory, row_id, "bounced", reason=reply):
        return
    with transaction(factory) as session:
        row = session.get(t.OutboxMessage, row_id)
        assert row is not None
        contact = session.scalar(select(t.Contact).where(
            t.Contact.hub_id == row.hub_id, t.Contact.kind == row.kind, t.Contact.record_id == row.record_id))
        if contact is not None and contact.email == row.email:  # not an address changed since
            contact.bounced_at, contact.bounce = t.now(), reply[:500]
    log.warning("message %s bounced: %s", row_id, reply)


def _retry(factory: sessionmaker[Session], row_id: int, reason: str, retry_s: float) -> bool:
    """Due again after the back-off; True when the message has had its last attempt and failed for good."""
    with transaction(factory) as session:
        attempts = session.scalar(select(t.OutboxMessage.attempts).where(t.OutboxMessage.id == row_id)) or 1
    if attempts >= MAX_ATTEMPTS:
        _mark(factory, row_id, "failed", reason=f"gave up after {attempts} attempts: {reason}"[:500])
        return True
    wait = min(retry_s * 2 ** (attempts - 1), LONGEST_WAIT_S)
    _mark(factory, row_id, "pending", reason=reason[:500], next_attempt_at=t.now() + timedelta(seconds=wait))
    return False
