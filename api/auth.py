"""API tokens: who is calling, in which role, scoped to which hub.

Tokens are random, shown once, and stored as SHA-256 digests. Roles, from most to least trusted: ``admin`` (every
hub, tokens, hubs), ``hub_lead`` (one hub: its records, rounds, waves, decisions), ``coordinator`` (one hub: read,
decide proposals), ``read_only`` (one hub: read). A hub a token cannot see answers 404, not 403, so that its ids
do not leak.

Looking a token up is one query per request; for the read-heavy review work each server process keeps what it
found for a few seconds (``TokenCache``). The price is stated and bounded: a token revoked or deleted in the
database keeps working in a process that looked it up within the last ``TOKEN_CACHE_SECONDS`` (5 s by default;
0 turns the cache off), never longer. Only valid tokens are kept, so a token created a moment ago works at once
and a wrong token is always checked against the database. Roles and hub scoping are applied to the cached
principal exactly as to one read from the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from flask import g, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

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


class TokenCache:
    """Principals of recently seen valid tokens, keyed by the token's digest, each for at most ``ttl_s`` seconds.

    An entry is dated from before the database was read, so the time a revoked token can still pass is bounded
    by the TTL from the revocation, even when the lookup that filled the entry was slow. The cache holds at most
    ``MAX_ENTRIES`` tokens (a process sees a handful): when full, expired entries go, then everything.
    """

    DEFAULT_TTL_S = 5.0
    MAX_ENTRIES = 4096

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock  # a test moves time on by replacing it
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        """The cached principal of this digest if it was read from the database less than ``ttl_s`` ago."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry[0] >= self.ttl_s:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: str, who: Principal, read_at: float) -> None:
        """Remember a principal read from the database at ``read_at`` (the clock's value before the query)."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                now = self.clock()
                self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl_s}
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
            self._entries[key] = (read_at, who)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


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


def lookup(session: Session, token: str, cache: TokenCache | None = None) -> Principal | None:
    """The principal of a token that exists and is not revoked (from the cache if it is fresh there), else None."""
    key = digest(token)
    if cache is not None and (who := cache.get(key)) is not None:
        return who
    read_at = cache.clock() if cache is not None else 0.0
    row = session.execute(
        select(t.Token.name, t.Token.role, t.Token.hub_id).where(t.Token.digest == key, t.Token.revoked.is_(False))
    ).first()
    if row is None:
        return None
    who = Principal(row.name, row.role, row.hub_id)
    if cache is not None:
        cache.put(key, who, read_at)
    return who


def authenticate(session: Session, cache: TokenCache | None = None) -> WerkzeugResponse | None:
    """Set ``g.principal`` from the bearer token (or the review page's cookie), or refuse with 401.

    Public paths pass without a token. A page request without a valid token is sent to the sign-in page. A
    cookie-authenticated request that changes anything must carry the page's CSRF header. ``cache`` (see
    ``TokenCache``) spares the database the lookup of a token seen in the last few seconds.
    """
    g.principal = None
    if request.path in PUBLIC or request.path.startswith(OPEN_PREFIXES):
        return None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    header_token = bearer.strip() if scheme.lower() == "bearer" else ""
    token = header_token or request.cookies.get(COOKIE, "")
    from_cookie = not header_token
    who = lookup(session, token, cache) if token else None
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
