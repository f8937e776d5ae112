"""The real ASL file executed by moto, each Lambda task running our handler in-process, against
the Replicate emulator over real HTTP with real ffmpeg renders."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import imageio_ffmpeg
import pytest

from replicate_emulator import ReplicateEmulator
from service.adapters import aws
from service.catalog import WorkflowTiming
from service.model_catalog import catalog
from tests.support import NAMES, Stack, transition_body

pytestmark = pytest.mark.workflow

CREATE = "/api/transitions/create-and-generate/"
TRANSITION_MODEL = "kwaivgi/kling-v1.6-pro"


def status_path(task_id: str) -> str:
    return f"/api/transitions/task-status/{task_id}/"


def emitted_metrics(out: str) -> list[dict[str, Any]]:
    """The EMF lines powertools printed."""
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def submit_transition(stack: Stack, token: str, images: str, **overrides: Any) -> str:
    """The spec's example with the test images; video only unless a test asks for music."""
    values = {"enable_music": False, **overrides}
    body = transition_body(front_image=f"{images}/front.jpg", tail_image=f"{images}/tail.jpg", **values)
    reply = stack.call("POST", CREATE, token=token, json_body=body)
    assert reply.status == 202, reply.body
    return str(reply.body["task_id"])


def finish(stack: Stack, token: str, arn: str, timeout: float = 90) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait for the execution to end; return (execution description, status body)."""
    execution = stack.wait_execution(arn, timeout)
    return execution, stack.call("GET", status_path(arn), token=token).body


def state_names(stack: Stack, arn: str) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"] for e in stack.history(arn) if "stateEnteredEventDetails" in e
    ]


def probe_seconds(data: bytes) -> float:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as video:
        video.write(data)
        video.flush()
        info = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", video.name],
            capture_output=True,
            text=True,
        ).stderr
    assert "Video: h264" in info and "yuv420p" in info, info
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    assert match, info
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def s3_object(key: str) -> bytes:
    return bytes(aws.client("s3").get_object(Bucket=NAMES.media_bucket, Key=key)["Body"].read())


# -- success --------------------------------------------------------------------------------------
@pytest.mark.parametrize("duration", [5, 10])
def test_transition_succeeds_with_the_video_in_s3_and_a_thumbnail(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator, duration: int
) -> None:
    stack = live()
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url, duration=duration, transition_type="energetic")
    execution, body = finish(stack, token, arn)
    assert execution["status"] == "SUCCEEDED", stack.history(arn)[-3:]
    assert body["state"] == "SUCCESS" and body["ready"] is True
    result = body["result"]
    name = arn.rsplit(":", 1)[1]
    assert f"videos/{name}.mp4" in result["video_url"] and f"thumbnails/{name}.jpg" in result["thumbnail_url"]
    assert result["duration"] == duration and result["status"] == "completed"
    assert isinstance(result["transition_id"], int) and isinstance(result["generated_transition_id"], int)
    # The video was copied into our bucket (Replicate deletes outputs) and really is `duration` long
    assert abs(probe_seconds(s3_object(f"videos/{name}.mp4")) - duration) < 0.2
    assert s3_object(f"thumbnails/{name}.jpg")[:3] == b"\xff\xd8\xff"  # a JPEG
    # The model got the spec's request through the recipe, every input one it knows
    [prediction] = emulator.predictions()
    assert prediction["input"]["start_image"] == f"{image_base_url}/front.jpg"
    assert prediction["input"]["duration"] == duration
    assert prediction["_emulator"]["ignored_input"] == []
    assert prediction["_emulator"]["notes"]["transition_effect"] == "slideleft"  # ENERGETIC, from the prompt
    names = state_names(stack, arn)
    assert names[:4] == ["StartPredictions", "WaitBeforePoll", "PollPredictions", "PredictionsDone?"]
    assert names[-1] == "Done" and "Finalize" in names


def test_dream_succeeds_through_video_status(live: Callable[..., Stack], emulator: ReplicateEmulator) -> None:
    stack = live()
    token = stack.token()
    reply = stack.call("POST", "/generate-video?dream=a%20whale%20over%20Paris&style=Animated", token=token)
    arn = reply.body["task_id"]
    assert stack.wait_execution(arn)["status"] == "SUCCEEDED"
    body = stack.call("GET", f"/video-status/{arn}", token=token).body
    assert body["status"] == "completed" and body["error"] is None
    assert body["video_url"] and body["dream"] == "a whale over Paris" and body["style"] == "Animated"
    assert body["updated_at"] >= body["created_at"]
    assert abs(probe_seconds(s3_object(f"videos/{arn.rsplit(':', 1)[1]}.mp4")) - 5) < 0.2
    [prediction] = emulator.predictions()  # the card shows the dreamer's words, not our prompt
    assert prediction["_emulator"]["notes"]["caption"] == "a whale over Paris"
    assert prediction["_emulator"]["notes"]["dream_style"] == "animated"


def test_a_transitions_progress_climbs_over_several_polls(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    """Kling prints no percentage: the progress is estimated from how long the model has run
    against its typical time, here scaled (emulator and service alike) to an 8 s run."""
    scale = 8 / catalog().models["kwaivgi/kling-v1.6-pro"].progress.typical_seconds
    emulator.configure(model_time_scale=scale)
    stack = live(model_time_scale=str(scale))
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = stack.call("GET", status_path(arn), token=token).body
        if body["state"] == "PROCESSING" and body["info"]:
            assert body["info"]["total"] == 100 and body["info"]["status"]
            if not seen or seen[-1] != body["info"]["current"]:
                seen.append(body["info"]["current"])
        if body["ready"]:
            break
        time.sleep(0.2)
    assert body["state"] == "SUCCESS"
    assert seen == sorted(seen), seen  # it never goes back
    climbing = [value for value in seen if 0 < value < 99]
    assert len(climbing) >= 2, seen  # a 1 s poll over an 8 s run: several steps between 0 and 99


# -- failures -------------------------------------------------------------------------------------
def test_a_failed_prediction_fails_the_task_with_the_models_error(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {TRANSITION_MODEL: "Invalid image format"}
    stack = live()
    token = stack.token()
    execution, body = finish(stack, token, submit_transition(stack, token, image_base_url))
    assert execution["status"] == "FAILED" and execution.get("error") == "GenerationFailed"
    assert body["state"] == "FAILURE" and body["ready"] is True
    assert "Invalid image format" in body["error"]


def test_an_aborted_prediction_is_a_failure_not_a_hang(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.abort = {"*"}
    stack = live()
    token = stack.token()
    execution, body = finish(stack, token, submit_transition(stack, token, image_base_url))
    assert execution["status"] == "FAILED"
    assert body["state"] == "FAILURE" and "aborted" in body["error"]


def test_an_image_the_model_cannot_fetch_fails_with_a_clear_error(
    live: Callable[..., Stack], image_base_url: str
) -> None:
    stack = live()
    token = stack.token()
    body = transition_body(
        front_image=f"{image_base_url}/missing.jpg", tail_image=f"{image_base_url}/tail.jpg"
    )
    arn = stack.call("POST", CREATE, token=token, json_body=body).body["task_id"]
    _, status = finish(stack, token, arn)
    assert status["state"] == "FAILURE"
    assert status["error"] == (
        f"The video model failed: Could not fetch front_image from {image_base_url}/missing.jpg: HTTP 404"
    )


def test_throttled_creates_are_retried_with_backoff_then_succeed(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.throttle_creates = 2
    stack = live()
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, body = finish(stack, token, arn)
    assert execution["status"] == "SUCCEEDED" and body["state"] == "SUCCESS"
    failures = [
        e["taskFailedEventDetails"]["error"]
        for e in stack.history(arn)
        if e["type"] == "TaskFailed" and "taskFailedEventDetails" in e
    ]
    assert failures == ["ReplicateRateLimited", "ReplicateRateLimited"]
    assert state_names(stack, arn).count("StartPredictions") == 1  # retried inside the state


def test_a_prediction_that_never_finishes_times_out_and_is_cancelled(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live(WorkflowTiming(poll_interval_s=1, max_polls=3))
    token = stack.token()
    execution, body = finish(stack, token, submit_transition(stack, token, image_base_url))
    assert execution["status"] == "FAILED" and execution.get("error") == "GenerationTimedOut"
    assert body["state"] == "FAILURE" and body["error"] == "Video generation timed out after 3 seconds"
    [prediction] = emulator.predictions()
    assert prediction["status"] == "canceled"


def test_a_refused_input_fails_the_task_in_the_apis_terms_without_retrying(
    live: Callable[..., Stack],
    image_base_url: str,
    emulator: ReplicateEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The last prediction is refused: the two already created are cancelled, the owner reads the
    request's field name, never the provider or the model; the logs keep the provider's own
    answer with the task id."""
    emulator.faults.reject_input = {"jaaari/kokoro-82m": "voice"}
    # The two created run long enough to be cancelled (under load, a fast render could end first)
    emulator.faults.min_processing_s = 10.0
    stack = live()
    token = stack.token()
    arn = submit_transition(
        stack, token, image_base_url, enable_music=True, enable_voiceover=True, voiceover_text="Hello"
    )
    execution, body = finish(stack, token, arn)
    assert execution["status"] == "FAILED"
    assert body["error"].startswith(
        'The voiceover model rejected the request: voice must be one of the following: "af_heart", "af_alloy"'
    )
    assert not any(word in body["error"].lower() for word in ("replicate", "kokoro", "jaaari", "input."))
    assert state_names(stack, arn) == ["StartPredictions", "MarkFailed", "GenerationFailed"]
    assert sorted((p["model"], p["status"]) for p in emulator.predictions()) == [
        ("kwaivgi/kling-v1.6-pro", "canceled"),
        ("meta/musicgen", "canceled"),
    ]
    task = arn.rsplit(":", 1)[1]
    [refusal] = [r for r in caplog.records if getattr(r, "task_id", None) == task and hasattr(r, "upstream")]
    assert "jaaari/kokoro-82m" in refusal.upstream and "- input.voice: voice must be" in refusal.upstream


@pytest.mark.parametrize("when", ["before the poll", "between the poll and Finalize"])
def test_a_finalize_after_the_outputs_were_removed_is_a_clear_failure(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator, when: str
) -> None:
    if when == "before the poll":
        emulator.configure(data_retention_s=0)  # gone the moment the prediction ends
    else:
        emulator.faults.remove_data_on_download = {"kwaivgi/kling-v1.6-pro"}
    stack = live()
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    execution, body = finish(stack, token, arn)

    assert execution["status"] == "FAILED"
    assert body["state"] == "FAILURE" and body["error"] == (
        "The generated video expired before it could be saved (model outputs are kept for one hour); "
        "please try again"
    )
    names = state_names(stack, arn)
    assert names[-2:] == ["MarkFailed", "GenerationFailed"]
    assert names.count("Finalize") == (0 if when == "before the poll" else 1)  # not retried: it is gone
    [prediction] = emulator.predictions()
    assert prediction["data_removed"] is True and prediction["output"] is None


def test_a_task_failing_at_start_predictions_is_counted_by_kind(
    live: Callable[..., Stack],
    emulator: ReplicateEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a create that Replicate refuses (as it refuses every create with a 401 on a fresh deploy
    # whose token is not set yet): StartPredictions fails, MarkFailed gets the execution's input
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    emulator.faults.reject_input = {"*": "prompt"}
    stack = live()
    token = stack.token()
    reply = stack.call("POST", "/generate-video?dream=a%20lighthouse&style=Realistic", token=token)
    execution, _ = finish(stack, token, reply.body["task_id"])
    assert execution["status"] == "FAILED"
    assert state_names(stack, reply.body["task_id"]) == ["StartPredictions", "MarkFailed", "GenerationFailed"]
    # Then MarkFailed counts it with its kind, so "Tasks by outcome and kind" shows it
    failed = [m for m in emitted_metrics(capsys.readouterr().out) if "TasksFailed" in m]
    assert [m.get("kind") for m in failed] == ["dream"]


def test_an_internal_error_reaches_the_client_as_a_plain_message(
    live: Callable[..., Stack], image_base_url: str
) -> None:
    stack = live(media_bucket="no-such-bucket")  # Finalize cannot store the video
    token = stack.token()
    execution, body = finish(stack, token, submit_transition(stack, token, image_base_url))
    assert execution["status"] == "FAILED"
    assert body["error"] == "Video generation failed because of an internal error"
    assert "Traceback" not in str(body) and "NoSuchBucket" not in str(body)


def test_an_execution_stopped_from_outside_reads_as_failure_via_the_stale_record_path(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.never_finish = {"*"}
    stack = live(stale_after_seconds="1")
    token = stack.token()
    arn = submit_transition(stack, token, image_base_url)
    time.sleep(0.5)
    stack.deployment.stop_execution(arn, error="Operator", cause="stopped by hand")
    assert stack.wait_execution(arn)["status"] == "ABORTED"
    time.sleep(1.1)  # the record is now stale: nothing updated it since the stop
    body = stack.call("GET", status_path(arn), token=token).body
    assert body["state"] == "FAILURE" and body["error"] == "Video generation was stopped before it finished"
    assert stack.call("GET", f"/video-status/{arn}", token=token).status == 404  # a transition task


def test_every_log_line_of_a_workflow_function_carries_the_task_id(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    from service.observability import logger

    level, sink = logger.log_level, io.StringIO()
    logger.setLevel("DEBUG")
    stream = logger.registered_handler.setStream(sink)  # type: ignore[attr-defined]
    try:
        # Given one task that succeeds, then one that fails at StartPredictions. One at a time, with no
        # status reads meanwhile: in this process all functions share one Logger, where on Lambda
        # each has a process of its own (concurrent invocations here would swap each other's keys)
        stack = live()
        token = stack.token()
        succeeding = submit_transition(stack, token, image_base_url)
        assert stack.wait_execution(succeeding)["status"] == "SUCCEEDED"
        emulator.faults.reject_input = {"*": "prompt"}  # every create is refused from now on
        failing = stack.call("POST", "/generate-video?dream=a%20fox&style=Animated", token=token).body[
            "task_id"
        ]
        assert stack.wait_execution(failing)["status"] == "FAILED"
    finally:
        logger.setLevel(level)
        logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    # Then every line the workflow functions logged names its task
    workflow = {
        NAMES.function(spec) for spec in ("start_predictions", "poll_predictions", "finalize", "fail_task")
    }
    lines = [json.loads(line) for line in sink.getvalue().splitlines() if line.startswith("{")]
    logged = [line for line in lines if line.get("function_name") in workflow]
    ids = {arn.rsplit(":", 1)[1] for arn in (succeeding, failing)}
    assert {line["function_name"] for line in logged} == workflow, "each step logged"
    assert [line for line in logged if line.get("task_id") not in ids] == []
    # And nothing of one invocation leaks into the next: both tasks appear, each in its own lines
    assert {line["task_id"] for line in logged} == ids
