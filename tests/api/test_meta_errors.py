"""Public endpoints (health, version, the OpenAPI document and the docs page) and the error shape of every kind of
failure: malformed JSON, too large a body, unknown routes, wrong methods, unexpected exceptions."""

from __future__ import annotations

import contextlib
import json
import re
import time

import pytest
from locks import lock_held

from api.auth import create_token
from hubmatch import __version__
from models.store import transaction

API_PATHS = {
    "/health": {"get"},
    "/version": {"get"},
    "/hubs": {"get", "post"},
    "/hubs/{hub_id}": {"get", "patch"},
    "/hubs/{hub_id}/schools": {"get", "post"},
    "/hubs/{hub_id}/schools/{record_id}": {"get", "put", "delete"},
    "/hubs/{hub_id}/schools/{record_id}/retire": {"post"},
    "/hubs/{hub_id}/schools/{record_id}/reinstate": {"post"},
    "/hubs/{hub_id}/schools/import": {"post"},
    "/hubs/{hub_id}/advisers": {"get", "post"},
    "/hubs/{hub_id}/advisers/{record_id}": {"get", "put", "delete"},
    "/hubs/{hub_id}/advisers/{record_id}/retire": {"post"},
    "/hubs/{hub_id}/advisers/{record_id}/reinstate": {"post"},
    "/hubs/{hub_id}/advisers/import": {"post"},
    "/hubs/{hub_id}/employers": {"get", "post"},
    "/hubs/{hub_id}/employers/{record_id}": {"get", "put", "delete"},
    "/hubs/{hub_id}/employers/{record_id}/retire": {"post"},
    "/hubs/{hub_id}/employers/{record_id}/reinstate": {"post"},
    "/hubs/{hub_id}/employers/import": {"post"},
    "/hubs/{hub_id}/rounds": {"get", "post"},
    "/hubs/{hub_id}/waves": {"post"},
    "/hubs/{hub_id}/pairings": {"get"},
    "/rounds/{round_id}": {"get", "patch"},
    "/rounds/{round_id}/solve": {"post"},
    "/rounds/{round_id}/compare": {"post"},
    "/rounds/{round_id}/gaps": {"post"},
    "/rounds/{round_id}/publish": {"post"},
    "/rounds/{round_id}/unmatched": {"get"},
    "/rounds/{round_id}/idle": {"get"},
    "/rounds/{round_id}/decisions": {"get"},
    "/rounds/{round_id}/decisions/batch": {"post"},
    "/rounds/{round_id}/proposals": {"get"},
    "/rounds/{round_id}/export": {"get"},
    "/rounds/{round_id}/recommend": {"post"},
    "/proposals/{proposal_id}": {"get"},
    "/proposals/{proposal_id}/decision": {"post"},
    "/jobs/{job_id}": {"get"},
    "/tokens": {"get", "post"},
    "/tokens/{token_id}/revoke": {"post"},
    "/hubs/{hub_id}/audit": {"get"},
    "/audit": {"get"},
    "/hubs/{hub_id}/contacts": {"get"},
    "/hubs/{hub_id}/contacts/{collection}/{record_id}": {"get", "put", "delete"},
    "/rounds/{round_id}/messages": {"get"},
}
NOT_API = ("/docs", "/static/", "/ui", "/openapi.json")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def test_health_is_public_and_names_the_database(anonymous, backend):
    reply = anonymous.get("/health")
    assert reply.status_code == 200
    assert reply.json == {"status": "ok", "database": backend}


def test_version_is_public(anonymous):
    reply = anonymous.get("/version")
    assert reply.status_code == 200
    assert reply.json == {"version": __version__, "api": "1"}


def test_openapi_document_is_public_valid_openapi_3_with_every_path(anonymous):
    reply = anonymous.get("/openapi.json")
    assert reply.status_code == 200
    doc = reply.json
    assert re.fullmatch(r"3\.\d+\.\d+", doc["openapi"])
    assert doc["info"] == {"title": "hubmatch", "version": __version__}
    assert {path: {m for m in ops if m in HTTP_METHODS} for path, ops in doc["paths"].items()} == API_PATHS
    assert doc["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    assert doc["security"] == [{"bearer": []}]
    _check_structure(doc)


def _check_structure(doc: dict) -> None:
    """What a validator checks that matters here: every operation has responses, every path parameter is declared
    as a required path parameter, every $ref resolves, operation ids are unique."""
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(doc)
    assert refs, "the document should use components"
    for ref in refs:
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"unresolved {ref}"
            node = node[part]
    operation_ids = []
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        shared = item.get("parameters", [])
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            assert op["responses"], (path, method)
            for status in op["responses"]:
                assert re.fullmatch(r"[1-5]\d\d|default", str(status)), (path, method, status)
            params = [p for p in shared + op.get("parameters", []) if p.get("in") == "path"]
            assert {p["name"] for p in params} == names, (path, method)
            assert all(p["required"] is True for p in params), (path, method)
            operation_ids.append(op.get("operationId", f"{method} {path}"))
    assert len(operation_ids) == len(set(operation_ids))
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


def test_openapi_document_passes_the_reference_validator(anonymous):
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is not installed")
    validator.validate(anonymous.get("/openapi.json").json)


def test_every_api_route_is_in_the_openapi_document(app):
    documented = {re.sub(r"{(\w+)}", r"<\1>", path) for path in API_PATHS}
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"<\1>", rule.rule)
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(NOT_API)
    }
    assert routes == documented


def test_docs_page_loads_with_its_assets_from_docs_static(anonymous):
    page = anonymous.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'url: "/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="(/docs/static/[^"]+)"', html)
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    assert not re.search(r'(?:src|href)="https?://', html), "the docs must work without the network"
    for asset in assets:
        served = anonymous.get(asset)
        assert served.status_code == 200, asset
        assert len(served.data) > 1000, asset
    assert anonymous.get("/docs/static/swagger-ui-bundle.js").mimetype in ("text/javascript", "application/javascript")


# --- errors ---------------------------------------------------------------------------------------------------------


def test_malformed_json_is_400_in_the_error_shape(admin, make_hub, expect_error):
    reply = admin.post("/hubs", data='{"id": "x", "name":', content_type="application/json")
    expect_error(reply, 400, "bad_request", details={"json": ["Invalid JSON body."]})
    hub = make_hub()
    reply = admin.post(f"/hubs/{hub}/schools/import", data="[{", content_type="application/json")
    expect_error(reply, 400, "bad_request", "The body is not valid JSON.", None)
    reply = admin.post(f"/hubs/{hub}/schools", data=b"\xff\xfe{", content_type="application/json")
    expect_error(reply, 400, "bad_request")


def test_body_over_the_limit_is_413_in_the_error_shape(admin, make_hub, expect_error, app):
    assert app.config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024
    hub = make_hub()
    big = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    for url, mimetype in (
        ("/hubs", "application/json"),
        (f"/hubs/{hub}/schools", "application/json"),
    ):  # imports take up to 64 MB: tests/api/test_imports_files.py
        reply = admin.post(url, data=big, content_type=mimetype)
        expect_error(reply, 413, "payload_too_large")
    assert admin.get(f"/hubs/{hub}/schools").json["total"] == 0


def test_body_just_under_the_limit_is_read(admin, make_hub, expect_error):
    hub = make_hub()
    padded = json.dumps([{"id": "S1", "name": "x" * 100, "lat": 53.7, "lon": -2.7}]) + " " * (9 * 1024 * 1024)
    reply = admin.post(f"/hubs/{hub}/schools/import", data=padded, content_type="application/json")
    assert reply.status_code == 200, reply.json
    assert reply.json == {"created": 1, "updated": 0}


def test_unknown_route_is_404_in_the_error_shape(admin, anonymous, expect_error):
    expect_error(admin.get("/no/such/route"), 404, "not_found")
    expect_error(admin.post("/rounds/abc/solve"), 404, "not_found")  # <int:round_id> does not match
    # without a token the service does not say which routes exist
    expect_error(
        anonymous.get("/no/such/route"), 401, "unauthorized", "Send an API token as 'Authorization: Bearer <token>'."
    )


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("DELETE", "/hubs", {"GET", "POST"}),
        ("PUT", "/hubs", {"GET", "POST"}),
        ("DELETE", "/hubs/any", {"GET", "PATCH"}),
        ("GET", "/rounds/1/solve", {"POST"}),
        ("DELETE", "/proposals/1", {"GET"}),
        ("POST", "/health", {"GET"}),
        ("PUT", "/version", {"GET"}),
    ],
)
def test_wrong_method_is_405_in_the_error_shape_with_allow(admin, expect_error, method, url, allowed):
    reply = admin.open(method, url)
    expect_error(reply, 405, "method_not_allowed", "The method is not allowed for the requested URL.")
    assert set(reply.headers["Allow"].replace(" ", "").split(",")) - {"HEAD", "OPTIONS"} == allowed


def test_unsupported_upload_type_is_415(admin, make_hub, expect_error):
    hub = make_hub()
    reply = admin.post(f"/hubs/{hub}/schools/import", data="id,name\nS1,x\n", content_type="text/plain")
    expect_error(
        reply, 415, "unsupported_media_type", "Send JSON (application/json), CSV (text/csv) or an Excel workbook "
        "(.xlsx), as the body or as a multipart 'file'."
    )


def test_unexpected_exception_is_500_without_a_trace(new_app, expect_error, caplog):
    other = new_app()

    def boom() -> None:
        raise RuntimeError("secret internals /srv/hubmatch/api.py line 12")

    other.add_url_rule("/boom", "boom", boom)
    from api.auth import create_token
    from models.store import transaction

    with transaction(other.extensions["hubmatch.sessions"]) as session:
        token = create_token(session, "boom", "admin", None)
    reply = other.test_client().get("/boom", headers={"Authorization": f"Bearer {token}"})
    expect_error(reply, 500, "internal_error", "An unexpected error occurred; it has been logged.", None)
    assert "secret internals" not in reply.get_data(as_text=True)
    assert any("unexpected error" in r.getMessage() for r in caplog.records)


def writes_locked(database_url: str) -> contextlib.AbstractContextManager[None]:
    """The lock a new hub's row needs: on SQLite the file's write lock, on PostgreSQL the hubs table's (reads go
    on), as a process stopped in the middle of a write would hold it."""
    return lock_held(database_url, "LOCK TABLE hubs IN EXCLUSIVE MODE")


def test_a_lock_held_too_long_is_503_with_retry_after_and_the_request_can_be_sent_again(
    app, new_app, database_url, expect_error, monkeypatch
):
    """``app`` has migrated the database; ``other`` is a second server on it that waits on a lock for 0.5 s."""
    monkeypatch.setenv("HUBMATCH_LOCK_WAIT_S", "0.5")
    other = new_app()
    with transaction(other.extensions["hubmatch.sessions"]) as session:
        token = create_token(session, "busy", "admin", None)
    client, auth = other.test_client(), {"Authorization": f"Bearer {token}"}
    hub = {"id": f"busy-{database_url[:6]}", "name": "Busy hub"}
    with writes_locked(database_url):
        began = time.monotonic()
        reply = client.post("/hubs", json=hub, headers=auth)
        waited = time.monotonic() - began
    expect_error(reply, 503, "busy", "The database is busy (another change held a lock on it for too long); try "
                 "again in a moment.", None)
    assert reply.headers["Retry-After"] == "5"
    assert 0.5 <= waited < 10.0, waited  # the engine's lock wait, not the default 30 s
    assert client.get(f"/hubs/{hub['id']}", headers=auth).status_code == 404  # nothing half-written
    assert client.post("/hubs", json=hub, headers=auth).status_code == 201


def test_validation_errors_are_422_with_field_details(admin, expect_error):
    reply = admin.post("/hubs", json={"id": "bad id!", "name": "", "extra": 1})
    error = expect_error(reply, 422, "invalid_input", "The request is not valid: see details.")
    assert error["details"] == {
        "json": {
            "id": ["Ids are 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or a digit."],
            "name": ["Length must be between 1 and 200."],
            "extra": ["Unknown field."],
        }
    }
