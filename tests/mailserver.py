"""A real SMTP server for the tests (aiosmtpd) on 127.0.0.1: it keeps what it accepts, and can refuse addresses
for good (550) or for now (451), answer slowly, and be stopped and started again on the same port."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    """One message the server accepted: its envelope and the parsed message."""

    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def key(self) -> str:
        return str(self.message["X-Hubmatch-Key"])


@dataclass
class _Handler:
    refuse: set[str] = field(default_factory=set)  # 550 for these addresses
    defer: set[str] = field(default_factory=set)  # 451 for these addresses
    slow_s: float = 0.0  # each RCPT waits this long (a slow server)
    stall_after: int | None = None  # once this many messages are in, RCPT hangs: a client killed then sent nothing
    stalled: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.slow_s:
            await asyncio.sleep(self.slow_s)
        while self.stall_after is not None and len(self.received) >= self.stall_after:
            self.stalled.set()
            await asyncio.sleep(0.05)
        if address in self.refuse:
            return "550 5.1.1 No such mailbox here"
        if address in self.defer:
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore
        return "250 Message accepted for delivery"


class SmtpServer:
    """``with SmtpServer() as server:``: a server on a port of its own; ``url`` is the HUBMATCH_SMTP_URL."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = _Handler()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def wait_for(self, count: int, timeout_s: float = 60.0) -> list[Received]:
        """Wait until the server has accepted at least ``count`` messages."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} messages in {timeout_s} s"
            time.sleep(0.05)
        return self.received

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
