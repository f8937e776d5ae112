"""The Replicate webhook route through the gateway emulator: no token, Replicate's signature instead;
forged, stale or malformed requests refused with nothing changed; duplicates and older events ignored."""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks import Webhook

from service.adapters import aws
from service.adapters.tasks_table import TasksTable
from service.domain.progress import combine
from service.handlers import wiring
from service.models.domain import PredictionRef
from tests.support import NAMES, Reply, Stack, transition_body

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PREDICTION = "gm3qorzdhgbfurvjtvhg6dckhu"
KLING = "kwaivgi/kling-v1.6-pro"


@pytest.fixture
def webhook_stack(stack: Stack) -> Stack:
    aws.client("secretsmanager").put_secret_value(
        SecretId=NAMES.replicate_webhook_secret, SecretString=SECRET
    )
    wiring.reset()  # the secret is read again
    return stack


def running_task(stack: Stack) -> str:
    """A submitted task whose (hooked) prediction StartPredictions recorded; its execution name."""
    reply = stack.call(
        "POST", "/api/transitions/create-and-generate/", token=stack.token(), json_body=transition_body()
    )
    assert reply.status == 202, reply.body
    name = reply.body["task_id"].rsplit(":", 1)[1]
    ref = PredictionRef(role="video", model=KLING, id=PREDICTION, status="starting", hooked=True)
    assert TasksTable(NAMES.table("tasks")).mark_processing(name, [ref], combine([]))
    return name


def prediction(status: str = "processing", logs: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "id": PREDICTION,
        "model": KLING,
        "status": status,
        "logs": logs,
        "output": None,
        "error": None,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if status != "starting" else None,
        **extra,
    }


def post(
    stack: Stack,
    task: str,
    body: dict[str, Any] | str,
    *,
    key: str = SECRET,
    webhook_id: str | None = None,
    at: float | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    text = body if isinstance(body, str) else json.dumps(body)
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    moment = int(at if at is not None else time.time())
    signed = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(moment),
        "webhook-signature": Webhook(key).sign(webhook_id, datetime.fromtimestamp(moment, UTC), text),
        "Content-Type": "application/json",
    }
    return stack.call(
        "POST", f"/api/replicate-webhooks/{task}", raw_body=text.encode(), headers=headers or signed
    )


def item(task: str) -> dict[str, Any]:
    return dict(
        aws.client("dynamodb").get_item(TableName=NAMES.table("tasks"), Key={"task_id": {"S": task}})["Item"]
    )


def test_a_signed_logs_webhook_is_recorded_without_a_token(webhook_stack: Stack) -> None:
    task = running_task(webhook_stack)
    reply = post(webhook_stack, task, prediction("processing", "Generating video...\n"))
    assert reply.status == 200 and reply.body == {"detail": "recorded"}
    record = TasksTable(NAMES.table("tasks")).get(task)
    assert record is not None
    hook = record.hooks[PREDICTION]
    assert hook.status == "processing" and hook.started_at is not None and hook.output is None
    assert record.progress is not None and record.progress.status == "Processing frames..."


def test_a_duplicate_or_an_older_webhook_changes_nothing(webhook_stack: Stack) -> None:
    task = running_task(webhook_stack)
    newer = prediction("processing", "line 1\nline 2\n")
    assert post(webhook_stack, task, newer, webhook_id="msg_same").body == {"detail": "recorded"}
    before = item(task)
    # the same delivery again (a retry), then an older state delivered late
    duplicate = post(webhook_stack, task, newer, webhook_id="msg_same")
    older = post(webhook_stack, task, prediction("processing", "line 1\n"))
    start = post(webhook_stack, task, prediction("starting"))
    for reply in (duplicate, older, start):
        assert reply.status == 200 and reply.body["detail"].startswith("ignored"), reply.body
    assert item(task) == before


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        pytest.param({"key": "whsec_" + base64.b64encode(b"x" * 32).decode()}, 401, "signature", id="forged"),
        pytest.param({"age_s": 400}, 400, "stale", id="stale"),
        pytest.param({"age_s": -400}, 400, "stale", id="from-the-future"),
        pytest.param({"headers": {"Content-Type": "application/json"}}, 400, "malformed", id="unsigned"),
        pytest.param({"body": "[1, 2]"}, 400, "malformed", id="not-a-prediction"),
        pytest.param({"body": "{" * 40 + "}" * 40}, 400, "malformed", id="deeply-nested"),
    ],
)
def test_a_forged_stale_or_malformed_webhook_is_refused_and_changes_nothing(
    webhook_stack: Stack,
    change: dict[str, Any],
    status: int,
    reason: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    task = running_task(webhook_stack)
    before = item(task)
    change = dict(change)
    if "age_s" in change:  # from the clock now, not at collection (minutes earlier in a full run)
        change["at"] = time.time() - change.pop("age_s")
    body = change.pop("body", prediction("failed", error="it failed"))
    reply = post(webhook_stack, task, body, **change)
    assert reply.status == status, reply.body
    assert isinstance(reply.body["detail"], str) and "Traceback" not in reply.body["detail"]
    assert item(task) == before
    refused = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if "ReplicateWebhooksRefused" in line
    ]
    assert [line["reason"] for line in refused] == [reason]


def test_a_tampered_body_does_not_verify(webhook_stack: Stack) -> None:
    task = running_task(webhook_stack)
    before = item(task)
    text = json.dumps(prediction("processing"))
    moment = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(moment),
        "webhook-signature": Webhook(SECRET).sign("msg_1", datetime.fromtimestamp(moment, UTC), text),
    }
    tampered = text.replace("processing", "succeeded")
    reply = webhook_stack.call(
        "POST", f"/api/replicate-webhooks/{task}", raw_body=tampered.encode(), headers=headers
    )
    assert reply.status == 401 and item(task) == before


def test_without_the_signing_secret_every_webhook_is_refused(stack: Stack) -> None:
    # A fresh stack's secret holds a generated placeholder until operators set Replicate's
    task = running_task(stack)
    reply = post(stack, task, prediction("processing"))
    assert reply.status == 401 and reply.body == {"detail": "The signature cannot be verified"}


def test_a_prediction_not_recorded_yet_is_answered_409_so_replicate_retries(webhook_stack: Stack) -> None:
    task = running_task(webhook_stack)
    reply = post(webhook_stack, task, prediction("processing") | {"id": "another000000000000000000a"})
    assert reply.status == 409


@pytest.mark.parametrize("task", ["not-a-uuid", "0f0e0d0c-0b0a-4908-8706-050403020100"])
def test_a_webhook_for_no_task_of_ours_is_ignored(webhook_stack: Stack, task: str) -> None:
    reply = post(webhook_stack, task, prediction("processing"))
    assert reply.status == 200 and reply.body["detail"].startswith("ignored")


def test_a_completed_webhook_records_the_output_and_wakes_nothing_when_nobody_waits(
    webhook_stack: Stack,
) -> None:
    task = running_task(webhook_stack)
    output = "https://replicate.delivery/xezq/video.mp4"
    reply = post(webhook_stack, task, prediction("succeeded", "done\n", output=output))
    assert reply.status == 200 and reply.body == {"detail": "recorded"}
    hook = TasksTable(NAMES.table("tasks")).get(task).hooks[PREDICTION]  # type: ignore[union-attr]
    assert hook.status == "succeeded" and hook.output == output


def test_the_wake_is_sent_with_the_stored_token_and_a_closed_wait_is_no_error() -> None:
    from botocore.exceptions import ClientError

    from service.adapters.executions import WorkflowWake

    class Client:
        def __init__(self, code: str | None) -> None:
            self.code, self.calls = code, []

        def send_task_success(self, **kwargs: Any) -> None:
            self.calls.append(kwargs)
            if self.code:
                raise ClientError({"Error": {"Code": self.code, "Message": "x"}}, "SendTaskSuccess")

    woken = Client(None)
    assert WorkflowWake(woken).wake("token-1", {"prediction_id": "p", "status": "succeeded"}) is True
    assert woken.calls == [
        {"taskToken": "token-1", "output": '{"prediction_id": "p", "status": "succeeded"}'}
    ]
    for code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
        assert WorkflowWake(Client(code)).wake("t", {}) is False
    with pytest.raises(ClientError):
        WorkflowWake(Client("AccessDeniedException")).wake("t", {})
