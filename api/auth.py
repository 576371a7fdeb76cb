"""API tokens: who is calling, in which role, scoped to which hub.

Tokens are random, shown once, and stored as SHA-256 digests. Roles, from most to least trusted: ``admin`` (every
hub, tokens, hubs), ``hub_lead`` (one hub: its records, rounds, waves, decisions), ``coordinator`` (one hub: read,
decide proposals), ``read_only`` (one hub: read). A hub a token cannot see answers 404, not 403, so that its ids
do not leak.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import Response, g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

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


def create_token(session: Session, name: str, role: str, hub_id: str | None) -> str:
    """Store a new token's digest and return the token itself (the only time it exists in clear)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role != "admin" and hub_id is None:
        raise ValueError(f"a {role} token needs a hub")
    if hub_id is not None and session.get(t.Hub, hub_id) is None:
        raise ValueError(f"no hub {hub_id!r}")
    token = "hm_" + secrets.token_urlsafe(32)
    session.add(t.Token(name=name, digest=digest(token), role=role, hub_id=hub_id))
    return token


def csrf_token(token: str) -> str:
    """The CSRF value of a cookie session: derived from the token, so the server keeps no state for it."""
    return hmac.new(token.encode("utf-8"), b"hubmatch-csrf", hashlib.sha256).hexdigest()


def authenticate(session: Session) -> Response | None:
    """Set ``g.principal`` from the bearer token (or the review page's cookie), or refuse with 401.

    Public paths pass without a token. A page request without a valid token is sent to the sign-in page. A
    cookie-authenticated request that changes anything must carry the page's CSRF header.
    """
    g.principal = None
    if request.path in PUBLIC or request.path.startswith(OPEN_PREFIXES):
        return None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    header_token = bearer.strip() if scheme.lower() == "bearer" else ""
    token = header_token or request.cookies.get(COOKIE, "")
    from_cookie = not header_token
    row = session.scalar(select(t.Token).where(t.Token.digest == digest(token), t.Token.revoked.is_(False))) \
        if token else None
    if row is None:
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
    g.principal = Principal(row.name, row.role, row.hub_id)
    return None


def principal() -> Principal:
    return g.principal


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
