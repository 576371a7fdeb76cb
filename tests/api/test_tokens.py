"""Tokens: the admin-only API and command line to list, create and revoke them; expiry; revocation seen at once by
every server process, for reads and writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from api.auth import digest
from hubmatch.cli import main
from models import tables as t

INVALID = "The API token is not valid."
EXPIRED = "The API token has expired."
LISTED = {"id", "name", "role", "hub_id", "created_at", "expires_at", "revoked", "revoked_at"}


def _other_process(new_app, token):
    """A client of a second app on the same database (a second server process), sending ``token``."""
    client = new_app().test_client()
    headers = {"Authorization": f"Bearer {token}"}
    return lambda method, url, **kw: client.open(url, method=method, headers=headers, **kw)


def _token_row(db, token):
    with db() as session:
        return session.scalar(select(t.Token).where(t.Token.digest == digest(token)))


def _assert_refused_everywhere(here, there, hub, expect_error, message=INVALID):
    """The token is refused by both processes, for a read and for a write."""
    for send in (here, there):
        expect_error(send("GET", f"/hubs/{hub}/schools"), 401, "unauthorized", message)
        expect_error(send("POST", f"/hubs/{hub}/rounds", json={"term": "after-revoke"}), 401, "unauthorized", message)


def test_admin_creates_lists_and_revokes_and_every_process_refuses_at_once(
    admin, make_hub, new_app, db, expect_error
):
    hub = make_hub("tiny")
    made = admin.post("/tokens", json={"name": "new lead", "role": "hub_lead", "hub_id": hub})
    assert made.status_code == 201, made.json
    secret, token_id = made.json["token"], made.json["id"]
    assert secret.startswith("hm_") and set(made.json) == LISTED | {"token"}
    assert (made.json["role"], made.json["hub_id"], made.json["revoked"], made.json["expires_at"]) == (
        "hub_lead", hub, False, None)
    listed = {r["id"]: r for r in admin.get("/tokens").json}
    assert set(listed[token_id]) == LISTED  # never the secret
    assert secret not in admin.get("/tokens").get_data(as_text=True)

    here = lambda method, url, **kw: admin.client.open(  # noqa: E731
        url, method=method, headers={"Authorization": f"Bearer {secret}"}, **kw)
    there = _other_process(new_app, secret)
    for send in (here, there):  # both processes have accepted the token, read and write
        assert send("GET", f"/hubs/{hub}/schools").status_code == 200
    assert here("POST", f"/hubs/{hub}/rounds", json={"term": "before-revoke"}).status_code == 201

    revoked = admin.post(f"/tokens/{token_id}/revoke")
    assert revoked.status_code == 200 and revoked.json["revoked"] is True and revoked.json["revoked_at"]
    _assert_refused_everywhere(here, there, hub, expect_error)
    with db() as session:
        terms = set(session.scalars(select(t.Round.term).where(t.Round.hub_id == hub)))
    assert terms == {"before-revoke"}  # the refused write wrote nothing
    expect_error(admin.post(f"/tokens/{token_id}/revoke"), 409, "conflict",
                 f"Token {token_id} (new lead) is already revoked.")
    expect_error(admin.post("/tokens/2147483000/revoke"), 404, "not_found", "No token 2147483000.")


def test_cli_lists_and_revokes_by_name_and_the_other_process_refuses_at_once(
    caller, make_hub, new_app, db, database_url, monkeypatch, capsys, expect_error
):
    monkeypatch.setenv("DATABASE_URL", database_url)
    hub = make_hub("tiny")
    name = f"cli-revoked@{hub}"
    who = caller("coordinator", hub, name=name)
    there = _other_process(new_app, who.token)
    assert who.get(f"/hubs/{hub}").status_code == 200 and there("GET", f"/hubs/{hub}").status_code == 200
    assert main(["token", "list"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if name in row)
    assert line.split()[2:5] == ["coordinator", hub, line.split()[4]] and line.split()[-1] == "no"
    assert who.token not in out and digest(who.token) not in out

    assert main(["token", "revoke", name]) == 0
    row = _token_row(db, who.token)
    assert capsys.readouterr().out == f"token {row.id} ({name}) revoked\n"
    here = lambda method, url, **kw: who.open(method, url, **kw)  # noqa: E731
    _assert_refused_everywhere(here, there, hub, expect_error)
    assert main(["token", "revoke", name]) == 2
    assert capsys.readouterr().err == f"error: token {name!r} is already revoked\n"
    assert main(["token", "revoke", str(row.id)]) == 2
    assert capsys.readouterr().err == f"error: token {row.id} ({name}) is already revoked\n"
    assert main(["token", "revoke", "no-such-token-name"]) == 2
    assert capsys.readouterr().err == "error: no token with id or name 'no-such-token-name'\n"
    assert main(["token", "list"]) == 0
    line = next(r for r in capsys.readouterr().out.splitlines() if name in r)
    assert line.split()[-1] != "no"  # the revocation time


def test_cli_refuses_an_ambiguous_name_and_revokes_by_id(caller, make_hub, db, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    hub = make_hub("tiny")
    name = f"twin@{hub}"
    one, two = caller("read_only", hub, name=name), caller("read_only", hub, name=name)
    ids = [_token_row(db, w.token).id for w in (one, two)]
    assert main(["token", "revoke", name]) == 2
    assert capsys.readouterr().err == f"error: 2 live tokens are named {name!r} (ids {ids[0]}, {ids[1]}); give the id\n"
    assert main(["token", "revoke", str(ids[1])]) == 0
    assert (_token_row(db, one.token).revoked, _token_row(db, two.token).revoked) == (False, True)


def test_token_api_is_admin_only(world_hubs, caller, db, expect_error):
    mine, theirs = world_hubs
    for role in ("hub_lead", "coordinator", "read_only"):
        who = caller(role, mine)
        message = f"A {role} token cannot do this; it needs an admin token."
        expect_error(who.get("/tokens"), 403, "forbidden", message)
        body = {"name": "sneaky", "role": "admin"}
        expect_error(who.post("/tokens", json=body), 403, "forbidden", message)
        expect_error(who.post("/tokens", json={**body, "role": "hub_lead", "hub_id": mine}), 403, "forbidden", message)
        victim = caller("hub_lead", theirs)
        expect_error(who.post(f"/tokens/{_token_row(db, victim.token).id}/revoke"), 403, "forbidden", message)
        assert victim.get(f"/hubs/{theirs}").status_code == 200  # untouched


@pytest.fixture
def world_hubs(make_hub):
    return make_hub("tiny", prefix="mine"), make_hub("tiny", prefix="theirs")


@pytest.mark.parametrize(
    "body, details",
    [
        ({"name": "x", "role": "hub_lead"}, {"hub_id": ["a hub_lead token needs a hub"]}),
        ({"name": "x", "role": "read_only", "hub_id": "no-such-hub"}, {"hub_id": ["no hub 'no-such-hub'"]}),
        ({"name": "x", "role": "admin", "expires_at": "2020-01-01T00:00:00+00:00"},
         {"expires_at": ["the expiry must be in the future"]}),
    ],
)
def test_bad_token_requests_are_422_naming_the_field_and_make_nothing(admin, db, expect_error, body, details):
    with db() as session:
        before = session.scalar(select(t.Token.id).order_by(t.Token.id.desc()).limit(1))
    reply = admin.post("/tokens", json=body)
    error = expect_error(reply, 422, "invalid_input", details=details)
    assert error["message"] == f"Token 'x': {next(iter(details.values()))[0]}."
    with db() as session:
        assert session.scalar(select(t.Token.id).order_by(t.Token.id.desc()).limit(1)) == before


def test_both_expiries_or_a_bad_role_are_refused_by_the_schema(admin, expect_error):
    both = {"name": "x", "role": "admin", "expires_at": "2099-01-01T00:00:00+00:00", "expires_in_days": 3}
    expect_error(admin.post("/tokens", json=both), 422, "invalid_input",
                 details={"json": {"expires_in_days": ["Give expires_at or expires_in_days, not both."]}})
    error = expect_error(admin.post("/tokens", json={"name": "x", "role": "root"}), 422, "invalid_input")
    assert list(error["details"]["json"]) == ["role"]


def test_an_expired_token_is_refused_with_its_own_message(admin, make_hub, db, new_app, expect_error):
    hub = make_hub("tiny")
    made = admin.post("/tokens", json={"name": "temp", "role": "read_only", "hub_id": hub, "expires_in_days": 2})
    assert made.status_code == 201
    secret = made.json["token"]
    with db() as session:
        row = session.get(t.Token, made.json["id"])
        assert timedelta(days=2) - (row.expires_at - row.created_at) < timedelta(seconds=5)
    here = lambda method, url, **kw: admin.client.open(  # noqa: E731
        url, method=method, headers={"Authorization": f"Bearer {secret}"}, **kw)
    assert here("GET", f"/hubs/{hub}").status_code == 200
    with db() as session:
        session.get(t.Token, made.json["id"]).expires_at = t.now() - timedelta(seconds=1)
    _assert_refused_everywhere(here, _other_process(new_app, secret), hub, expect_error, EXPIRED)


def test_cli_creates_a_token_with_an_expiry(make_hub, db, database_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", database_url)
    hub = make_hub("tiny")
    assert main(["token", "create", "--role", "read_only", "--hub", hub, "--name", f"cli@{hub}",
                 "--expires-in", "30"]) == 0
    secret = capsys.readouterr().out.strip()
    row = _token_row(db, secret)
    assert (row.name, row.role, row.hub_id) == (f"cli@{hub}", "read_only", hub)
    assert timedelta(days=30) - (row.expires_at - row.created_at) < timedelta(seconds=5)
    assert main(["token", "create", "--role", "read_only", "--hub", hub, "--expires-in", "0"]) == 2
    assert capsys.readouterr().err == "error: --expires-in: give a number of days, 1 or more\n"
