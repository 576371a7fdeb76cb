"""PostgreSQL for the service's tests: whether it answers, and throwaway databases.

One place for what the API, fault, concurrency and fuzz tests all need, so that they agree on where PostgreSQL is
and on how a test database is named and dropped.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Iterator

import psycopg
import pytest

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
_numbers = itertools.count(1)


@functools.cache
def postgres_problem() -> str | None:
    """None when PostgreSQL answers on 127.0.0.1:5432 as user postgres, else why not (asked once per process)."""
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, **PG).close()  # type: ignore[arg-type]
    except psycopg.Error as err:
        return (str(err).strip().splitlines() or [type(err).__name__])[0]
    return None


def skip_without_postgres() -> None:
    """Skip the calling test or fixture, saying why, when PostgreSQL does not answer."""
    if problem := postgres_problem():
        pytest.skip(f"PostgreSQL does not answer on {PG['host']}:{PG['port']} as user {PG['user']} ({problem})")


@contextlib.contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards even when the test fails.

    The name carries the process id and a counter, so parallel runs and several databases of one run never meet;
    the drop uses FORCE, so a connection a test left open cannot keep the database alive.
    """
    name = f"{prefix}_{os.getpid()}_{next(_numbers)}"
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    _admin(drop, f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        _admin(drop)


def _admin(*statements: str) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG) as conn:  # type: ignore[arg-type]
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]
