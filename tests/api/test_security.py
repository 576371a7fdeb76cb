"""Security headers on API, page, error and docs responses; the sign-in page refuses cross-site posts."""

from __future__ import annotations

import pytest

from api.security import DOCS_POLICY, PAGE_POLICY


def _common(reply) -> None:
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]


def test_headers_on_api_error_page_and_docs(admin, anonymous):
    api = admin.get("/hubs")
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"
    assert api.headers["Content-Security-Policy"] == PAGE_POLICY
    error = admin.get("/rounds/987654321")
    assert error.status_code == 404 and error.headers["Cache-Control"] == "no-store"
    page = anonymous.get("/ui/login")
    assert page.status_code == 200 and "Cache-Control" not in page.headers
    docs = anonymous.get("/docs")
    assert docs.status_code == 200 and docs.headers["Content-Security-Policy"] == DOCS_POLICY
    unauthorised = anonymous.get("/hubs")
    assert unauthorised.status_code == 401
    for reply in (api, error, page, docs, unauthorised):
        _common(reply)


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Referer": "https://evil.example/form"}, 403),
        ({"Origin": "http://localhost"}, 401),  # its own origin: the token is checked (and is wrong)
        ({"Referer": "http://localhost/ui/login"}, 401),
    ],
)
def test_sign_in_refuses_a_cross_site_post(anonymous, headers, status):
    reply = anonymous.client.post("/ui/login", data={"token": "hm_wrong"}, headers=headers)
    assert reply.status_code == status
    if status == 403:
        assert "Sign-in from another site is refused" in reply.get_data(as_text=True)
