"""The served OpenAPI document, fuzzed against the twin by schemathesis: every operation, with
examples generated from the document the twin serves, must answer no 5xx and only what the document
says (status codes, content types, headers, bodies: ``call_and_validate``'s checks). Bounded and
stable: a fixed number of examples per operation, derandomized (the same examples on every run), no
example database.

schemathesis' pytest plugin (``from_fixture``) reads a private attribute pytest 9 no longer has, so
each operation's examples come from its Hypothesis strategy (``APIOperation.as_strategy``), run with
Hypothesis' ``@given`` inside the test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.e2e.conftest import RunningTwin, start_twin, stop_twin
from twin.server import free_port

#: Left out: ``positive_data_acceptance`` (a schema-valid request must not be refused). The API checks
#: what JSON Schema cannot say (a cursor must be one it issued, a subtitle must end within the video,
#: a dream must say something, text has no control characters), so schema-valid data may rightly get
#: a 422; every other check runs: no 5xx, documented statuses, content types, headers and bodies.

#: Examples per operation (a dozen operations: ~150 requests in all).
EXAMPLES = 12
DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs/openapi.json").read_text())
OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    running = start_twin(free_port(), None, "--model-time-scale", "0")
    yield running
    if running.process.poll() is None:
        stop_twin(running)


@pytest.fixture(scope="module")
def served(twin: RunningTwin) -> Any:
    return schemathesis.openapi.from_url(f"{twin.base_url}/openapi.json")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_operation_answers_what_the_document_says(
    twin: RunningTwin, served: Any, method: str, path: str
) -> None:
    operation = served[path][method]
    headers = {"Authorization": f"Token {twin.token}"}

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate(
            base_url=twin.base_url, headers=headers, timeout=30, excluded_checks=[positive_data_acceptance]
        )

    answers_as_documented()
