"""The served OpenAPI document, fuzzed against the twin by schemathesis: every operation, with
examples generated from the document itself, must answer no 5xx and only what the document says
(status codes, content types, headers, bodies). Bounded and stable: a fixed number of examples per
operation, derandomized (the same examples on every run), no example database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.e2e.conftest import RunningTwin, start_twin, stop_twin
from twin.server import free_port

#: Examples per operation (there are a dozen operations: ~150 requests in all).
EXAMPLES = 12


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    running = start_twin(free_port(), None, "--model-time-scale", "0")
    yield running
    if running.process.poll() is None:
        stop_twin(running)


@pytest.fixture(scope="module")
def api_schema(twin: RunningTwin) -> Any:
    return schemathesis.openapi.from_url(f"{twin.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_what_the_document_says(case: Any, twin: RunningTwin) -> None:
    case.call_and_validate(
        base_url=twin.base_url, headers={"Authorization": f"Token {twin.token}"}, timeout=30
    )
