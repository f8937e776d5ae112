"""Point 5 of issue 11: the definition CDK deploys, rendered with the deployed substitutions, passes
an offline Amazon States Language validator (statelint, PyPI); so does the one the twin runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statelint.config import Config
from statelint.linter import Linter

from service.catalog import FUNCTIONS, ResourceNames, WorkflowTiming, workflow_substitutions
from twin import workflow_definition

ROOT = Path(__file__).resolve().parents[2]


def problems(definition: str) -> list[str]:
    """Every error statelint finds (none ignored: not even its FLOAT check)."""
    return list(Linter.validate(definition, Config(None, False, False)))


def deployed_definition() -> str:
    """As CloudFormation substitutes it: the functions' ARNs and the timing from cdk.json."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    names = ResourceNames(context["stage"])
    arns = {
        spec.name: f"arn:aws:lambda:us-east-1:123456789012:function:{names.function(spec.name)}"
        for spec in FUNCTIONS
    }
    timing = WorkflowTiming(poll_interval_s=context["poll_interval_seconds"], max_polls=context["max_polls"])
    return workflow_definition.render(workflow_substitutions(arns, timing))


def test_the_deployed_definition_is_valid_asl() -> None:
    assert problems(deployed_definition()) == []


def test_the_twins_definition_is_valid_asl() -> None:
    arns = {spec.name: f"arn:aws:lambda:us-east-1:123456789012:function:{spec.name}" for spec in FUNCTIONS}
    timing = WorkflowTiming(poll_interval_s=1, max_polls=3)
    assert problems(workflow_definition.render(workflow_substitutions(arns, timing))) == []


@pytest.mark.parametrize(
    ("state", "field", "value", "expected"),
    [
        ("WaitBeforePoll", "Next", "Nowhere", 'No state found named "Nowhere"'),
        (
            "Finalize",
            "Retry",
            [{"ErrorEquals": ["States.ALL"], "JitterStrategy": "RANDOM"}],
            "JitterStrategy",
        ),
        ("PollPredictions", "Parameters", {"FunctionName": "f", "Payload.$": "payload"}, "JSONPath"),
    ],
)
def test_the_validator_rejects_what_step_functions_would(
    state: str, field: str, value: object, expected: str
) -> None:
    definition = json.loads(deployed_definition())
    definition["States"][state][field] = value
    assert any(expected in problem for problem in problems(json.dumps(definition)))
