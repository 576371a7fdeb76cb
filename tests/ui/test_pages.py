"""The review page without a browser: sign-in, scoping, filters, the map, CSRF on cookie sessions."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from ui_harness import Served


def signed_in(served: Served, role: str):  # type: ignore[no-untyped-def]
    client = served.app.test_client()  # type: ignore[attr-defined]
    response = client.post("/ui/login", data={"token": served.tokens[role], "next": f"/ui/rounds/{served.round_id}"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/ui/rounds/{served.round_id}"
    return client


def test_a_page_without_a_token_sends_to_sign_in(served: Served) -> None:
    response = served.app.test_client().get(f"/ui/rounds/{served.round_id}")  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert response.headers["Location"] == f"/ui/login?next=/ui/rounds/{served.round_id}"


def test_a_wrong_token_is_refused_at_sign_in(served: Served) -> None:
    response = served.app.test_client().post("/ui/login", data={"token": "hm_wrong"})  # type: ignore[attr-defined]
    assert response.status_code == 401
    assert b"That token is not valid." in response.data


def test_round_page_lists_every_school_with_its_proposals(served: Served) -> None:
    client = signed_in(served, "coordinator")
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    api = client.get(f"/rounds/{served.round_id}/proposals?per_page=1000",
                     headers={"Authorization": f"Bearer {served.tokens['coordinator']}"}).json
    assert page.count('class="proposal"') == api["total"]
    assert page.count('<tr id="school-') == 84
    assert "84 of 84 schools shown." in page


@pytest.mark.parametrize("show", ["undecided", "unmatched", "low_score", "long_distance"])
def test_filters_show_a_subset(served: Served, show: str) -> None:
    client = signed_in(served, "coordinator")
    page = client.get(f"/ui/rounds/{served.round_id}?show={show}").get_data(as_text=True)
    shown = page.count('<tr id="school-')
    assert f"{shown} of 84 schools shown." in page
    auth = {"Authorization": f"Bearer {served.tokens['coordinator']}"}
    proposals = client.get(f"/rounds/{served.round_id}/proposals?per_page=1000", headers=auth).json["items"]
    if show == "undecided":  # before any decision, exactly the schools with a proposal
        assert shown == len({p["school_id"] for p in proposals if p["state"] == "proposed"})
    elif show == "unmatched":  # a school with no partner in a role where a slot stayed open
        have = {(p["school_id"], p["role"]) for p in proposals}
        open_slots = client.get(f"/rounds/{served.round_id}/unmatched", headers=auth).json
        assert shown == len({u["school_id"] for u in open_slots if (u["school_id"], u["role"]) not in have})
    else:
        assert 0 < shown < 84


def test_an_unknown_filter_is_a_bad_request_page(served: Served) -> None:
    response = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}?show=nope")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_another_hubs_round_is_not_found(served: Served) -> None:
    response = signed_in(served, "coordinator").get("/ui/rounds/9999")
    assert response.status_code == 404
    assert b"No round 9999." in response.data


def test_map_svg_is_well_formed_and_hides_advisers_from_coordinators(served: Served) -> None:
    svg = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}/map.svg")
    root = ET.fromstring(svg.data)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == 84
    assert root.findall(f"{ns}rect[@class='adviser']") == []
    admin_svg = ET.fromstring(signed_in(served, "admin").get(f"/ui/rounds/{served.round_id}/map.svg").data)
    assert len(admin_svg.findall(f"{ns}rect[@class='adviser']")) > 0


def test_map_png_downloads_as_an_attachment(served: Served) -> None:
    response = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}/map.png?download=1")
    assert response.mimetype == "image/png"
    assert response.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert response.headers["Content-Disposition"] == 'attachment; filename="lancashire-2026-spring-map.png"'


def test_cookie_sessions_need_the_csrf_header_to_change_anything(served: Served) -> None:
    client = signed_in(served, "coordinator")
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    proposal = client.get(f"/rounds/{served.round_id}/proposals?per_page=1&state=proposed").json["items"][0]
    refused = client.post(f"/proposals/{proposal['id']}/decision", json={"action": "lock"})
    assert refused.status_code == 403
    assert refused.json["error"]["message"] == ("A request signed in by cookie must send the page's X-CSRF-Token "
                                                "header.")
    accepted = client.post(f"/proposals/{proposal['id']}/decision", json={"action": "lock"},
                           headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 200
    assert accepted.json["state"] == "locked"
