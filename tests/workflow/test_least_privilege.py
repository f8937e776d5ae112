"""Point 7 of issue 11, from the other side: the infra tests compare each role's grants with its
catalog ``needs``; here every AWS call each function really makes, on every path (a task that
succeeds, one that fails at StartPredictions, one whose prediction fails, a stale record, an
execution stopped and cleaned up, a StartExecution that fails, an upload), is counted and must be
one its needs grant, and every DynamoDB and Step Functions action granted is one it makes (a
transaction is authorized as the PutItem, UpdateItem or DeleteItem of each of its items)."""

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
from service.adapters.tasks_table import TasksTable
from service.catalog import FUNCTIONS
from tests.receiver import Receiver
from tests.support import NAMES, Stack, transition_body

pytestmark = pytest.mark.workflow


def granted(name: str) -> set[str]:
    from infra.permissions import NEED_GRANTS

    spec = next(spec for spec in FUNCTIONS if spec.name == name)
    return {action for need in spec.needs for action in NEED_GRANTS[need][0]}


def wait_for_prediction(arn: str, timeout: float = 30) -> None:
    tasks = TasksTable(NAMES.table("tasks"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = tasks.get(arn.rsplit(":", 1)[1])
        if task is not None and task.predictions:
            return
        time.sleep(0.1)
    raise AssertionError("no prediction recorded")


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
            # With Replicate's webhooks (the route records them and wakes the workflow's waits) and
            # caller webhooks to a loopback receiver
            stack = live(
                stale_after_seconds="1",
                webhooks=True,
                webhook_allow_loopback="true",
                retry_base_seconds="1",
                retry_cap_seconds="1",
                retry_window_seconds="1",
            )
            token = stack.token()
            emulator.faults.min_processing_s = 1.5  # the completed webhook comes while a wait waits
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
            emulator.faults.min_processing_s = 0.0
            emulator.faults.reject_input = {"*": "prompt"}
            bad = stack.call("POST", "/generate-video?dream=a%20fox&style=Animated", token=token).body
            assert stack.wait_execution(bad["task_id"])["status"] == "FAILED"
            # One whose prediction fails (PollPredictions reads the owner's URLs for the error)
            emulator.faults.reject_input = {}
            emulator.faults.fail = {"*": "boom"}
            failed = stack.call("POST", "/generate-video?dream=a%20bat&style=Animated", token=token).body
            assert stack.wait_execution(failed["task_id"])["status"] == "FAILED"
            # One stopped from outside, read once its record is stale (its prediction's webhooks
            # are dropped: each would refresh the record, which would then never be stale)
            emulator.faults.fail = {}
            emulator.faults.never_finish = {"*"}
            emulator.faults.drop_webhooks = {"start", "output", "logs", "completed"}
            stuck = stack.call("POST", "/generate-video?dream=a%20cat&style=Animated", token=token).body
            time.sleep(0.5)
            stack.deployment.stop_execution(stuck["task_id"])
            time.sleep(1.2)
            assert (
                stack.call("GET", f"/video-status/{stuck['task_id']}", token=token).body["status"] == "failed"
            )
            emulator.faults.drop_webhooks = set()
            # One stopped from outside and cleaned up by its status change (EventBridge)
            gone = stack.call("POST", "/generate-video?dream=a%20rat&style=Animated", token=token).body
            time.sleep(0.5)
            stack.deployment.stop_execution(gone["task_id"])
            stack.wait_execution(gone["task_id"])
            stack.deployment.execution_events.deliver()
            assert (
                stack.call("GET", f"/video-status/{gone['task_id']}", token=token).body["status"] == "failed"
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
            monkeypatch.undo()
            # The task controls: a list with a cursor, a cancel, a delete, the webhook secret
            listed = stack.call("GET", "/api/tasks/?limit=1", token=token).body
            assert (
                stack.call("GET", f"/api/tasks/?limit=1&cursor={listed['next_cursor']}", token=token).status
                == 200
            )
            emulator.faults.never_finish = {"*"}
            running = stack.call("POST", "/generate-video?dream=a%20yak&style=Animated", token=token).body
            wait_for_prediction(running["task_id"])
            assert stack.call("POST", f"/api/tasks/{running['task_id']}/cancel/", token=token).status == 202
            # its prediction may still run: a tombstone, which the clean-up deletes on the ABORTED
            # event (delivered below); the finished task is erased
            assert stack.call("DELETE", f"/api/tasks/{running['task_id']}/", token=token).status == 204
            assert stack.call("DELETE", f"/api/tasks/{ok['task_id']}/", token=token).status == 204
            assert stack.call("GET", "/api/webhooks/secret/", token=token).status == 200
            assert stack.call("POST", "/api/webhooks/secret/", token=token).status == 200
            # An idempotent submit, and its replay
            key = {"Idempotency-Key": "least-privilege"}
            for _ in range(2):
                reply = stack.call(
                    "POST", "/generate-video?dream=a%20gnu&style=Animated", token=token, headers=key
                )
                assert reply.status == 202
            # A task with a webhook: delivered after a 500 (a retry through the queue), then given up
            emulator.faults.never_finish = set()
            with Receiver(answers=[500]) as receiver:
                hooked = stack.call(
                    "POST",
                    f"/generate-video?dream=a%20hen&style=Animated&webhook_url={receiver.url}",
                    token=token,
                ).body
                stack.wait_execution(hooked["task_id"])
                stack.deployment.execution_events.deliver()
                stack.deployment.queue_consumers.drain(timeout_s=30)
                assert len(receiver.received) == 2
            with Receiver(answers=[500] * 100) as receiver:
                lost = stack.call(
                    "POST",
                    f"/generate-video?dream=a%20cow&style=Animated&webhook_url={receiver.url}",
                    token=token,
                ).body
                stack.wait_execution(lost["task_id"])
                stack.deployment.execution_events.deliver()
                stack.deployment.queue_consumers.drain(timeout_s=30)
            # The document and its page
            assert (
                stack.call("GET", "/openapi.json").status == 200 and stack.call("GET", "/docs").status == 200
            )
    finally:
        counter.detach_service_clients()

    made: dict[str, set[str]] = defaultdict(set)
    for call in counter.calls:
        made[call.label] |= counter.actions(call.label)
    for spec in FUNCTIONS:
        calls = made.get(spec.name, set())
        assert calls <= granted(spec.name), (
            f"{spec.name} calls what it is not granted: {calls - granted(spec.name)}"
        )
        data = {a for a in granted(spec.name) if a.startswith(("dynamodb:", "states:", "sqs:"))}
        unused = data - calls
        # The tokens table is read by the authorizer through its own client, which is not counted here;
        # the event source mapping (not the function) receives and deletes the deliver function's
        # messages and reads its queue's attributes; the clean-up's dead-letter queue is Lambda's.
        expected_unused = {
            "authorizer": {"dynamodb:GetItem"},
            "deliver": {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
            "cleanup": {"sqs:SendMessage"},
        }.get(spec.name, set())
        assert unused == expected_unused or (spec.name == "authorizer" and unused <= expected_unused), (
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
    assert made["replicate_webhooks"] >= {"dynamodb:GetItem", "dynamodb:UpdateItem", "states:SendTaskSuccess"}
