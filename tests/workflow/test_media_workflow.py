"""Subtitles, music and voiceover through the real workflow: several predictions in one loop,
composed by Finalize; one failing prediction fails the task and cancels the others."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from typing import Any

import imageio_ffmpeg
import pytest

from replicate_emulator import ReplicateEmulator
from service.adapters.compose import BANDS
from service.model_catalog import catalog
from tests.support import Stack, transition_body
from tests.workflow.test_workflow import CREATE, finish, probe_seconds, s3_object

pytestmark = pytest.mark.workflow

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def submit(stack: Stack, token: str, images: str, **overrides: Any) -> str:
    body = transition_body(front_image=f"{images}/front.jpg", tail_image=f"{images}/tail.jpg", **overrides)
    reply = stack.call("POST", CREATE, token=token, json_body=body)
    assert reply.status == 202, reply.body
    return str(reply.body["task_id"])


def info(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as video:
        video.write(data)
        video.flush()
        return subprocess.run(
            [FFMPEG, "-hide_banner", "-i", video.name], capture_output=True, text=True
        ).stderr


def frame(data: bytes, at: float) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as video:
        video.write(data)
        video.flush()
        return subprocess.run(
            [FFMPEG, "-loglevel", "error", "-ss", str(at), "-i", video.name, "-frames:v", "1",
             "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            capture_output=True, check=True,
        ).stdout  # fmt: skip


def changed_pixels(a: bytes, b: bytes, band: tuple[float, float], width: int = 640, height: int = 360) -> int:
    top, bottom = int(band[0] * height) * width, int(band[1] * height) * width
    return sum(abs(x - y) > 60 for x, y in zip(a[top:bottom], b[top:bottom], strict=True))


def test_subtitles_music_and_voiceover_are_all_in_the_final_video(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    stack = live()
    token = stack.token()
    full = submit(
        stack, token, image_base_url,
        subtitles=[{"startTime": 0.5, "endTime": 2.5, "text": "First subtitle"}],
        enable_music=True, music_type="upbeat", enable_voiceover=True, voiceover_text="Welcome to the show",
    )  # fmt: skip
    plain = submit(stack, token, image_base_url, enable_subtitles=False, enable_music=False)
    execution, body = finish(stack, token, full)
    assert execution["status"] == "SUCCEEDED", body
    assert finish(stack, token, plain)[1]["state"] == "SUCCESS"

    # The defaults, as Replicate wants them: Kling by name, the community models by their pinned
    # version; every input one the model's schema publishes.
    predictions = emulator.predictions()
    assert sorted(p["model"] for p in predictions) == [
        "jaaari/kokoro-82m",
        "kwaivgi/kling-v1.6-pro",
        "kwaivgi/kling-v1.6-pro",
        "meta/musicgen",
    ]
    assert {p["model"]: p["version"] for p in predictions} == {
        model: catalog().models[model].version
        for model in catalog().models
        if model != "kwaivgi/kling-v1.6-standard"
    }
    assert all(p["_emulator"]["ignored_input"] == [] for p in predictions)
    name, plain_name = full.rsplit(":", 1)[1], plain.rsplit(":", 1)[1]
    video, reference = s3_object(f"videos/{name}.mp4"), s3_object(f"videos/{plain_name}.mp4")
    assert abs(probe_seconds(video) - 5) <= 0.1
    assert "Audio: aac" in info(video) and "Audio:" not in info(reference)
    # Same model input (same prompt, same images) → same frames, except where the subtitle is
    assert changed_pixels(frame(video, 1.5), frame(reference, 1.5), BANDS["bottom"]) > 500
    assert changed_pixels(frame(video, 4.0), frame(reference, 4.0), BANDS["bottom"]) < 50
    assert s3_object(f"subtitles/{name}.vtt").decode() == (
        "WEBVTT\n\n1\n00:00:00.500 --> 00:00:02.500\nFirst subtitle\n"
    )
    result = body["result"]
    assert f"subtitles/{name}.vtt" in result["subtitles_url"]
    assert (
        "subtitles_url"
        not in stack.call("GET", f"/api/transitions/task-status/{plain}/", token=token).body["result"]
    )


def test_one_failed_prediction_fails_the_task_and_cancels_the_others(
    live: Callable[..., Stack], image_base_url: str, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {"meta/musicgen": "CUDA out of memory"}
    emulator.faults.never_finish = {"kwaivgi/kling-v1.6-pro", "jaaari/kokoro-82m"}  # still running then
    stack = live()
    token = stack.token()
    arn = submit(stack, token, image_base_url, enable_music=True, enable_voiceover=True)
    execution, body = finish(stack, token, arn)
    assert execution["status"] == "FAILED"
    assert body["state"] == "FAILURE"
    assert body["error"] == "The music model failed: CUDA out of memory"
    statuses = {p["model"]: p["status"] for p in emulator.predictions()}
    assert statuses == {
        "meta/musicgen": "failed",
        "kwaivgi/kling-v1.6-pro": "canceled",
        "jaaari/kokoro-82m": "canceled",
    }
