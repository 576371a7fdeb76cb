"""The round page's panel of idle volunteers: shown to a Hub Lead and admins, one row per idle partner of the API's
list with its reason in words, and absent for coordinators and read-only tokens."""

from __future__ import annotations

import re

import pytest
from test_pages import signed_in
from ui_harness import Served


def idle_rows(page: str) -> dict[str, str]:
    """The panel's rows: their id attribute (role and partner) -> the text of their reason cell."""
    rows = re.findall(r'<tr id="idle-([a-z]+-[A-Za-z0-9_.-]+)" data-reason="[a-z_]+">(.*?)</tr>', page, re.S)
    return {key: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).strip() for key, body in rows}


@pytest.mark.parametrize("role", ["hub_lead", "admin"])
def test_the_panel_lists_every_idle_volunteer_with_its_reason(served: Served, role: str) -> None:
    client = signed_in(served, role)
    page = client.get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    auth = {"Authorization": f"Bearer {served.tokens[role]}"}
    idle = client.get(f"/rounds/{served.round_id}/idle", headers=auth).json
    assert idle and {i["reason"] for i in idle} == {"company_cap"}  # the Lancashire round: capped companies
    rows = idle_rows(page)
    assert set(rows) == {f"{i['role']}-{i['partner_id']}" for i in idle}
    assert f"{len(idle)} willing volunteers have no school this round." in page
    first = idle[0]
    assert rows[f"adviser-{first['partner_id']}"].endswith(f"Adviser Company at its school limit: {first['detail']}")


@pytest.mark.parametrize("role", ["coordinator", "read_only"])
def test_other_readers_of_the_hub_see_no_panel(served: Served, role: str) -> None:
    page = signed_in(served, role).get(f"/ui/rounds/{served.round_id}").get_data(as_text=True)
    assert 'id="school-' in page  # the page itself is there
    assert "Volunteers without a school" not in page and idle_rows(page) == {}
