"""The task controls with the real workflow (ASL under moto, the Replicate emulator): a cancel ends
the predictions at Replicate (``canceled``, proven at the emulator), and caller webhooks are delivered
once per task, signed per Standard Webhooks, retried with backoff after a failure, given up after
their window, and shown on the task."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from replicate_emulator import ReplicateEmulator
from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from tests.receiver import Receiver
from tests.support import NAMES, Stack
from tests.workflow.test_no_orphans import submit, wait_until_predictions
from tests.workflow.test_workflow import TRANSITION_MODEL, finish, status_path

pytestmark = pytest.mark.workflow

#: The twin's compressed schedule, shorter still: retries a second apart, given up after 3 s.
FAST_RETRIES = {
    "webhook_allow_loopback": "true",
    "retry_base_seconds": "1",
    "retry_cap_seconds": "1",
    "retry_window_seconds": "3",
}


def test_a_cancel_stops_the_execution_and_its_predictions_end_canceled_at_replicate(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # Given a running task whose predictions never finish on their own
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True)
    wait_until_predictions(arn, 2)
    assert {p["status"] for p in emulator.predictions()} <= {"starting", "processing"}
    # When its owner cancels it
    reply = stack.call("POST", f"/api/tasks/{arn}/cancel/", token=token)
    assert reply.status == 202 and reply.body["error"] == "Task was canceled"
    # Then the execution is ABORTED, and its status change reaches the clean-up (EventBridge),
    # which cancels every prediction at Replicate
    assert stack.wait_execution(arn)["status"] == "ABORTED"
    stack.deployment.execution_events.deliver()
    assert sorted(p["model"] for p in emulator.predictions()) == [TRANSITION_MODEL, "meta/musicgen"]
    assert {p["status"] for p in emulator.predictions()} == {"canceled"}
    body = stack.call("GET", status_path(arn), token=token).body
    assert (body["state"], body["error"]) == ("FAILURE", "Task was canceled")
    assert OwnersTable(NAMES.table("owners")).usage("alice").in_flight == 0


def test_deleting_a_running_task_still_cancels_its_predictions_at_replicate(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # Given a running task with music (two predictions that never finish on their own) and a webhook
    emulator.faults.never_finish = {"*"}
    stack = live(**FAST_RETRIES)
    token = stack.token()
    with Receiver() as receiver:
        arn = submit(stack, token, image_base_url, enable_music=True, webhook_url=receiver.url)
        wait_until_predictions(arn, 2)
        assert {p["status"] for p in emulator.predictions()} <= {"starting", "processing"}
        # When its owner deletes it
        assert stack.call("DELETE", f"/api/tasks/{arn}/", token=token).status == 204
        # Then the owner no longer sees it
        assert stack.call("GET", status_path(arn), token=token).status == 404
        assert arn not in [i["task_id"] for i in stack.call("GET", "/api/tasks/", token=token).body["items"]]
        # And the execution's ABORTED reaches the clean-up, which cancels both predictions at Replicate
        # from the tombstone the delete left, then removes the tombstone
        assert stack.wait_execution(arn)["status"] == "ABORTED"
        stack.deployment.execution_events.deliver()
        assert sorted(p["model"] for p in emulator.predictions()) == [TRANSITION_MODEL, "meta/musicgen"]
        assert {p["status"] for p in emulator.predictions()} == {"canceled"}
        from service.adapters import aws

        item = aws.client("dynamodb").get_item(
            TableName=NAMES.table("tasks"), Key={"task_id": {"S": arn.rsplit(":", 1)[1]}}, ConsistentRead=True
        )
        assert "Item" not in item
        assert OwnersTable(NAMES.table("owners")).usage("alice").in_flight == 0
        # And the caller's webhook hears nothing of a task its owner deleted
        stack.deployment.queue_consumers.drain(timeout_s=10)
        assert receiver.received == []


def test_a_finalize_that_finds_its_task_canceled_removes_what_it_stored(
    live: Callable[..., Stack], image_base_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Finalize whose terminal write finds the task ended (cancelled while it composed)
    monkeypatch.setattr(TasksTable, "mark_success", lambda self, task, result: False)
    uploaded: list[str] = []
    original = MediaStore.upload

    def upload(self: MediaStore, path: str, key: str, content_type: str) -> None:
        uploaded.append(key)
        original(self, path, key, content_type)

    monkeypatch.setattr(MediaStore, "upload", upload)
    stack = live()
    arn = submit(stack, stack.token(), image_base_url)
    stack.wait_execution(arn)
    # Then nothing it uploaded is left in the bucket
    from service.adapters import aws

    assert uploaded  # it did upload the video and the thumbnail
    listed = aws.client("s3").list_objects_v2(Bucket=NAMES.media_bucket).get("Contents", [])
    assert not {item["Key"] for item in listed} & set(uploaded)


def _verify(secret: str, request: Any) -> dict[str, Any]:
    """The Standard Webhooks reference implementation checks our signature."""
    return dict(Webhook(secret).verify(request.body, request.headers))


def test_a_webhook_is_signed_delivered_once_and_retried_after_a_500(
    live: Callable[..., Stack], image_base_url: str
) -> None:
    stack = live(**FAST_RETRIES)
    token = stack.token()
    with Receiver(answers=[500]) as receiver:
        # Given a task with a webhook, whose receiver answers 500 the first time
        arn = submit(stack, token, image_base_url, webhook_url=receiver.url)
        execution, body = finish(stack, token, arn)
        assert execution["status"] == "SUCCEEDED" and body["webhook"]["state"] == "pending"
        # When the execution's end reaches the deliveries queue and its consumer
        stack.deployment.execution_events.deliver()
        stack.deployment.execution_events.deliver()  # a second round delivers nothing new
        stack.deployment.queue_consumers.drain(timeout_s=30)
        # Then two attempts, the same event, each signed with the owner's secret
        first, second = receiver.wait_for(2)
        assert len(receiver.received) == 2
    secret = stack.call("GET", "/api/webhooks/secret/", token=token).body["secret"]
    events = [_verify(secret, request) for request in (first, second)]
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == events[0]["id"]
    assert events[0]["id"] == "msg_" + arn.rsplit(":", 1)[1].replace("-", "")
    assert int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"])
    assert second.at - first.at >= 0.5  # came back after its backoff, through the queue
    event = events[1]
    assert event["type"] == "task.succeeded" and event["timestamp"].endswith("Z")
    data = event["data"]
    assert data["task_id"] == arn and data["state"] == "SUCCESS" and data["kind"] == "transition"
    assert "webhook" not in data and data["result"]["video_url"].startswith("http")
    # And the owner sees the attempts on the task
    webhook = stack.call("GET", status_path(arn), token=token).body["webhook"]
    assert webhook["state"] == "delivered" and webhook["attempts"] == 2
    assert [a["status_code"] for a in webhook["last_attempts"]] == [500, 200]
    assert webhook["last_attempts"][0]["error"] == "the receiver answered 500"
    assert webhook["delivered_at"] and webhook["next_attempt_at"] is None
    # A duplicate of the event (EventBridge delivers at least once) sends nothing more
    stack.deployment._enqueue(stack.deployment.queue_consumers.queues[0], _event_for(stack, arn))
    stack.deployment.queue_consumers.drain(timeout_s=10)
    assert len(receiver.received) == 2


def _event_for(stack: Stack, arn: str) -> dict[str, Any]:
    from twin.execution_events import status_change_event

    described = stack.sfn.describe_execution(executionArn=arn)
    return status_change_event(described, region="us-east-1", account="123456789012")


def test_a_failed_task_sends_task_failed_and_a_task_without_webhook_sends_nothing(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {"*": "CUDA out of memory"}
    stack = live(**FAST_RETRIES)
    token = stack.token()
    with Receiver() as receiver:
        arn = submit(stack, token, image_base_url, webhook_url=receiver.url)
        quiet = submit(stack, token, image_base_url)
        for task in (arn, quiet):
            assert stack.wait_execution(task)["status"] == "FAILED"
        stack.deployment.execution_events.deliver()
        stack.deployment.queue_consumers.drain(timeout_s=30)
        [request] = receiver.wait_for(1)
    event = json.loads(request.body)
    assert event["type"] == "task.failed" and event["data"]["state"] == "FAILURE"
    assert "CUDA out of memory" in event["data"]["error"]


def test_a_webhook_that_never_gets_a_2xx_is_given_up_to_the_dead_letter_queue(
    live: Callable[..., Stack], image_base_url: str
) -> None:
    stack = live(**FAST_RETRIES)
    token = stack.token()
    with Receiver(answers=[503] * 100) as receiver:
        arn = submit(stack, token, image_base_url, webhook_url=receiver.url)
        stack.wait_execution(arn)
        stack.deployment.execution_events.deliver()
        stack.deployment.queue_consumers.drain(timeout_s=60)
        attempts = len(receiver.received)
    assert attempts >= 2  # retried within the window (3 s), then given up
    webhook = stack.call("GET", status_path(arn), token=token).body["webhook"]
    assert webhook["state"] == "failed" and webhook["attempts"] == attempts
    from service.adapters import aws

    _, dead = stack.deployment.queue_urls["deliveries"]
    [message] = aws.client("sqs").receive_message(QueueUrl=dead, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["detail"]["name"] == arn.rsplit(":", 1)[1]
    assert "no 2xx answer" in message["MessageAttributes"]["reason"]["StringValue"]


def test_an_erased_task_sends_nothing(live: Callable[..., Stack], image_base_url: str) -> None:
    stack = live(**FAST_RETRIES)
    token = stack.token()
    with Receiver() as receiver:
        arn = submit(stack, token, image_base_url, webhook_url=receiver.url)
        stack.wait_execution(arn)
        assert stack.call("DELETE", f"/api/tasks/{arn}/", token=token).status == 204
        stack.deployment.execution_events.deliver()
        stack.deployment.queue_consumers.drain(timeout_s=10)
        assert receiver.received == []
