"""A lock held by another connection, as a process stopped in the middle of a write holds it, for the tests of
what waits on a lock and for how long (the supervisor, the API's 503, the command line's exit code 75)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg


@contextlib.contextmanager
def lock_held(url: str, postgres_sql: str = "", *params: Any) -> Iterator[None]:
    """Until the block ends: on SQLite the file's write lock; on PostgreSQL the locks ``postgres_sql`` takes (a
    row's ``FOR UPDATE``, a table's ``LOCK TABLE``), in a transaction left open."""
    if url.startswith("sqlite"):
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
    else:
        if not postgres_sql:
            raise ValueError("say which lock to hold on PostgreSQL")
        conn = psycopg.connect(url)
        conn.execute(postgres_sql, params or None)
    try:
        yield
    finally:
        conn.rollback()
        conn.close()
