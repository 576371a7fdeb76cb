"""What a request shares with the rest of the service: its database session, read connections, the job queue.

Blueprints import these, never the application factory or one another (the shape of Flask's ``flaskr/db.py``);
``api.app`` puts the shared objects in ``app.extensions`` when it builds the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, g
from sqlalchemy import Connection
from sqlalchemy.orm import Session


def db() -> Session:
    """The request's database session (opened on first use, closed at the end of the request)."""
    if "db" not in g:
        g.db = current_app.extensions["hubmatch.sessions"]()
    return g.db


@contextmanager
def reading() -> Iterator[Connection]:
    """A pooled connection in autocommit for a view that only reads, returned to the pool at the end.

    Each statement then runs on its own: no ``BEGIN`` and ``ROLLBACK`` around a read (two of a proposal read's
    three round trips to PostgreSQL). Nothing is lost: at PostgreSQL's READ COMMITTED each statement of a
    transaction sees its own snapshot anyway.
    """
    with current_app.extensions["hubmatch.engine"].connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def jobs() -> Any:
    """The service's job queue (see ``service.queue``)."""
    return current_app.extensions["hubmatch.jobs"]


def close_session(_exc: BaseException | None) -> None:
    """End the request's session, rolling back whatever it did not commit."""
    session = g.pop("db", None)
    if session is not None:
        session.rollback()
        session.close()
