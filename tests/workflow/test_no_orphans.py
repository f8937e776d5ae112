"""No orphaned Replicate work, proven at the emulator: whichever way a task ends, every prediction it
created is ``canceled`` (or was already terminal), its record is terminal and its owner's slot is
free; and a retried StartPredictions never creates a prediction twice. Also: what the execution
history may and may not carry."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from replicate_emulator import ReplicateEmulator
from service.adapters.owners_table import OwnersTable
from service.adapters.replicate_gateway import ReplicateGateway
from service.adapters.tasks_table import TasksTable
from service.catalog import WorkflowTiming
from service.domain.errors import ReplicateRejected, ReplicateUnavailable
from service.domain.workflow import INTERNAL_ERROR, Workflow
from service.models.domain import PredictionCall, PredictionRef, TaskState
from tests.support import NAMES, Stack, transition_body
from tests.workflow.test_workflow import CREATE, TRANSITION_MODEL, finish, state_names, status_path
from twin.execution_events import status_change_event

pytestmark = pytest.mark.workflow

TERMINAL = {"succeeded", "failed", "canceled", "aborted"}


def submit(stack: Stack, token: str, images: str, **overrides: Any) -> str:
    body = transition_body(front_image=f"{images}/front.jpg", tail_image=f"{images}/tail.jpg", **overrides)
    reply = stack.call("POST", CREATE, token=token, json_body=body)
    assert reply.status == 202, reply.body
    return str(reply.body["task_id"])


def in_flight(owner: str = "alice") -> int:
    return OwnersTable(NAMES.table("owners")).usage(owner).in_flight


def record(arn: str) -> Any:
    task = TasksTable(NAMES.table("tasks")).get(arn.rsplit(":", 1)[1])
    assert task is not None
    return task


def wait_until_predictions(arn: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(record(arn).predictions) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} predictions recorded after {timeout} s")


def statuses(emulator: ReplicateEmulator) -> dict[str, str]:
    return {p["model"]: p["status"] for p in emulator.predictions()}


# -- StartPredictions: one prediction per role, however often it runs ----------------------------
def test_a_retried_start_reuses_the_prediction_it_already_made(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a StartPredictions whose second create (the music) fails once, which the ASL retries
    original = ReplicateGateway.create
    failed: list[str] = []

    def flaky(self: ReplicateGateway, call: PredictionCall, **options: Any) -> PredictionRef:
        if call.role == "music" and not failed:
            failed.append(call.role)
            raise ReplicateUnavailable("Replicate is unavailable (test)")
        return original(self, call, **options)

    monkeypatch.setattr(ReplicateGateway, "create", flaky)
    stack = live()
    token = stack.token()
    # When the task runs
    arn = submit(stack, token, image_base_url, enable_music=True)
    execution, body = finish(stack, token, arn)
    # Then the retry reused the video it had recorded: one video, one music, never two
    assert execution["status"] == "SUCCEEDED" and body["state"] == "SUCCESS", body
    assert failed == ["music"]
    assert sorted(p["model"] for p in emulator.predictions()) == [TRANSITION_MODEL, "meta/musicgen"]
    assert state_names(stack, arn).count("StartPredictions") == 1  # retried inside the state
    assert in_flight() == 0


def test_start_predictions_run_twice_creates_nothing_the_second_time(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True)
    wait_until_predictions(arn, 2)
    first = {p.role: p.id for p in record(arn).predictions}
    # The step again, as a retry after a lost answer would run it
    payload, errored = stack.deployment.invoke(
        _spec("start_predictions"), {"task_id": arn.rsplit(":", 1)[1], "kind": "transition"}
    )
    assert not errored, payload
    assert {p["role"]: p["id"] for p in json.loads(payload)["predictions"]} == first
    assert len(emulator.predictions()) == 2


def _spec(name: str) -> Any:
    from service.catalog import function

    return function(name)


# -- every failure path cancels what still runs -------------------------------------------------
def test_a_start_that_fails_half_way_cancels_what_it_had_made(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a music create that Replicate refuses (not retried): the video is created first
    original = ReplicateGateway.create

    def refuse_music(self: ReplicateGateway, call: PredictionCall, **options: Any) -> PredictionRef:
        if call.role == "music":
            raise ReplicateRejected("Replicate rejected the request (test)", status=422, role="music")
        return original(self, call, **options)

    monkeypatch.setattr(ReplicateGateway, "create", refuse_music)
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True)
    execution, body = finish(stack, token, arn)
    # Then MarkFailed (whose input has no prediction ids) cancelled the video from the record
    assert execution["status"] == "FAILED" and body["state"] == "FAILURE"
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled"}
    assert state_names(stack, arn) == ["StartPredictions", "MarkFailed", "GenerationFailed"]
    assert in_flight() == 0


def test_a_step_that_crashes_cancels_the_running_predictions(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.faults.never_finish = {"*"}

    def crash(self: Workflow, state: Any) -> Any:
        raise RuntimeError(f"a bug, with the task's words in it: {state}")

    monkeypatch.setattr(Workflow, "poll_predictions", crash)
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True, prompt="words of the owner")
    execution, body = finish(stack, token, arn)
    assert execution["status"] == "FAILED"
    assert body["state"] == "FAILURE" and body["error"] == INTERNAL_ERROR
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled", "meta/musicgen": "canceled"}
    assert record(arn).predictions and all(p.status == "canceled" for p in record(arn).predictions)
    # The history says which step failed and how to find out more, not what it was doing.
    failed = [e for e in stack.history(arn) if e["type"] == "TaskFailed"]
    assert failed and all(e["taskFailedEventDetails"]["error"] == "StepFailed" for e in failed)
    assert "words of the owner" not in json.dumps(stack.history(arn), default=str)
    assert in_flight() == 0


def test_a_spent_poll_budget_cancels_every_prediction(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live(WorkflowTiming(poll_interval_s=1, max_polls=2))
    token = stack.token()
    execution, body = finish(stack, token, submit(stack, token, image_base_url, enable_music=True))
    assert execution["status"] == "FAILED" and execution.get("error") == "GenerationTimedOut"
    assert body["error"] == "Video generation timed out after 2 seconds"
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled", "meta/musicgen": "canceled"}
    assert in_flight() == 0


# -- executions that end without the workflow's help ---------------------------------------------
def test_a_stopped_execution_is_cleaned_up_by_its_status_change_event(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True)
    wait_until_predictions(arn, 2)
    assert in_flight() == 1
    stack.deployment.stop_execution(arn, error="Operator", cause="stopped by hand")
    assert stack.wait_execution(arn)["status"] == "ABORTED"
    # When EventBridge delivers the execution's status change to the clean-up function
    events = stack.deployment.execution_events.deliver()
    # Then every prediction is cancelled, the task failed with a clear error, the slot is free
    assert [(e["detail"]["name"], e["detail"]["status"]) for e in events] == [
        (arn.rsplit(":", 1)[1], "ABORTED")
    ]
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled", "meta/musicgen": "canceled"}
    body = stack.call("GET", status_path(arn), token=token).body
    assert body["state"] == "FAILURE" and body["error"] == "Video generation was stopped before it finished"
    assert in_flight() == 0
    assert stack.deployment.execution_events.deliver() == []  # each change is delivered once


def test_the_twins_event_source_delivers_without_being_asked(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # The twin runs the event source as a thread (videogen serve); here as the twin does
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=False)
    wait_until_predictions(arn, 1)
    # Told by moto that the execution ended, not looking for it: a round every 10 minutes would
    # never come within this test's 30 s
    stack.deployment.execution_events.start(interval_s=600)
    stack.deployment.stop_execution(arn)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and record(arn).state is not TaskState.FAILURE:
        time.sleep(0.2)
    assert record(arn).error == "Video generation was stopped before it finished"
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled"} and in_flight() == 0


class CallsTo:
    """A client that records which of its operations were called."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls = client, list[str]()

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.client, name)


def test_the_event_source_never_lists_executions(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Listing every ended execution each round took most of the twin's moto CPU after a few hundred
    # tasks (docs/performance.md): a round costs one DescribeExecution per execution that ended
    emulator.faults.fail = {TRANSITION_MODEL: "Invalid image format"}
    stack = live()
    events = stack.deployment.execution_events
    counting = CallsTo(events.sfn)
    monkeypatch.setattr(events, "sfn", counting)
    token = stack.token()
    arns = [submit(stack, token, image_base_url, enable_music=False) for _ in range(3)]
    for arn in arns:
        finish(stack, token, arn)
    delivered = events.deliver()
    assert sorted(e["detail"]["executionArn"] for e in delivered) == sorted(arns)
    assert {e["detail"]["status"] for e in delivered} == {"FAILED"}
    assert counting.calls == ["describe_execution"] * 3  # no ListExecutions: one describe each
    assert events.deliver() == [] and len(counting.calls) == 3  # nothing left: no call at all


def test_an_execution_that_hits_its_timeout_is_cleaned_up(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # Given an execution timeout (the backstop, here 6 s) far shorter than the poll budget (30 s)
    emulator.faults.never_finish = {"*"}
    stack = live(WorkflowTiming(poll_interval_s=1, max_polls=30, finalize_margin_s=-24))
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=False)
    assert stack.wait_execution(arn)["status"] == "TIMED_OUT"
    stack.deployment.execution_events.deliver()
    # Then the prediction is cancelled: by the clean-up if StartPredictions had recorded it, or by
    # StartPredictions itself if it was still running (its write finds the task ended)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and statuses(emulator) != {TRANSITION_MODEL: "canceled"}:
        time.sleep(0.2)
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled"}
    body = stack.call("GET", status_path(arn), token=token).body
    assert body["state"] == "FAILURE" and body["error"] == "Video generation timed out"
    assert in_flight() == 0


def test_an_execution_that_failed_outside_the_workflow_is_cleaned_up(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    # A FAILED execution whose task is still PROCESSING (the workflow could not record the failure:
    # MarkFailed itself failing every retry takes minutes to reproduce, so the execution is stopped
    # and its event delivered as FAILED, through the same builder and function)
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=False)
    wait_until_predictions(arn, 1)
    stack.deployment.stop_execution(arn)
    described = stack.wait_execution(arn) | {"status": "FAILED", "error": "States.Runtime"}
    event = status_change_event(described, region="us-east-1", account=arn.split(":")[4])
    payload, errored = stack.deployment.invoke(_spec("cleanup"), event)
    assert not errored and json.loads(payload)["ended_task"] is True
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled"}
    body = stack.call("GET", status_path(arn), token=token).body
    assert body["state"] == "FAILURE" and body["error"] == "Video generation failed unexpectedly"
    assert in_flight() == 0


def test_a_clean_up_that_cannot_cancel_is_retried_then_kept_as_a_dead_letter(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=False)
    wait_until_predictions(arn, 1)

    def unreachable(self: ReplicateGateway, prediction_id: str) -> str:
        raise ReplicateUnavailable("Replicate could not be reached (test)")

    monkeypatch.setattr(ReplicateGateway, "cancel", unreachable)
    stack.deployment.stop_execution(arn)
    assert stack.wait_execution(arn)["status"] == "ABORTED"
    events = stack.deployment.execution_events
    # The task ends (its slot is free) but the function fails: retried, then a dead letter
    assert events.deliver() == [] and events.deliver() == []
    assert record(arn).state is TaskState.FAILURE and in_flight() == 0
    [delivered] = events.deliver()
    [dead] = events.dead_letters
    assert dead["function"] == "cleanup" and dead["event"] == delivered
    assert statuses(emulator) == {TRANSITION_MODEL: "processing"}  # what the alarm is about
    # Replicate is back: the operator invokes the clean-up with the dead letter (docs/operations.md)
    monkeypatch.undo()
    payload, errored = stack.deployment.invoke(_spec("cleanup"), dead["event"])
    assert not errored, payload
    assert statuses(emulator) == {TRANSITION_MODEL: "canceled"}


def test_the_clean_up_of_a_task_the_workflow_already_ended_changes_nothing(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {TRANSITION_MODEL: "Invalid image format"}
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=False)
    _, body = finish(stack, token, arn)
    before = record(arn)
    [event] = stack.deployment.execution_events.deliver()  # the workflow's own FAILED end
    assert event["detail"]["status"] == "FAILED"
    after = record(arn)
    assert after.state is TaskState.FAILURE and after.error == before.error == body["error"]
    assert in_flight() == 0  # released once, by MarkFailed; never twice


# -- privacy ------------------------------------------------------------------------------------------
def test_the_execution_history_carries_no_user_text_and_no_image_url(
    live: Callable[..., Stack], image_base_url: str
) -> None:
    stack = live()
    token = stack.token()
    words = {
        "prompt": "a very private prompt 7f3a",
        "subtitle": "subtitle words 9c2e",
        "voiceover": "spoken words 4b1d",
        "dream": "a dream only I know 5e6f",
    }
    done = submit(
        stack, token, image_base_url,
        prompt=words["prompt"],
        subtitles=[{"startTime": 0, "endTime": 2, "text": words["subtitle"]}],
        enable_music=True, enable_voiceover=True, voiceover_text=words["voiceover"],
    )  # fmt: skip
    unreachable = stack.call(
        "POST",
        CREATE,
        token=token,
        json_body=transition_body(
            front_image=f"{image_base_url}/missing.jpg?secret=1", tail_image=f"{image_base_url}/tail.jpg"
        ),
    ).body["task_id"]
    dream = stack.call("POST", f"/generate-video?dream={words['dream']}&style=Animated", token=token)
    arns = [done, unreachable, dream.body["task_id"]]
    outcomes = [finish(stack, token, arn) for arn in arns]
    assert [body["state"] for _, body in outcomes] == ["SUCCESS", "FAILURE", "SUCCESS"]
    assert "front_image" in outcomes[1][1]["error"]  # the owner still reads why, from the record
    for arn in arns:
        history = json.dumps(stack.history(arn), default=str) + json.dumps(
            stack.sfn.describe_execution(executionArn=arn), default=str
        )
        for word in words.values():
            assert word not in history, (word, arn)
        assert image_base_url not in history and "missing.jpg" not in history
