"""The files other tools read stay true: the OpenAPI copy, the ASL placeholders, the catalog."""

from __future__ import annotations

import json
from pathlib import Path

from service import openapi
from service.catalog import FUNCTIONS, WorkflowTiming, workflow_substitutions
from twin import workflow_definition

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_handlers() -> None:
    committed = json.loads((ROOT / "docs/openapi.json").read_text())
    assert committed == openapi.document(), "run: .venv/bin/python -m service.openapi > docs/openapi.json"


def test_openapi_lists_exactly_the_catalog_routes_with_the_spec_paths() -> None:
    paths = openapi.document()["paths"]
    routes = {(method.lower(), path) for spec in FUNCTIONS for method, path in spec.routes}
    assert {(method, path) for path, item in paths.items() for method in item} == routes


def test_every_route_documents_its_success_and_its_errors() -> None:
    """A route given explicit error responses loses powertools' default 200 unless it lists it: the
    status routes did (their document had only 401/403/404/429)."""
    for path, item in openapi.document()["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert any(code.startswith("2") for code in codes), (method, path, sorted(codes))
            successes = [operation["responses"][c] for c in codes if c.startswith("2") and c != "204"]
            assert all("content" in answer for answer in successes), (method, path)


def test_every_asl_placeholder_has_a_value_and_every_value_a_placeholder() -> None:
    arns = {spec.name: f"arn:aws:lambda:us-east-1:1:function:{spec.name}" for spec in FUNCTIONS}
    values = workflow_substitutions(arns, WorkflowTiming())
    assert workflow_definition.placeholders() == set(values)
    definition = workflow_definition.load(values)
    assert definition["States"]["WaitBeforePoll"]["TimeoutSeconds"] == 5  # the poll interval
    assert definition["States"]["WaitWithoutWake"]["Seconds"] == 5
    assert definition["TimeoutSeconds"] == WorkflowTiming().execution_timeout_s


def test_every_task_state_retries_and_catches() -> None:
    arns = {spec.name: "arn:aws:lambda:us-east-1:1:function:f" for spec in FUNCTIONS}
    states = workflow_definition.load(workflow_substitutions(arns, WorkflowTiming()))["States"]
    for name, state in states.items():
        if state["Type"] != "Task" or name == "WaitBeforePoll":
            continue
        assert state.get("Retry"), name
        if name not in ("MarkFailed", "MarkTimedOut"):
            assert state["Catch"][0]["Next"] == "MarkFailed", name
    # The wait: its end (timeout, a webhook's wake, PollNow) leads to the poll; a failure of its
    # function to a plain Wait of the same length, then the poll (never a poll at once, in a loop)
    wait = states["WaitBeforePoll"]
    assert wait["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken" and "Retry" not in wait
    assert wait["Next"] == "PollPredictions" and wait["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    assert [(c["ErrorEquals"], c["Next"]) for c in wait["Catch"]] == [
        (["States.Timeout", "PollNow"], "PollPredictions"),
        (["States.ALL"], "WaitWithoutWake"),
    ]
    assert states["WaitWithoutWake"] == {"Type": "Wait", "Seconds": 5, "Next": "PollPredictions"}
    replicate_retry = states["PollPredictions"]["Retry"][0]
    assert set(replicate_retry["ErrorEquals"]) == {"ReplicateRateLimited", "ReplicateUnavailable"}
    assert replicate_retry["JitterStrategy"] == "FULL" and replicate_retry["BackoffRate"] > 1


def test_the_api_functions_do_not_import_replicate_or_ffmpeg() -> None:
    import subprocess
    import sys

    for spec in FUNCTIONS:
        if spec.kind not in ("api", "authorizer"):
            continue
        module = spec.handler.rsplit(".", 1)[0]
        code = (
            f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'replicate', 'imageio_ffmpeg', 'httpx'}); "
            "print(','.join(bad))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert out.strip() == "", f"{spec.name} imports {out.strip()}"
