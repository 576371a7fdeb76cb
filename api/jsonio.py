"""JSON out of the service with orjson, byte for byte what Flask's own provider wrote.

Encoding a page of 50 proposals (each with its cost components and alternatives) with the standard library took
about a sixth of a read's CPU; orjson does it in a few microseconds. The output keeps the old provider's form:
compact, keys sorted, a trailing newline, and the same rendering of the types orjson does not handle alike
(datetimes, dataclasses and anything else go through Flask's ``default``, so a stray datetime is still an HTTP
date). Non-ASCII text is written as UTF-8 rather than ``\\uXXXX`` escapes: the same JSON for any reader. Whatever
orjson refuses (an integer beyond 64 bits, a key that is not a string) falls back to the standard library, so no
response that used to work can fail here. One deliberate difference: a float NaN or infinity becomes ``null``
where the standard library wrote ``NaN``, which is not JSON at all (none is ever stored: PostgreSQL's json type
and the validators refuse them).

Request bodies are still parsed by the standard library: it accepts what clients have always sent (and the
validators, not the parser, refuse NaN with their own messages).

``StoredJSON`` lets a view put a JSON column's text, as the database holds it, into a response without parsing it
and encoding it again (a proposal's components and alternatives: the bulk of a page of proposals).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response as BaseResponse

OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class StoredJSON:
    """The text of a JSON value as the database stored it (written by ``json.dumps``, so valid JSON), written into
    a response as it is: the same value, with the stored spacing and key order."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return f"StoredJSON({self.text!r})"


def dump_bytes(obj: Any, default: Any) -> bytes | None:
    """``obj`` as compact, key-sorted JSON bytes; None when orjson cannot encode it exactly as ``json`` would."""
    try:
        return orjson.dumps(obj, default=default, option=OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return None


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider with orjson for responses; the standard library stays for what orjson refuses."""

    def response(self, *args: Any, **kwargs: Any) -> BaseResponse:
        """The response Flask's provider would build (compact, sorted keys, newline), encoded by orjson."""
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(*args, **kwargs)  # indented output for a person reading in debug mode
        return self.bytes_response(self._prepare_response_obj(args, kwargs))

    def bytes_response(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response of ``obj`` (for the views that build plain dicts and skip flask-smorest's dump)."""
        body = dump_bytes(obj, self._orjson_default)
        if body is None:
            body = self.dumps(obj, separators=(",", ":"), default=self._plain_default).encode("utf-8")
        return Response(body + b"\n", status=status, headers=headers, mimetype=self.mimetype)

    def _orjson_default(self, value: Any) -> Any:
        """Stored JSON as an orjson fragment (copied as it is); anything else as Flask's provider renders it."""
        if type(value) is StoredJSON:
            return orjson.Fragment(value.text)
        return self.default(value)

    def _plain_default(self, value: Any) -> Any:
        """The standard library's fallback: stored JSON parsed, so that it is encoded like any value."""
        if type(value) is StoredJSON:
            return json.loads(value.text)
        return self.default(value)
