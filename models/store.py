"""Where the data lives: the engine for ``DATABASE_URL`` (SQLite in a file by default), sessions, migrations.

SQLite needs no set-up, so ``hubmatch serve`` works on a fresh machine; the same code runs on PostgreSQL when
``DATABASE_URL=postgresql://...`` is set. The schema is only ever created by Alembic migrations, so a database made
by one version is upgraded, never rebuilt, by the next.
"""

from __future__ import annotations

import functools
import json
import os
import re
import select
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///hubmatch.sqlite"
# 19 digits in a row: a number orjson might not read exactly as ``json`` does (an integer beyond 64 bits, which it
# turns into a float, or more digits than a float keeps); such a document is read by the standard library
LONG_NUMBER = re.compile(rb"[0-9]{19}")
LOCK_WAIT_S = 30.0  # how long a statement waits for another connection's lock, by default (``make_engine``)


def database_url(url: str | None = None) -> str:
    """The database URL: the argument, else ``HUBMATCH_DATABASE_URL`` or ``DATABASE_URL``, else a SQLite file in
    the working directory.

    ``postgresql://`` URLs are mapped to the psycopg 3 driver, the one the project installs.
    """
    url = url or os.environ.get("HUBMATCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def json_loads(data: str | bytes | bytearray | memoryview) -> Any:
    """A JSON column's value, parsed by orjson (several times faster on proposals' components and alternatives)
    with exactly the standard library's result: a document orjson refuses (NaN on SQLite) or might round (a run
    of 19 digits) is parsed by ``json.loads`` instead."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if LONG_NUMBER.search(raw) is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return json.loads(raw)


def make_engine(url: str | None = None, lock_wait_s: float = LOCK_WAIT_S) -> Engine:
    """An engine with the settings each backend needs (SQLite: foreign keys on, WAL, a busy timeout).

    ``lock_wait_s`` bounds how long a statement waits for a lock another connection holds before it fails
    (SQLite's busy timeout, PostgreSQL's ``lock_timeout``), so that a process stopped inside its transaction stalls
    nobody for ever: a request then answers 503 (``lock_refused``). The worker's supervisor takes a short one: it
    must not wait behind the very process it is about to kill.
    """
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": lock_wait_s, "check_same_thread": False}, json_deserializer=json_loads
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_ms=round(lock_wait_s * 1000)))
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20, json_deserializer=json_loads,
                           connect_args={"options": f"-c lock_timeout={round(lock_wait_s * 1000)}"})
    event.listen(engine, "checkout", _closed_by_server)
    return engine


def lock_refused(error: OperationalError) -> bool:
    """Whether the database refused a statement because another connection held a lock past ``lock_wait_s``
    (SQLite: busy or locked; PostgreSQL: SQLSTATE 55P03, lock not available): worth trying again, not a fault."""
    orig = error.orig
    if isinstance(orig, sqlite3.OperationalError):
        return getattr(orig, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
    return getattr(orig, "sqlstate", None) == "55P03"


def _closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Refuse a pooled PostgreSQL connection that the server has closed or is closing, without a round trip.

    This replaces ``pool_pre_ping``, which cost each request a ``SELECT 1`` and its transaction on the server.
    An idle connection in the pool has nothing to read: the server sends something unasked only when it ends the
    session (a restart, ``pg_terminate_backend``, an idle timeout: an error message, then end of file). So a
    socket that polls readable means a dead connection: ``DisconnectionError`` makes the pool discard it and
    hand out another one (it retries up to three times). The client never uses LISTEN, whose notifications would
    also make an idle socket readable; a false alarm would only cost a reconnection. A connection broken while
    a request uses it still fails that request (as it did with the pre-ping), and SQLAlchemy then renews every
    connection of the pool that is older than the failure.
    """
    if dbapi_connection.closed:
        raise DisconnectionError("the connection is closed")
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise DisconnectionError("the server closed the connection while it was idle in the pool")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, busy_ms: int) -> None:
    """Each connection's settings. WAL is a property of the file, kept once set (``migrate`` sets it): switching
    needs the file to itself and fails at once, without waiting, while another connection writes, so a connection
    opened then would fail for nothing if it asked again."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={busy_ms:d}")
    cursor.execute("PRAGMA foreign_keys=ON")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Bring the database schema up to ``revision`` with Alembic. A SQLite file is switched to WAL first, by one
    connection of ``make_engine``'s; the migrations themselves run on a plain engine, since with foreign keys on,
    the table rebuilds of SQLite's batch migrations would cascade."""
    from alembic import command
    from alembic.config import Config

    if database_url(url).startswith("sqlite"):
        engine = make_engine(url)
        engine.connect().close()
        engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(resources.files("models").joinpath("migrations")))
    config.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    command.upgrade(config, revision)
