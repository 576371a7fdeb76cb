"""API tokens: who is calling, in which role, scoped to which hub.

Tokens are random, shown once, and stored as SHA-256 digests. Roles, from most to least trusted: ``admin`` (every
hub, tokens, hubs), ``hub_lead`` (one hub: its records, rounds, waves, decisions), ``coordinator`` (one hub: read,
decide proposals), ``read_only`` (one hub: read). A hub a token cannot see answers 404, not 403, so that its ids
do not leak.

A token may expire (``expires_at``; then it answers 401 "The API token has expired.") and an admin may revoke it
(``revoked``). Every request looks its token up in the database: one query on the unique digest index, with no
per-process cache. So a revoked token is refused by every server process on its very next request, reads and writes
alike; a cache could only offer that if every process were told of each revocation, which would cost more than the
query it saves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import g, redirect, request, url_for
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from api.context import db, reading
from api.errors import ApiError
from models import tables as t

ROLES = ("admin", "hub_lead", "coordinator", "read_only")
PUBLIC = ("/health", "/version", "/openapi.json", "/docs")
OPEN_PREFIXES = ("/docs/", "/ui/login", "/ui/static/")
COOKIE = "hubmatch_token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    """The caller: token name, role and hub (None for an admin, who sees every hub)."""

    name: str
    role: str
    hub_id: str | None

    def sees(self, hub_id: str) -> bool:
        return self.role == "admin" or self.hub_id == hub_id


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenError(ValueError):
    """A token that cannot be made or changed as asked; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def create_token(session: Session, name: str, role: str, hub_id: str | None) -> str:
    """Store a new token that never expires and return the token itself (see ``issue_token``)."""
    return issue_token(session, name, role, hub_id)[1]


def issue_token(
    session: Session, name: str, role: str, hub_id: str | None, expires_at: datetime | None = None
) -> tuple[t.Token, str]:
    """Store a new token's digest; returns its row (flushed, so it has an id) and the token itself (the only time it
    exists in clear). Raises TokenError naming what is wrong with the role, hub or expiry."""
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}", "role")
    if role != "admin" and hub_id is None:
        raise TokenError(f"a {role} token needs a hub", "hub_id")
    if hub_id is not None and session.get(t.Hub, hub_id) is None:
        raise TokenError(f"no hub {hub_id!r}", "hub_id")
    if expires_at is not None and expires_at <= t.now():
        raise TokenError("the expiry must be in the future", "expires_at")
    token = "hm_" + secrets.token_urlsafe(32)
    row = t.Token(name=name, digest=digest(token), role=role, hub_id=hub_id, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, token


def revoke_token(row: t.Token) -> None:
    """Revoke a token (refused from the next request on, by every process); TokenError if it already is."""
    if row.revoked:
        raise TokenError(f"token {row.id} ({row.name}) is already revoked", "revoked")
    row.revoked, row.revoked_at = True, t.now()


def token_details(row: t.Token) -> dict[str, Any]:
    """What the audit log keeps of a token: who holds it and what it may do, never its secret or digest."""
    expires = row.expires_at.isoformat() if row.expires_at is not None else None
    return {"name": row.name, "role": row.role, "hub_id": row.hub_id, "expires_at": expires}


def csrf_token(token: str) -> str:
    """The CSRF value of a cookie session: derived from the token, so the server keeps no state for it."""
    return hmac.new(token.encode("utf-8"), b"hubmatch-csrf", hashlib.sha256).hexdigest()


class Expired(Exception):
    """A token that exists and is not revoked, but whose expiry has passed."""


def lookup(conn: Connection | Session, token: str) -> Principal | None:
    """The principal of a token that exists and is not revoked, else None; raises ``Expired`` for an expired one."""
    row = conn.execute(
        select(t.Token.name, t.Token.role, t.Token.hub_id, t.Token.expires_at).where(
            t.Token.digest == digest(token), t.Token.revoked.is_(False)
        )
    ).first()
    if row is None:
        return None
    if row.expires_at is not None and row.expires_at <= t.now():
        raise Expired
    return Principal(row.name, row.role, row.hub_id)


def authenticate() -> WerkzeugResponse | None:
    """Set ``g.principal`` from the bearer token (or the review page's cookie), or refuse with 401.

    Public paths pass without a token. A page request without a valid token is sent to the sign-in page. A
    cookie-authenticated request that changes anything must carry the page's CSRF header. The lookup runs on a
    pooled autocommit connection (``reading``): one statement, no transaction, and no session opened for a view
    that only reads.
    """
    g.principal = None
    if request.path in PUBLIC or request.path.startswith(OPEN_PREFIXES):
        return None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    header_token = bearer.strip() if scheme.lower() == "bearer" else ""
    token = header_token or request.cookies.get(COOKIE, "")
    from_cookie = not header_token
    try:
        who = _lookup_once(token) if token else None
    except Expired:
        if request.path.startswith("/ui"):
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        raise ApiError(401, "The API token has expired.") from None
    if who is None:
        if request.path.startswith("/ui"):
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        if not token:
            raise ApiError(401, "Send an API token as 'Authorization: Bearer <token>'.")
        raise ApiError(401, "The API token is not valid.")
    if from_cookie:
        g.csrf = csrf_token(token)
        sent = request.headers.get("X-CSRF-Token", "")
        if request.method not in SAFE_METHODS and not request.path.startswith("/ui/") \
                and not hmac.compare_digest(sent, g.csrf):
            raise ApiError(403, "A request signed in by cookie must send the page's X-CSRF-Token header.")
    g.principal = who
    return None


def _lookup_once(token: str) -> Principal | None:
    with reading() as conn:
        return lookup(conn, token)


def principal() -> Principal:
    return g.principal


def require_admin() -> Principal:
    """The caller, if an admin (tokens and other cross-hub matters); else 403."""
    who = principal()
    if who.role != "admin":
        raise ApiError(403, f"A {who.role} token cannot do this; it needs an admin token.")
    return who


def require(*roles: str) -> Principal:
    """The caller, if their role is one of ``roles`` (admins always are); else 403."""
    who = principal()
    if who.role != "admin" and who.role not in roles:
        raise ApiError(403, f"A {who.role} token cannot do this; it needs one of: {', '.join(('admin', *roles))}.")
    return who


def visible_hub(session: Session, hub_id: str) -> t.Hub:
    """The hub, if the caller may see it; 404 otherwise (also when it exists but belongs to someone else)."""
    hub = session.get(t.Hub, hub_id)
    if hub is None or not principal().sees(hub_id):
        raise ApiError(404, f"No hub {hub_id!r}.")
    return hub


def visible_round(round_id: int) -> t.Round:
    """The round, if its hub is visible to the caller; 404 otherwise."""
    round_ = db().get(t.Round, round_id)
    if round_ is None or not principal().sees(round_.hub_id):
        raise ApiError(404, f"No round {round_id}.")
    return round_
