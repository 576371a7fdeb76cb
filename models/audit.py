"""The audit log of every change: one function writes an event, in the caller's transaction, and nothing edits one.

An event says who (``actor``: a token's name, or ``cli`` for the command line), when (``at``), what (``action``, one
of ``Action``), on what (``subject``, e.g. ``advisers/A00012``, ``rounds/12``, ``tokens/5``) and the particulars
(``details``, JSON). Events of a hub carry its id; token events carry none (tokens are managed by admins across
hubs). Writing the event in the same transaction as the change means a change that is rolled back (a 409, a 422,
a crash) leaves no event, and a committed change always has one.

Details never hold advisers' home coordinates: an edit lists the names of the fields it changed, not their values.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from models import tables as t


class Action(StrEnum):
    """Every kind of change the log records (an event's ``action``)."""

    HUB_CREATED = "hub.created"
    HUB_UPDATED = "hub.updated"
    RECORD_CREATED = "record.created"
    RECORD_UPDATED = "record.updated"
    RECORD_RETIRED = "record.retired"
    RECORD_REINSTATED = "record.reinstated"
    RECORD_DELETED = "record.deleted"
    RECORDS_IMPORTED = "records.imported"
    ROUND_CREATED = "round.created"
    ROUND_POLICY_CHANGED = "round.policy_changed"
    ROUND_PUBLISHED = "round.published"
    SOLVE_STARTED = "solve.started"
    SOLVE_SUCCEEDED = "solve.succeeded"
    SOLVE_FAILED = "solve.failed"
    ANALYSIS_STARTED = "analysis.started"
    ANALYSIS_SUCCEEDED = "analysis.succeeded"
    ANALYSIS_FAILED = "analysis.failed"
    TOKEN_CREATED = "token.created"
    TOKEN_REVOKED = "token.revoked"


def record_event(
    session: Session,
    hub_id: str | None,
    actor: str,
    action: Action,
    subject: str,
    details: dict[str, Any] | None = None,
) -> t.Event:
    """Add one event to ``session``; it is written when the caller commits, and vanishes if the caller rolls back.

    The contract, for every caller (views, the command line, the solve tasks):

    - Call it in the transaction that makes the change, after the change has passed every check, and commit the
      two together. Never commit an event on its own for a change that may still fail.
    - ``hub_id``: the hub of the change; None only for changes outside any hub (tokens).
    - ``actor``: the token's name (``Principal.name``) for a request, ``"cli"`` for the command line, and for a
      solve the name of whoever started it (the round's ``created_by`` is not that: pass the requester's name).
    - ``action``: an ``Action``. ``subject``: ``<collection>/<id>`` (``schools/URN1``, ``rounds/12``,
      ``tokens/5``). ``details``: JSON-serialisable, no personal data (advisers' coordinates never).
    - Solves: ``SOLVE_STARTED`` when the job is queued (details ``{"job": id}``); ``SOLVE_SUCCEEDED`` with the
      job id and the solution's counts (``assignments``, ``unmatched``, ``status``); ``SOLVE_FAILED`` with the job
      id and its message. Each of a job's outcomes in the transaction that moves the job to that state, with the
      round's ``rounds/<id>`` as subject.

    Returns the (not yet flushed) row.
    """
    row = t.Event(hub_id=hub_id, actor=actor, action=Action(action).value, subject=subject, details=details or {})
    session.add(row)
    return row


def changed_fields(row: Any, values: dict[str, Any]) -> list[str]:
    """The names of the columns whose value ``values`` changes (for an edit's details), in sorted order."""
    return sorted(k for k, v in values.items() if getattr(row, k) != v)


@event.listens_for(t.Event, "before_update")
@event.listens_for(t.Event, "before_delete")
def _only_inserted(_mapper: Any, _connection: Any, target: t.Event) -> None:
    """The log is append-only: an update or delete of an event through the ORM is a programming error."""
    raise RuntimeError(f"audit event {target.id} cannot be changed or deleted: the log is only ever inserted")
