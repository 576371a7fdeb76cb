"""Schemathesis against the service's own OpenAPI document (``/openapi.json``), through the WSGI app (no network).

Every operation of the document is fuzzed with an admin token, with valid (positive) and invalid (negative) data,
half the time with the path parameters of a seeded hub (its id, a record id of the right collection, a solved
round, its job and one of its proposals) so that requests reach real records, and half the time with generated
ones. Each answer must not be a 5xx (``not_a_server_error``), its status must be one the operation documents
(``status_code_conformance``), and its body must match the declared schema (``response_schema_conformance``).

The solve-starting operations (``POST /rounds/{round_id}/solve`` and ``POST /hubs/{hub_id}/waves``) are left
out: no worker runs here, so the first accepted call would leave the seeded round solving and every later request
on it a 409; ``tests/api/test_rounds_jobs.py`` covers them. The analyses (gaps, recommend, compare) are fuzzed:
they leave their round as it is, and with ``SYNC_SOLVE_SECONDS`` tiny each accepted one answers 202 at once.

The default run is bounded (``EXAMPLES`` per operation, SQLite, about a minute on two cores); the ``slow`` variant
runs ``SLOW_EXAMPLES`` per operation on every backend. Each run prints its figures (operations, examples, failures).
Hypothesis runs without its example database so nothing is written into the repository.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from api_harness import Seeded, backend_app, seed
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import postgres_problem
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

EXAMPLES = 25
SLOW_EXAMPLES = 100  # 3,500 examples per backend: about two minutes each on two cores, within CI's half hour
EXCLUDED = {"POST /rounds/{round_id}/solve", "POST /hubs/{hub_id}/waves"}  # each would start a worker process
RECORD_IDS = {"schools": "S1", "advisers": "A1", "employers": "E1"}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    if request.param == "postgresql" and (problem := postgres_problem()):
        pytest.skip(f"PostgreSQL does not answer on 127.0.0.1:5432: {problem}")
    # no worker runs here: a job-starting request (an analysis) answers 202 at once instead of waiting its ?wait
    yield from backend_app(request.param, tmp_path_factory.mktemp("fuzz"), "fuzz", SYNC_SOLVE_SECONDS=0.01)


def known_parameters(label: str, seeded: Seeded) -> dict[str, Any]:
    """Real ids for the path parameters of an operation (only those it has)."""
    path = label.split(" ", 1)[1]
    known: dict[str, Any] = {
        "hub_id": seeded.hub_id,
        "round_id": seeded.round_id,
        "job_id": seeded.job_id,
        "proposal_id": seeded.proposal_id,
    }
    for collection, record_id in RECORD_IDS.items():
        if f"/{collection}/" in path:
            known["record_id"] = record_id
    return {name: value for name, value in known.items() if "{" + name + "}" in path}


def fuzz(app: Flask, examples: int) -> dict[str, Any]:
    """Fuzz every operation but the excluded ones; the run's figures and every failure found. Each run seeds its
    own hub, so the quick and the longer run can share one app."""
    seeded = seed(app, f"fuzz{examples}")
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {seeded.admin_token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    stats: dict[str, Any] = {"operations": 0, "excluded": [], "examples": 0, "statuses": Counter(), "failures": {}}
    started = time.monotonic()
    for operation in operations:
        label = operation.label
        if label in EXCLUDED:
            stats["excluded"].append(label)
            continue
        stats["operations"] += 1
        known = known_parameters(label, seeded)
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known or None),
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=known or None),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: schemathesis.Case) -> None:
            stats["examples"] += 1
            case.headers = {**(case.headers or {}), **headers}  # the admin token, not a generated bearer value
            response = case.call_and_validate(checks=CHECKS)
            stats["statuses"][response.status_code] += 1

        try:
            run()
        except (Exception, BaseExceptionGroup) as failure:  # collected per operation, reported together
            stats["failures"][label] = str(failure)[:1500]
    stats["seconds"] = round(time.monotonic() - started, 1)
    return stats


def report(stats: dict[str, Any]) -> None:
    print(
        f"\nfuzzed {stats['operations']} operations ({len(stats['excluded'])} excluded: {stats['excluded']}), "
        f"{stats['examples']} examples in {stats['seconds']} s; statuses {dict(sorted(stats['statuses'].items()))}; "
        f"{len(stats['failures'])} failing operation(s)"
    )
    assert not stats["failures"], "\n\n".join(f"{label}:\n{text}" for label, text in stats["failures"].items())


def test_fuzz_every_operation(fuzz_app: Flask, request: pytest.FixtureRequest) -> None:
    if "postgresql" in request.node.callspec.id:
        pytest.skip("the default run fuzzes SQLite only; the slow variant runs on PostgreSQL too")
    stats = fuzz(fuzz_app, EXAMPLES)
    assert stats["operations"] >= 30 and stats["examples"] >= stats["operations"] * 4
    report(stats)


@pytest.mark.slow
def test_fuzz_every_operation_longer(fuzz_app: Flask) -> None:
    stats = fuzz(fuzz_app, SLOW_EXAMPLES)
    report(stats)
