"""Security headers on every response: a Content-Security-Policy, no sniffing, no framing, no referrer across
sites, and no caching of anything a token signed for.

The review page loads its script and style from ``/ui/static`` only; its map is an inline SVG drawn by the server
(no script in it). Its map tooltip is placed by script through the CSSOM, which a style policy does not restrict;
``'unsafe-inline'`` for styles (never scripts) stays for the panels' templates.
Swagger UI at ``/docs`` starts itself with an inline script, so its pages alone allow inline script.
"""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.wrappers import Response

from api.auth import COOKIE

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def add_headers(response: Response) -> Response:
    """Set the security headers (``after_request``); ``no-store`` when the request carried a token or cookie."""
    docs = request.path == "/docs" or request.path.startswith("/docs/")
    response.headers["Content-Security-Policy"] = DOCS_POLICY if docs else PAGE_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"  # no-referrer makes a browser send Origin: null
    if g.get("principal") is not None or "Authorization" in request.headers or COOKIE in request.cookies:
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(add_headers)
