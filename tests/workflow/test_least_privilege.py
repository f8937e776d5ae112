"""Point 7 of issue 11, from the other side: the infra tests compare each role's grants with its
catalog ``needs``; here every AWS call each function really makes, on every path (a task that
succeeds, one that fails at StartPredictions, a stale record, a StartExecution that fails, an
upload), is counted and must be one its needs grant, and every DynamoDB and Step Functions action
granted is one it makes."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench.counting import AwsCallCounter
from replicate_emulator import ReplicateEmulator
from service.adapters.executions import Executions
from service.catalog import FUNCTIONS
from tests.support import Stack, transition_body

pytestmark = pytest.mark.workflow

#: boto3 service name → IAM action prefix.
PREFIXES = {"dynamodb": "dynamodb", "stepfunctions": "states", "s3": "s3"}


def granted(name: str) -> set[str]:
    from infra.permissions import NEED_GRANTS

    spec = next(spec for spec in FUNCTIONS if spec.name == name)
    return {action for need in spec.needs for action in NEED_GRANTS[need][0]}


def test_every_call_a_function_makes_is_granted_and_every_data_grant_is_used(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = AwsCallCounter()
    counter.attach_service_clients()
    try:
        with counter.instrument_invocations():
            stack = live(stale_after_seconds="1")
            token = stack.token()
            create = "/api/transitions/create-and-generate/"
            # A task that succeeds, read while it runs
            body = transition_body(
                front_image=f"{image_base_url}/front.jpg", tail_image=f"{image_base_url}/tail.jpg"
            )
            ok = stack.call("POST", create, token=token, json_body=body).body
            assert stack.wait_execution(ok["task_id"])["status"] == "SUCCEEDED"
            assert (
                stack.call("GET", f"/api/transitions/task-status/{ok['task_id']}/", token=token).status == 200
            )
            # One that fails at StartPredictions
            emulator.faults.reject_input = {"*": "prompt"}
            bad = stack.call("POST", "/generate-video?dream=a%20fox&style=Animated", token=token).body
            assert stack.wait_execution(bad["task_id"])["status"] == "FAILED"
            # One stopped from outside, read once its record is stale
            emulator.faults.reject_input = {}
            emulator.faults.never_finish = {"*"}
            stuck = stack.call("POST", "/generate-video?dream=a%20cat&style=Animated", token=token).body
            time.sleep(0.5)
            stack.deployment.stop_execution(stuck["task_id"])
            time.sleep(1.2)
            assert (
                stack.call("GET", f"/video-status/{stuck['task_id']}", token=token).body["status"] == "failed"
            )

            # A submit whose StartExecution fails (the record is rolled back)
            def refuse(self: Executions, name: str, payload: dict[str, Any]) -> str:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"
                )

            monkeypatch.setattr(Executions, "start", refuse)
            assert (
                stack.call("POST", "/generate-video?dream=a%20owl&style=Animated", token=token).status == 503
            )
            # An upload (presigning only: no call)
            upload = {"content_type": "image/png", "content_length": 4}
            assert stack.call("POST", "/api/uploads/", token=token, json_body=upload).status == 200
    finally:
        counter.detach_service_clients()

    made: dict[str, set[str]] = defaultdict(set)
    for call in counter.calls:
        made[call.label].add(f"{PREFIXES[call.service]}:{call.operation}")
    for spec in FUNCTIONS:
        calls = made.get(spec.name, set())
        assert calls <= granted(spec.name), (
            f"{spec.name} calls what it is not granted: {calls - granted(spec.name)}"
        )
        data = {a for a in granted(spec.name) if a.startswith(("dynamodb:", "states:"))}
        unused = data - calls
        # The tokens table is read by the authorizer through its own client, which is not counted here
        assert unused <= {"dynamodb:GetItem"} if spec.name == "authorizer" else not unused, (
            spec.name,
            unused,
        )
    assert made["submit"] >= {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "states:StartExecution",
    }
    assert "s3:PutObject" in made["finalize"]
