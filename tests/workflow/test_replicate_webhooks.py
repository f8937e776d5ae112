"""Replicate's webhooks under the real ASL (moto) with the emulator's webhooks: the wait ends when
Replicate calls back; polling still finishes every task whatever happens to the webhooks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.counting import ReplicateRequestCounter
from replicate_emulator import ReplicateEmulator
from service.catalog import EVENTS_PER_POLL_CYCLE, HISTORY_EVENTS_LIMIT, MAX_POLLS_LIMIT, WorkflowTiming
from service.models.domain import TaskState
from tests.support import NAMES, Stack
from tests.workflow.test_workflow import TRANSITION_MODEL, finish, status_path, submit_transition

pytestmark = pytest.mark.workflow

#: Long enough that, if nothing ends a wait early, a task cannot finish within a test's patience.
LONG_WAIT = WorkflowTiming(poll_interval_s=30, max_polls=10)
#: With webhooks that fail, the poll asks Replicate after this much silence (the safety net).
RECONCILE = "2"


@pytest.fixture
def replicate_gets() -> Iterator[ReplicateRequestCounter]:
    """Replicate API calls, counted from the emulator's access log (GET /v1/predictions/{id}...)."""
    with ReplicateRequestCounter() as counter:
        yield counter


def deliveries(emulator: ReplicateEmulator, event: str | None = None) -> list[dict[str, Any]]:
    return [d for d in emulator.webhook_deliveries() if event is None or d["event"] == event]


def record(stack: Stack, arn: str) -> Any:
    from service.adapters.tasks_table import TasksTable

    return TasksTable(NAMES.table("tasks")).get(arn.rsplit(":", 1)[1])


def wait_outcomes(stack: Stack, arn: str) -> list[str]:
    """How each WaitBeforePoll ended: TaskSucceeded (woken by a webhook), TaskTimedOut (the poll
    interval ran out), TaskFailed (PollNow: a webhook came while no wait was stored)."""
    outcomes, inside = [], False
    for event in stack.history(arn):
        kind = event["type"]
        if kind == "TaskStateEntered":
            inside = event["stateEnteredEventDetails"]["name"] == "WaitBeforePoll"
        elif inside and kind in ("TaskSucceeded", "TaskTimedOut", "TaskFailed"):
            outcomes.append(kind)
            inside = False
    return outcomes


def test_a_completed_webhook_ends_the_wait_and_replicate_is_not_polled(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    replicate_gets: ReplicateRequestCounter,
) -> None:
    # Given a poll interval far longer than the model runs: only a webhook can end the first wait
    stack = live(LONG_WAIT, webhooks=True)
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, body = finish(stack, token, arn, timeout=25)
    # Then the completed webhook woke the workflow, which read the end from the record
    assert execution["status"] == "SUCCEEDED", stack.history(arn)[-5:]
    assert body["state"] == "SUCCESS"
    assert wait_outcomes(stack, arn) == ["TaskSucceeded"]
    [prediction] = emulator.predictions()
    completed = deliveries(emulator, "completed")
    assert [(d["prediction_id"], d["answer"]) for d in completed] == [(prediction["id"], 200)]
    # And nobody asked Replicate about the prediction: the webhooks said it all (target: <= 1 GET)
    assert replicate_gets.requests["get"] <= 1
    hook = record(stack, arn)
    assert hook.state is TaskState.SUCCESS and hook.hooks[prediction["id"]].status == "succeeded"


def test_without_a_webhook_url_the_workflow_polls_as_before(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    stack = live(WorkflowTiming(poll_interval_s=1, max_polls=30))  # no public webhook URL
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, _ = finish(stack, token, arn)
    assert execution["status"] == "SUCCEEDED"
    assert emulator.webhook_deliveries() == []  # Replicate was given no webhook
    assert set(wait_outcomes(stack, arn)) == {"TaskTimedOut"}  # every wait lasted the poll interval
    assert all(not p.hooked for p in record(stack, arn).predictions)
    # A cycle's history events (the bound on max_polls: the history holds 25,000)
    events = stack.history(arn)
    starts = [
        i
        for i, e in enumerate(events)
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "WaitBeforePoll"
    ]
    ends = [
        i
        for i, e in enumerate(events)
        if e["type"] == "ChoiceStateExited" and e["stateExitedEventDetails"]["name"] == "PredictionsDone?"
    ]
    per_cycle = [end - start + 1 for start, end in zip(starts, ends, strict=True)]
    assert per_cycle and max(per_cycle) <= EVENTS_PER_POLL_CYCLE, per_cycle
    assert MAX_POLLS_LIMIT * EVENTS_PER_POLL_CYCLE + 1_000 <= HISTORY_EVENTS_LIMIT


def test_logs_webhooks_move_the_progress_without_asking_replicate(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    replicate_gets: ReplicateRequestCounter,
) -> None:
    """MusicGen prints audiocraft's token counter: its logs webhooks carry the progress to the
    record, which status reads show, while the workflow's wait is long and nobody polls."""
    emulator.faults.min_processing_s = 4.0
    stack = live(LONG_WAIT, webhooks=True)
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url, enable_music=True)
    seen: list[int] = []
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        body = stack.call("GET", status_path(arn), token=token).body
        if (
            body["state"] == "PROCESSING"
            and body["info"]
            and (not seen or seen[-1] != body["info"]["current"])
        ):
            seen.append(body["info"]["current"])
        if body["ready"]:
            break
        time.sleep(0.1)
    assert body["state"] == "SUCCESS"
    assert seen == sorted(seen) and len([v for v in seen if 0 < v < 99]) >= 2, seen
    assert len(deliveries(emulator, "logs")) >= 2
    assert replicate_gets.requests["get"] <= 2  # at most one per prediction (video, music)


def test_a_failed_prediction_webhook_fails_the_task_with_the_models_error(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {TRANSITION_MODEL: "Invalid image format"}
    stack = live(LONG_WAIT, webhooks=True)
    token = stack.token()
    execution, body = finish(stack, token, submit_transition(stack, token, image_base_url), timeout=25)
    assert execution["status"] == "FAILED" and execution.get("error") == "GenerationFailed"
    assert body["state"] == "FAILURE" and "Invalid image format" in body["error"]


# -- whatever happens to the webhooks, polling finishes the task the same way ------------------------------
@pytest.mark.parametrize(
    ("faults", "answer"),
    [
        pytest.param({"drop_webhooks": {"completed"}}, None, id="lost"),
        pytest.param({"delay_webhooks_s": 1.5}, 200, id="delayed"),
        pytest.param({"duplicate_webhooks": {"*"}}, 200, id="duplicated"),
        pytest.param({"reorder_webhooks": True}, 200, id="reordered"),
        pytest.param({"forge_webhooks": {"completed"}}, 401, id="forged"),
        pytest.param({"stale_webhooks": {"completed"}}, 400, id="stale"),
    ],
)
def test_a_webhook_fault_changes_the_latency_never_the_outcome(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    faults: dict[str, Any],
    answer: int | None,
) -> None:
    for name, value in faults.items():
        setattr(emulator.faults, name, value)
    emulator.faults.min_processing_s = 1.0
    stack = live(
        WorkflowTiming(poll_interval_s=1, max_polls=60), webhooks=True, webhook_reconcile_seconds=RECONCILE
    )
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, body = finish(stack, token, arn, timeout=40)
    # The outcome: as without webhooks
    assert execution["status"] == "SUCCEEDED", stack.history(arn)[-5:]
    assert body["state"] == "SUCCESS" and body["result"]["video_url"]
    [prediction] = emulator.predictions()
    task = record(stack, arn)
    assert task.predictions[0].status == "succeeded" and task.outputs["video"]
    # What the route answered the faulty webhook (None: it never arrived; a delayed one may come
    # after the task ended, and is answered all the same)
    deadline = time.monotonic() + 20
    while not (completed := deliveries(emulator, "completed")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert completed and completed[0]["answer"] == answer, completed
    if answer in (400, 401):  # refused: nothing of it was recorded
        assert task.hooks.get(prediction["id"]) is None or task.hooks[prediction["id"]].status != "failed"


def test_step_functions_refuses_a_used_task_token_as_aws_does(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    """A token answered once is closed: AWS answers a second SendTaskSuccess with TaskTimedOut (400),
    an unknown one with InvalidToken (400). The twin's moto does the same (before, it built the error
    without a message: a 500, retried five times by botocore, then a 500 to Replicate)."""
    from botocore.exceptions import ClientError

    emulator.faults.min_processing_s = 20.0  # no completed webhook during the test: the wait is ours
    stack = live(LONG_WAIT, webhooks=True)
    arn = submit_transition(stack, stack.token(), image_base_url)
    deadline = time.monotonic() + 15
    while not (wake_token := record(stack, arn).wake_token):
        assert time.monotonic() < deadline, "the wait never stored its token"
        time.sleep(0.1)
    sfn = stack.deployment.client("stepfunctions")
    sfn.send_task_success(taskToken=wake_token, output='{"woken_by": "test"}')
    refusals = {}
    for label, token in (("again", wake_token), ("unknown", "not-a-token-of-ours")):
        with pytest.raises(ClientError) as refused:
            sfn.send_task_success(taskToken=token, output="{}")
        refusals[label] = (
            refused.value.response["Error"]["Code"],
            refused.value.response["ResponseMetadata"]["HTTPStatusCode"],
        )
    assert refusals == {"again": ("TaskTimedOut", 400), "unknown": ("InvalidToken", 400)}
    stack.deployment.stop_execution(arn)
