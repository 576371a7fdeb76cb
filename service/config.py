"""The service's settings: every one from a ``HUBMATCH_...`` environment variable, with its default here.

| variable | default | meaning |
|---|---|---|
| ``HUBMATCH_DATABASE_URL`` (or ``DATABASE_URL``) | ``sqlite:///hubmatch.sqlite`` | where the data lives |
| ``HUBMATCH_BROKER_URL`` | embedded (1) | the solve queue: ``redis://host:port/db`` or ``sqlite:///path`` |
| ``HUBMATCH_QUEUE_NAME`` | ``hubmatch`` | the queue's name on the broker (several services may share one Redis) |
| ``HUBMATCH_SOLVE_GRACE_S`` | 30 | how long past its time limit a solve may run before its worker is killed |
| ``HUBMATCH_REAPER_INTERVAL_S`` | 1 | how often each worker's supervisor looks at the jobs |
| ``HUBMATCH_WORKER_STALE_S`` | 30 | a running job whose worker has not said it is alive for this long is failed |
| ``HUBMATCH_REQUEUE_AFTER_S`` | 10 | a queued job missing from the broker this long after it was queued is sent again |
| ``HUBMATCH_SYNC_SOLVE_S`` | 30 | the longest ``?wait=`` of a solve request |
| ``HUBMATCH_SMTP_URL`` | none (2) | where messages go: ``smtp://user:pass@host:port`` or ``smtps://...`` |
| ``HUBMATCH_OUTBOX_DIR`` | beside the database (2) | the folder of messages when there is no SMTP server |
| ``HUBMATCH_MAIL_FROM`` | ``hubmatch@localhost`` | the sender of every message |
| ``HUBMATCH_MAIL_RETRY_S`` | 30 | the first wait before a message refused for now is tried again (doubling) |
| ``HUBMATCH_MAIL_LEASE_S`` | 120 | a message claimed this long ago and not yet sent (its worker died) goes again |

(1) A SQLite file beside a SQLite database (``hubmatch.sqlite`` -> ``hubmatch-queue.sqlite``), else
``hubmatch-queue.sqlite`` in the working directory: the embedded queue, which needs no broker server.
(2) Without ``HUBMATCH_SMTP_URL`` nothing is sent: each message is written as an ``.eml`` file into
``HUBMATCH_OUTBOX_DIR``, by default a folder beside a SQLite database (``hubmatch.sqlite`` -> ``hubmatch-mail/``),
else ``hubmatch-mail/`` in the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from models.store import DEFAULT_URL, LOCK_WAIT_S

EMBEDDED_BROKER = "sqlite:///hubmatch-queue.sqlite"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_URL
    broker_url: str = ""  # from the database's place when not given (``embedded_broker``)
    queue_name: str = "hubmatch"
    solve_grace_s: float = 30.0
    reaper_interval_s: float = 1.0
    worker_stale_s: float = 30.0
    lock_wait_s: float = LOCK_WAIT_S  # how long a request or a solve waits on a lock another connection holds
    requeue_after_s: float = 10.0
    sync_solve_s: float = 30.0
    smtp_url: str = ""
    outbox_dir: str = ""  # from the database's place when not given (``embedded_outbox``)
    mail_from: str = "hubmatch@localhost"
    mail_retry_s: float = 30.0
    mail_lease_s: float = 120.0

    @property
    def embedded(self) -> bool:
        """Whether the queue is the SQLite file of this machine (no broker server): workers must run beside it."""
        return self.broker_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of this process: defaults, then ``HUBMATCH_...`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV[f.name]) or (env.get("DATABASE_URL") if f.name == "database_url" else None)
            if raw:
                values[f.name] = _parse(f.name, raw, type(getattr(cls, f.name)))
        settings = replace(cls(**values), **{k: v for k, v in overrides.items() if v is not None})
        if not settings.broker_url:
            settings = replace(settings, broker_url=embedded_broker(settings.database_url))
        if not settings.outbox_dir:
            settings = replace(settings, outbox_dir=embedded_outbox(settings.database_url))
        return settings


def embedded_broker(database_url: str) -> str:
    """The queue file of a service with no broker server: beside its SQLite database, so that each database (a
    test's, a demo's) has its own queue, or in the working directory when the database is elsewhere."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        path = Path(database_url.removeprefix("sqlite:///"))
        return f"sqlite:///{path.with_name(path.stem + '-queue.sqlite')}"
    return EMBEDDED_BROKER


def embedded_outbox(database_url: str) -> str:
    """The folder messages are written to when no SMTP server is named: beside a SQLite database, so that a test's
    or a demo's messages stay with its data, else ``hubmatch-mail`` in the working directory."""
    if database_url.startswith("sqlite:///") and ":memory:" not in database_url:
        path = Path(database_url.removeprefix("sqlite:///"))
        return str(path.with_name(path.stem + "-mail"))
    return "hubmatch-mail"


ENV = {
    "database_url": "HUBMATCH_DATABASE_URL",
    "broker_url": "HUBMATCH_BROKER_URL",
    "queue_name": "HUBMATCH_QUEUE_NAME",
    "solve_grace_s": "HUBMATCH_SOLVE_GRACE_S",
    "reaper_interval_s": "HUBMATCH_REAPER_INTERVAL_S",
    "worker_stale_s": "HUBMATCH_WORKER_STALE_S",
    "lock_wait_s": "HUBMATCH_LOCK_WAIT_S",
    "requeue_after_s": "HUBMATCH_REQUEUE_AFTER_S",
    "sync_solve_s": "HUBMATCH_SYNC_SOLVE_S",
    "smtp_url": "HUBMATCH_SMTP_URL",
    "outbox_dir": "HUBMATCH_OUTBOX_DIR",
    "mail_from": "HUBMATCH_MAIL_FROM",
    "mail_retry_s": "HUBMATCH_MAIL_RETRY_S",
    "mail_lease_s": "HUBMATCH_MAIL_LEASE_S",
}


def _parse(name: str, raw: str, kind: type) -> Any:
    """A variable's value as its setting's type; a bad number stops the process with the variable named."""
    if kind is str:
        return raw
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV[name]}={raw!r} is not a number") from None
    if not 0 < value < 86400:
        raise ValueError(f"{ENV[name]}={raw!r} must be a number of seconds above 0 and below a day")
    return value
