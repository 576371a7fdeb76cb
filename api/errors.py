"""Every error as ``{"error": {"code", "message", "details"}}`` with the right status, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, has_request_context, render_template, request
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from models import ProblemError
from models.lifecycle import TransitionError
from models.store import lock_refused

log = logging.getLogger("hubmatch.api")

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "busy",
}


class ApiError(Exception):
    """A domain error for the client: status, stable code, message and optional details."""

    def __init__(self, status: int, message: str, code: str | None = None, details: Any = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or CODES.get(status, "error")
        self.details = details


class ErrorBodySchema(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(allow_none=True)


class ErrorSchema(Schema):
    """The one error shape of the API (documented in the OpenAPI document)."""

    error = fields.Nested(ErrorBodySchema, required=True)


def body(status: int, message: str, code: str | None = None, details: Any = None) -> tuple[Any, int]:
    """The JSON error (or, for the review pages, the same error as a small HTML page)."""
    if has_request_context() and request.path.startswith("/ui"):
        return render_template("error.html", status=status, message=message), status
    return {"error": {"code": code or CODES.get(status, "error"), "message": message, "details": details}}, status


def http_error(error: HTTPException) -> tuple[dict, int, dict]:
    """Werkzeug and webargs errors (validation errors carry marshmallow's messages as details)."""
    data = getattr(error, "data", None) or {}
    status = error.code or 500
    details = data.get("errors") or data.get("messages")
    message = data.get("message") or error.description or error.name
    if status == 422 and details:
        message = "The request is not valid: see details."
    if status == 413:
        message = too_large()
    payload, status = body(status, message, details=details)
    own = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}  # e.g. a 405's Allow
    return payload, status, {**own, **(data.get("headers") or {})}


def too_large() -> str:
    """The 413's message, with the limit of the endpoint that refused the body."""
    limit = request.max_content_length if has_request_context() else None
    if limit is None:
        return "The request body is too large."
    return (f"The request body is larger than this endpoint's limit of {limit / 2**20:g} MB ({limit:,} bytes); "
            "split the file and send it in parts.")


def register(app: Flask) -> None:
    """Install the handlers on the app (flask-smorest's own HTTPException handler is replaced by ours)."""
    app.register_error_handler(ApiError, lambda e: body(e.status, e.message, e.code, e.details))
    app.register_error_handler(TransitionError, lambda e: body(409, str(e), "conflict"))
    app.register_error_handler(ProblemError, lambda e: body(422, str(e), e.code, e.as_dict()["details"]))
    app.register_error_handler(
        StaleDataError,
        lambda e: body(409, "Someone else changed this record first; reload it and try again.", "conflict"),
    )
    app.register_error_handler(IntegrityError, _integrity)
    app.register_error_handler(RecursionError, _too_deep)
    app.register_error_handler(DataError, _unstorable)
    app.register_error_handler(OperationalError, _busy)
    app.register_error_handler(Exception, _unexpected)


def _integrity(error: IntegrityError) -> tuple[dict, int]:
    log.info("integrity error: %s", error.orig)
    return body(409, "The change conflicts with existing data (a duplicate id or a missing reference).", "conflict")


def _unstorable(error: DataError) -> tuple[dict, int]:
    """A value the database cannot hold (PostgreSQL: a NUL character in text); the transaction is rolled back."""
    log.info("data error: %s", error.orig)
    return body(422, "A value cannot be stored: text may not contain NUL characters.", "invalid_input")


BUSY = "The database is busy (another change held a lock on it for too long); try again in a moment."
RETRY_AFTER_S = 5


def _busy(error: OperationalError) -> tuple[dict, int] | tuple[dict, int, dict]:
    """A lock held past the engine's ``lock_wait_s`` (a long import, a solve process stopped mid-write): the
    transaction is rolled back and the client may simply try again; any other database fault is unexpected."""
    if not lock_refused(error):
        return _unexpected(error)
    log.warning("a request gave up waiting for a database lock: %s", error.orig)
    payload, status = body(503, BUSY)
    return payload, status, {"Retry-After": str(RETRY_AFTER_S)}


def _too_deep(error: RecursionError) -> tuple[dict, int] | tuple[dict, int, dict]:
    """A JSON body nested thousands deep overflows the JSON parsers (Flask's and webargs'): the client's fault."""
    if has_request_context() and request.is_json:
        return body(400, "The JSON body is nested too deeply.")
    return _unexpected(error)


def _unexpected(error: Exception) -> tuple[dict, int] | tuple[dict, int, dict]:
    if isinstance(error, HTTPException):
        return http_error(error)
    log.exception("unexpected error")
    return body(500, "An unexpected error occurred; it has been logged.")
