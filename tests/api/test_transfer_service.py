"""``hubmatch import`` and ``hubmatch export`` against a running service: the upload, the download, the token, and
the service's errors (every detail) on stderr with exit code 2."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook
from werkzeug.serving import make_server

from hubmatch.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def service(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def test_import_and_export_through_the_service(service, caller, make_hub, solve_now, admin, capsys, tmp_path,
                                               monkeypatch):
    hub = make_hub()
    lead = caller("hub_lead", hub)
    monkeypatch.setenv("HUBMATCH_TOKEN", lead.token)
    code = main(["import", str(DATA / "gias_edge_cases.csv"), "--dfe", "--url", service, "--hub", hub,
                 "--wave", "autumn"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out == f"schools: 10 created, 0 updated in hub {hub}\n"
    flag = "flagged: line 4 (URN 900003): Open, but proposed to close: imported, check before pairing it"
    assert flag in captured.err.splitlines()
    assert admin.get(f"/hubs/{hub}/schools/URN900001").json["wave"] == "autumn"
    round_id = lead.post(f"/hubs/{hub}/rounds", json={"term": "t1"}).json["id"]
    solve_now(round_id)
    out = tmp_path / "round.xlsx"
    assert main(["export", "--url", service, "--round", str(round_id), "-o", str(out)]) == 0
    assert load_workbook(out).sheetnames == ["Pairings", "Unmatched", "Idle volunteers"]
    unmatched = lead.get(f"/rounds/{round_id}/unmatched").json
    assert load_workbook(out)["Unmatched"].max_row == 1 + len(unmatched) > 1
    csv_out = tmp_path / "pairings.csv"
    assert main(["export", "--url", service, "--hub", hub, "-o", str(csv_out)]) == 0
    assert csv_out.read_bytes() == lead.get(f"/hubs/{hub}/pairings?format=csv").get_data()


def test_the_services_errors_reach_stderr_with_every_detail(service, caller, make_hub, capsys, monkeypatch):
    hub = make_hub()
    monkeypatch.setenv("HUBMATCH_TOKEN", caller("read_only", hub).token)
    assert main(["import", str(DATA / "hub_good.xlsx"), "--url", service, "--hub", hub]) == 2
    assert capsys.readouterr().err.startswith("error: the service answered 403: ")
    monkeypatch.setenv("HUBMATCH_TOKEN", caller("hub_lead", hub).token)
    assert main(["import", str(DATA / "hub_bad.xlsx"), "--url", service, "--hub", hub,
                 "--collection", "advisers"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: the service answered 422: 1 problem(s) in the file; nothing was imported.",
        "  Advisers!E3 (A2): capacity: Must be greater than or equal to 0 and less than or equal to 10.",
    ]
    monkeypatch.delenv("HUBMATCH_TOKEN")
    assert main(["export", "--url", service, "--hub", hub, "-o", "x.xlsx"]) == 2
    assert capsys.readouterr().err == "error: give --token or set HUBMATCH_TOKEN\n"
