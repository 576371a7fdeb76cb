"""The review page without a browser: sign-in, scoping, filters, the map, CSRF on cookie sessions."""

from __future__ import annotations

import io
import re
from collections import Counter
from html import unescape

import pytest
from openpyxl import load_workbook
from ui_harness import Served

import fixtures


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


def test_round_page_lists_every_school_with_its_proposals_page_by_page(served: Served) -> None:
    client = signed_in(served, "coordinator")
    pages = all_pages(client, served.round_id, "all")
    api = client.get(f"/rounds/{served.round_id}/proposals?per_page=1000",
                     headers={"Authorization": f"Bearer {served.tokens['coordinator']}"}).json
    assert len(pages) == 3 and "40 of 84 schools shown, page 1 of 3." in pages[0]
    assert sum(page.count('class="proposal') for page in pages) == api["total"]
    names = schools(pages)
    assert len(names) == len(set(names)) == 84  # every school once, in A-Z order of name
    order = [m for page in pages for m in re.findall(r'aria-label="([^"]+) on the map"', page)]
    assert order == sorted(order)


def all_pages(client, round_id: int, show: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Every page of a filter's schools, following the pager."""
    first = client.get(f"/ui/rounds/{round_id}?show={show}").get_data(as_text=True)
    pages = int(re.search(r"page 1 of (\d+)", first).group(1)) if "page 1 of" in first else 1
    return [first] + [client.get(f"/ui/rounds/{round_id}?show={show}&page={n}").get_data(as_text=True)
                      for n in range(2, pages + 1)]


def picked(pages: list[str]) -> list[int]:
    """The proposals a filter picks (what "approve the pairings shown" would approve), in page order."""
    return [int(m) for page in pages for m in re.findall(r'data-proposal="(\d+)"[^>]*data-picked="1"', page)]


def schools(pages: list[str]) -> list[str]:
    return [m for page in pages for m in re.findall(r'<tr id="school-([^"]+)"', page)]


@pytest.mark.parametrize("show", ["undecided", "unmatched", "weakest", "long_distance"])
def test_filters_pick_exactly_what_they_name_in_their_order(served: Served, show: str) -> None:
    client = signed_in(served, "coordinator")
    pages = all_pages(client, served.round_id, show)
    shown = schools(pages)
    assert f"{min(len(shown), 40)} of {len(shown)} schools shown" in pages[0]
    auth = {"Authorization": f"Bearer {served.tokens['coordinator']}"}
    proposals = client.get(f"/rounds/{served.round_id}/proposals?per_page=1000", headers=auth).json["items"]
    live = [p for p in proposals if p["state"] != "rejected"]
    if show == "undecided":  # before any decision, exactly the schools with a proposal
        assert set(shown) == {p["school_id"] for p in proposals if p["state"] == "proposed"}
    elif show == "unmatched":  # a school with no partner in a role where a slot stayed open
        have = {(p["school_id"], p["role"]) for p in live}
        open_slots = client.get(f"/rounds/{served.round_id}/unmatched", headers=auth).json
        assert set(shown) == {u["school_id"] for u in open_slots if (u["school_id"], u["role"]) not in have}
    elif show == "weakest":  # the costliest quarter of pairings, schools by their costliest pairing
        costs = sorted(p["cost"] for p in live)
        cut = costs[int(0.75 * (len(costs) - 1))]
        assert sorted(picked(pages)) == sorted(p["id"] for p in live if p["cost"] >= cut)
        worst = {s: max(p["cost"] for p in live if p["school_id"] == s) for s in shown}
        assert [worst[s] for s in shown] == sorted(worst.values(), reverse=True)
    else:  # 20 km or more as the coordinator reads it: exact for Cornerstones, the band for advisers
        far = {p["id"] for p in live if (p["distance_km"] or 0) >= 20 or p.get("distance_band") in ("20–30 km",
                                                                                               "over 30 km")}
        assert far and sorted(picked(pages)) == sorted(far)
        assert set(shown) == {p["school_id"] for p in live if p["id"] in far}
        assert "(not in this filter)" in "".join(pages)  # a school's short pairings are shown but not picked


def test_rows_say_the_cost_in_words_with_town_and_postcode(served: Served) -> None:
    page = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    assert re.search(r'<span class="words">(under 5 km|5–10 km|10–20 km|20–30 km|over 30 km)( · [a-z ]+)+</span>',
                     page)
    assert re.search(r'<span class="words">\d+\.\d km · (sector match|partial sector fit|sector mismatch) · '
                     r'(high|some|low) need', page)  # a Cornerstone's distance is exact
    assert "<small>Preston · PR" in page or "<small>Blackburn · BB" in page
    assert re.search(r"cheaper, but (full|needed at another school)|costlier", page)
    assert "-0." not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # no bare negative deltas


def test_unmatched_reasons_count_schools_not_slots(served: Served) -> None:
    client = signed_in(served, "coordinator")
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    slots = client.get(f"/rounds/{served.round_id}/unmatched",
                       headers={"Authorization": f"Bearer {served.tokens['coordinator']}"}).json
    by_reason = Counter(f"{role}: {reason.replace('_', ' ')}" for role, reason, _ in
                        {(u["role"], u["reason"], u["school_id"]) for u in slots})
    listed = dict((r, int(n)) for n, r in re.findall(r"<li>(\d+) schools? · ([^<]+)</li>", page))
    assert listed == dict(by_reason)
    assert all(n <= 84 for n in listed.values())


def test_an_unknown_filter_is_a_bad_request_page(served: Served) -> None:
    response = signed_in(served, "coordinator").get(f"/ui/rounds/{served.round_id}?show=nope")
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_another_hubs_round_is_not_found(served: Served) -> None:
    response = signed_in(served, "coordinator").get("/ui/rounds/9999")
    assert response.status_code == 404
    assert b"No round 9999." in response.data


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


def test_only_hub_leads_and_admins_get_the_hub_leads_panel(served: Served) -> None:
    for role in ("coordinator", "read_only"):
        page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
        assert 'id="hub-lead"' not in page and "hub_lead.js" not in page and 'id="solve"' not in page
    for role in ("hub_lead", "admin"):
        page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
        assert 'id="hub-lead"' in page and 'id="solve">Solve again</button>' in page
        assert f'href="/rounds/{served.round_id}/export?format=csv"' in page
        link = f'/rounds/{served.round_id}/export?format=xlsx'
        assert f'href="{link}"' in page
        book = load_workbook(io.BytesIO(signed_in(served, role).get(link).get_data()))
        assert book.sheetnames == ["Pairings", "Unmatched", "Idle volunteers"]


def test_changes_since_last_term_list_each_schools_previous_and_new_partners(served: Served) -> None:
    client = signed_in(served, "hub_lead")
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    table = page.split('<details class="changes">')[1].split("</details>")[0]
    listed = {(urn, role): (unescape(before), unescape(now), kind)
              for urn, role, before, now, kind in re.findall(
        r'<tr class="change-\w+"><td>[^<]+ <small>([^<]+)</small></td><td>(\w+)</td>'
        r'<td>([^<]*)</td><td>([^<]*)</td><td>(\w+)</td>', table)}
    auth = {"Authorization": f"Bearer {served.tokens['hub_lead']}"}
    proposals = client.get(f"/rounds/{served.round_id}/proposals?per_page=1000", headers=auth).json["items"]
    raw = fixtures.lancashire_problem()
    names = {a["id"]: a["name"] for a in raw["advisers"]} | {e["id"]: e["name"] for e in raw["employers"]}
    expected = {}
    for school in raw["schools"]:
        for role, key in (("adviser", "current_advisers"), ("cornerstone", "current_cornerstones")):
            before = [names[p] for p in school.get(key, [])]
            now = [names[p["partner_id"]] for p in proposals
                   if p["school_id"] == school["id"] and p["role"] == role and p["state"] != "rejected"]
            if before or now:
                kind = "kept" if set(before) == set(now) else "new" if not before else "ended" if not now \
                    else "changed"
                expected[(school["id"], role)] = (", ".join(before) or "–", ", ".join(now) or "–", kind)
    assert listed == expected
    changed = len({school for (school, _), (_, _, kind) in expected.items() if kind != "kept"})
    assert 0 < changed < 84
    assert re.search(r"Since last term: \d+ schools? change partners", page).group(0) == (
        f"Since last term: {changed} schools change partners")


def test_the_index_names_the_hub_and_shows_progress_and_the_last_solve(served: Served) -> None:
    client = signed_in(served, "coordinator")
    page = client.get("/ui/").get_data(as_text=True)
    auth = {"Authorization": f"Bearer {served.tokens['coordinator']}"}
    counts = client.get(f"/rounds/{served.round_id}", headers=auth).json["proposals"]
    total, undecided = sum(counts.values()), counts.get("proposed", 0)
    assert "<td>Lancashire Careers Hub</td>" in page
    assert f"{total - undecided} of {total}</td>" in page
    assert re.search(r"<td>\d+ \w{3} \d\d:\d\d \(\d+ solves?\)</td>", page)


def test_a_draft_round_says_what_to_do_instead_of_empty_rows(served: Served) -> None:
    client = signed_in(served, "hub_lead")
    auth = {"Authorization": f"Bearer {served.tokens['hub_lead']}"}
    created = client.post("/hubs/lancashire/rounds", json={"term": "2026-draft"}, headers=auth)
    assert created.status_code == 201
    page = client.get(f"/ui/rounds/{created.json['id']}").get_data(as_text=True)
    assert "Not solved yet: there are no proposals to review." in page
    assert "Check the policy below, then start a solve." in page
    assert '<tr id="school-' not in page and " → " not in page
    assert 'id="solve">Solve</button>' in page and 'id="policy-form"' in page
    coordinator = signed_in(served, "coordinator").get(f"/ui/rounds/{created.json['id']}").get_data(as_text=True)
    assert "A Hub Lead starts the solve" in coordinator


def test_all_on_one_page_and_a_bad_page_number(served: Served) -> None:
    client = signed_in(served, "coordinator")
    page = client.get(f"/ui/rounds/{served.round_id}?page=all").get_data(as_text=True)
    assert page.count('<tr id="school-') == 84 and "84 of 84 schools shown." in page
    assert client.get(f"/ui/rounds/{served.round_id}?page=0").status_code == 400
    assert client.get(f"/ui/rounds/{served.round_id}?page=x").status_code == 400
    last = client.get(f"/ui/rounds/{served.round_id}?page=99").get_data(as_text=True)  # past the end: the last
    assert "4 of 84 schools shown, page 3 of 3." in last


def test_a_coordinators_rows_give_advisers_distances_as_bands_only(served: Served) -> None:
    pages = all_pages(signed_in(served, "coordinator"), served.round_id, "all")
    words = [w for page in pages for w in re.findall(
        r'<span class="role">Adviser</span>.*?<span class="words">([^<]+)</span>', page, re.S)]
    assert words and all(re.match(r"(under 5 km|5–10 km|10–20 km|20–30 km|over 30 km)( ·|$)", w) for w in words)
    alternatives = [a for page in pages for a in re.findall(r"<li>Adviser [^<]*</li>", page)]
    assert alternatives and not [a for a in alternatives if re.search(r"\d+\.\d km", a)]
    admin = all_pages(signed_in(served, "admin"), served.round_id, "all")
    assert re.search(r'<span class="role">Adviser</span>.*?<span class="words">\d+\.\d km', admin[0], re.S)
