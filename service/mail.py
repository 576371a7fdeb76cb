"""Where messages go: an SMTP server (``HUBMATCH_SMTP_URL``), or, by default, ``.eml`` files in a folder.

A mailer either sends a message or raises ``Refused`` (the server will never take it for this address: an SMTP
5xx reply, which marks the address bounced) or ``TryLater`` (a 4xx reply, a refused or dropped connection, a
timeout: the message waits and is tried again). The folder mailer names each file after the message's outbox key,
so writing it again replaces it: a retried delivery leaves one file.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from hashlib import sha256
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class Refused(Exception):
    """The server refused the message for good (SMTP 5xx): the address is marked bounced."""


class TryLater(Exception):
    """The message could not be sent now (SMTP 4xx, no connection, timeout): it is tried again later."""


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


class SmtpMailer:
    """Sends through ``smtp://user:pass@host:port`` (STARTTLS when the server offers it) or ``smtps://``.

    One connection serves a whole delivery run (opened on the first message, closed by ``close``), so that the
    moment between the server accepting a message and the outbox recording it holds no round trip of its own;
    any failure drops the connection, and the next message opens a new one.
    """

    def __init__(self, url: str, timeout_s: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"HUBMATCH_SMTP_URL must be smtp://user:pass@host:port or smtps://..., not {url!r}")
        self.tls = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout_s = timeout_s
        self._smtp: smtplib.SMTP | None = None

    def describe(self) -> str:
        return f"{'smtps' if self.tls else 'smtp'}://{self.host}:{self.port}"  # never the password

    def send(self, message: EmailMessage) -> None:
        try:
            self._raw_send(message)
        except smtplib.SMTPRecipientsRefused as err:  # every recipient refused (a message has one)
            code, text = next(iter(err.recipients.values()))
            raise (Refused if code >= 500 else TryLater)(f"{code} {_text(text)}") from None
        except (smtplib.SMTPSenderRefused, smtplib.SMTPAuthenticationError) as err:
            # the service's own sender or login is wrong: no recipient's fault, so no address is marked
            hint = "(check HUBMATCH_MAIL_FROM and the login)"
            raise TryLater(f"{err.smtp_code} {_text(err.smtp_error)} {hint}") from None
        except smtplib.SMTPResponseException as err:
            raise (Refused if err.smtp_code >= 500 else TryLater)(f"{err.smtp_code} {_text(err.smtp_error)}") from None
        except (smtplib.SMTPException, OSError) as err:  # refused connection, dropped connection, timeout
            raise TryLater(f"{type(err).__name__}: {err}") from None

    def _raw_send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except Exception:
            self._drop()
            raise

    def close(self) -> None:
        """Say goodbye to the server (QUIT) once the run's messages are recorded."""
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                self._drop()

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        if self.tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                                  context=ssl.create_default_context())
            if self.user:
                smtp.login(self.user, self.password or "")
            return smtp
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if self.user:
            smtp.login(self.user, self.password or "")
        return smtp


class FolderMailer:
    """The embedded default: each message becomes ``<folder>/<key>.eml``; nothing leaves the machine."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def describe(self) -> str:
        return f"the folder {self.folder}"

    def close(self) -> None:
        """Nothing to close: each message is its own file."""

    def send(self, message: EmailMessage) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / file_name(message["X-Hubmatch-Key"])
            partial = path.with_suffix(".part")
            partial.write_bytes(bytes(message))
            os.replace(partial, path)  # whole or not at all
        except OSError as err:
            raise TryLater(f"cannot write to {self.folder}: {err}") from None


def file_name(key: str) -> str:
    """A message's file name from its outbox key (``round-3:adviser:A00012`` -> ``round-3_adviser_A00012.eml``)."""
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in key)
    return f"{safe[:150]}-{sha256(key.encode()).hexdigest()[:8]}.eml"


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply))[:400]


def make_mailer(smtp_url: str, outbox_dir: str, timeout_s: float = 30.0) -> Mailer:
    """The SMTP mailer when a URL is set, else the folder."""
    return SmtpMailer(smtp_url, timeout_s) if smtp_url else FolderMailer(outbox_dir)
