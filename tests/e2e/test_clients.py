"""The clients against `videogen serve`: the JS module, the Python SDK (sync and async) and the
`videogen` CLI, to downloaded MP4s, through uploads, failures, timeouts and resumes.

Each task takes ~7 s on the twin (the production 5 s poll wait), so every long flow starts at
once in the module's ``flows`` fixture and the tests check their outcomes.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from tests.e2e.conftest import ROOT, RunningTwin
from tests.receiver import Receiver
from videogen_client import (
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    NotFoundError,
    TaskFailedError,
    TaskStatus,
    TaskTimeoutError,
    TransitionRequest,
    ValidationError,
    verify_webhook,
)

ASSETS = ROOT / "twin/assets"
#: The SDK flows poll every second (the CLI flows use the defaults: 2 s, backoff, Retry-After).
FAST: dict[str, Any] = {"interval": 1.0, "backoff": 1.0, "honor_retry_after": False}


# -- helpers -------------------------------------------------------------------------------------------
def video_info(path: Path) -> tuple[str, float]:
    """ffmpeg's description of the file and its duration in seconds."""
    info = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    assert match, info
    return info, int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def assert_h264_of(path: Path, duration: float) -> None:
    info, seconds = video_info(path)
    assert "Video: h264" in info, info
    assert abs(seconds - duration) < 0.2, info


def videogen(twin: RunningTwin, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "AWS_"))}
    env |= {"VIDEOGEN_URL": twin.base_url, "VIDEOGEN_TOKEN": token or twin.token}
    command = [str(Path(sys.executable).with_name("videogen")), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def client(twin: RunningTwin) -> Client:
    return Client(twin.base_url, twin.token)


# -- the long flows, all at once -------------------------------------------------------------------------
@dataclass
class SdkTransition:
    uploaded: bytes
    statuses: list[TaskStatus]
    path: Path


def sdk_transition_from_local_files(twin: RunningTwin, out: Path) -> SdkTransition:
    with client(twin) as sdk:
        front, tail = sdk.upload(ASSETS / "front.jpg"), sdk.upload(ASSETS / "tail.jpg")
        uploaded = httpx.get(front.file_url, timeout=30).content  # PUT, then GET, on moto's S3
        request = TransitionRequest(
            front_image=front.file_url, tail_image=tail.file_url, duration=10, transition_type="zoom"
        )
        task = sdk.create_transition(request)
        statuses: list[TaskStatus] = []
        result = sdk.wait(task.task_id, on_status=statuses.append, timeout=120, **FAST)
        return SdkTransition(uploaded, statuses, sdk.download(result.video_url, out / "sdk-transition.mp4"))


@dataclass
class SdkDream:
    timeout: TaskTimeoutError
    video: Path
    dream: str


def sdk_dream_timed_out_then_resumed_async(twin: RunningTwin, out: Path) -> SdkDream:
    with client(twin) as sdk:
        task_id = sdk.generate_dream("a whale over Paris", "realistic").task_id
        with pytest.raises(TaskTimeoutError) as timed_out:
            sdk.wait(task_id, timeout=0.5)

    async def resume() -> SdkDream:  # by id alone, in another client, as after a restart
        async with AsyncClient(twin.base_url, twin.token) as again:
            done = await again.wait_dream(task_id, timeout=120, **FAST)
            assert done.video_url is not None
            video = await again.download(done.video_url, out / "sdk-dream.mp4")
            return SdkDream(timed_out.value, video, done.dream)

    return asyncio.run(resume())


def sdk_failure(twin: RunningTwin) -> TaskFailedError:
    with client(twin) as sdk:
        request = TransitionRequest(
            front_image=f"{twin.base_url}/examples/front.jpg",
            tail_image=f"{twin.base_url}/examples/missing.jpg",
        )
        task_id = sdk.create_transition(request).task_id
        with pytest.raises(TaskFailedError) as failed:
            sdk.wait(task_id, timeout=120, **FAST)
        return failed.value


@dataclass
class CliResume:
    interrupted: subprocess.CompletedProcess[str]
    task_id: str
    resumed: subprocess.CompletedProcess[str]
    status: subprocess.CompletedProcess[str]
    out: Path


def cli_dream_timed_out_then_waited(twin: RunningTwin, out: Path) -> CliResume:
    video = out / "cli-dream.mp4"
    interrupted = videogen(
        twin, "generate", "dream", "--dream", "a lighthouse of jelly", "--style", "Cursed", "--out", str(video),
        "--timeout", "1",
    )  # fmt: skip
    found = re.search(r"resume with: videogen wait (\S+) --out ", interrupted.stderr)
    assert found, interrupted.stderr
    resumed = videogen(twin, "wait", found[1], "--out", str(video))
    return CliResume(interrupted, found[1], resumed, videogen(twin, "status", found[1]), video)


def cli_transition_from_local_files(twin: RunningTwin, out: Path) -> subprocess.CompletedProcess[str]:
    images = ["--front", str(ASSETS / "front.jpg"), "--tail", str(ASSETS / "tail.jpg")]
    options = ["--duration", "5", "--type", "dreamy", "--subtitle", "0:2:Hello: world", "--music", "ambient"]
    return videogen(
        twin, "generate", "transition", *images, *options, "--out", str(out / "cli-transition.mp4")
    )


def cli_failure(twin: RunningTwin, out: Path) -> subprocess.CompletedProcess[str]:
    images = [
        "--front",
        f"{twin.base_url}/examples/front.jpg",
        "--tail",
        f"{twin.base_url}/examples/missing.jpg",
    ]
    return videogen(twin, "generate", "transition", *images, "--out", str(out / "never.mp4"), "--quiet")


def run_js_against_the_twin(twin: RunningTwin) -> subprocess.CompletedProcess[str] | None:
    node = shutil.which("node")
    if node is None:
        return None
    env = os.environ | {"VIDEOGEN_URL": twin.base_url, "VIDEOGEN_TOKEN": twin.token}
    return subprocess.run(
        [node, "--test", str(ROOT / "tests/clients/js/twin.test.mjs")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )


@pytest.fixture(scope="module")
def out() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="videogen-clients-") as directory:
        yield Path(directory)


@pytest.fixture(scope="module")
def flows(twin: RunningTwin, out: Path) -> Iterator[dict[str, Future[Any]]]:
    starts: dict[str, Callable[[], Any]] = {
        "js": lambda: run_js_against_the_twin(twin),
        "sdk_transition": lambda: sdk_transition_from_local_files(twin, out),
        "sdk_dream": lambda: sdk_dream_timed_out_then_resumed_async(twin, out),
        "sdk_failure": lambda: sdk_failure(twin),
        "cli_transition": lambda: cli_transition_from_local_files(twin, out),
        "cli_dream": lambda: cli_dream_timed_out_then_waited(twin, out),
        "cli_failure": lambda: cli_failure(twin, out),
        "sdk_controls": lambda: sdk_controls(twin),
        "sdk_controls_async": lambda: asyncio.run(sdk_controls_async(twin)),
        "cli_controls": lambda: cli_controls(twin, out),
    }
    with ThreadPoolExecutor(max_workers=len(starts)) as pool:
        yield {name: pool.submit(start) for name, start in starts.items()}


@dataclass
class Controls:
    first: Any
    replay: Any
    conflict: ConflictError
    canceled: TaskStatus
    listed: list[str]
    deleted_status: int
    secret: str
    events: list[Any]
    webhook: Any


def sdk_controls(twin: RunningTwin) -> Controls:
    """Idempotent submits, a webhook (verified by the SDK's verifier, after a 500), list, cancel, delete."""
    with client(twin) as sdk, Receiver(answers=[500]) as receiver:
        secret = sdk.webhook_secret().secret
        key = f"sdk-{os.getpid()}-{id(receiver)}"
        first = sdk.generate_dream(
            "a bridge of violins", "Realistic", webhook_url=receiver.url, idempotency_key=key
        )
        replay = sdk.generate_dream(
            "a bridge of violins", "Realistic", webhook_url=receiver.url, idempotency_key=key
        )
        sdk.wait_dream(first.task_id, timeout=120, **FAST)
        received = receiver.wait_for(2, timeout=60)
        events = [verify_webhook(r.body, r.headers, secret) for r in received]
        # (the delivery is recorded once the deliver function has read the answer: after the receiver sent it)
        deadline = time.monotonic() + 20
        while (webhook := sdk.task_status(first.task_id).webhook) is None or webhook.state != "delivered":
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with pytest.raises(ConflictError) as conflict:
            sdk.cancel(first.task_id)  # it has finished
        running = sdk.generate_dream("a slow snail", "Animated")
        canceled = sdk.cancel(running.task_id)
        listed = [item.task_id for item in sdk.iter_tasks(kind="dream", page_size=2)]
        sdk.delete(running.task_id)
        try:
            sdk.task_status(running.task_id)
            deleted_status = 200
        except NotFoundError:
            deleted_status = 404
    return Controls(first, replay, conflict.value, canceled, listed, deleted_status, secret, events, webhook)


async def sdk_controls_async(twin: RunningTwin) -> tuple[list[str], TaskStatus, str]:
    async with AsyncClient(twin.base_url, twin.token) as sdk:
        accepted = await sdk.generate_dream("an async owl", "Cursed", idempotency_key=f"async-{os.getpid()}")
        canceled = await sdk.cancel(accepted.task_id)
        listed = [item.task_id async for item in sdk.iter_tasks(state="FAILURE")]
        await sdk.delete(accepted.task_id)
        secret = (await sdk.webhook_secret()).secret
    return listed, canceled, secret if accepted.task_id in listed else ""


@dataclass
class CliControls:
    generate: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    listed: subprocess.CompletedProcess[str]
    cancel: subprocess.CompletedProcess[str]
    delete: subprocess.CompletedProcess[str]
    gone: subprocess.CompletedProcess[str]
    secret: subprocess.CompletedProcess[str]
    events: list[str]


def cli_controls(twin: RunningTwin, out: Path) -> CliControls:
    """`videogen webhooks listen` receives the task's end; generate with --idempotency-key and
    --webhook-url twice; list, cancel (409: it finished), delete."""
    secret = videogen(twin, "webhooks", "secret")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "AWS_"))}
    from twin.server import free_port

    port = free_port()
    listener = subprocess.Popen(
        [str(Path(sys.executable).with_name("videogen")), "webhooks", "listen", "--port", str(port),
         "--secret", secret.stdout.strip(), "--count", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        args = ["generate", "dream", "--dream", "a paper moon", "--style", "Animated", "--quiet",
                "--idempotency-key", f"cli-{port}", "--webhook-url", f"http://127.0.0.1:{port}/"]  # fmt: skip
        generate = videogen(twin, *args, "--out", str(out / "cli-controls.mp4"))
        again = videogen(twin, *args, "--out", str(out / "cli-controls-again.mp4"))
        events, _ = listener.communicate(timeout=60)
    finally:
        listener.kill()
    task_id = generate.stderr.split("Task ", 1)[1].split()[0]
    listed = videogen(twin, "list", "--kind", "dream", "--limit", "3")
    cancel = videogen(twin, "cancel", task_id)
    delete = videogen(twin, "delete", task_id)
    gone = videogen(twin, "status", task_id)
    return CliControls(generate, again, listed, cancel, delete, gone, secret, events.splitlines())


# -- JavaScript ---------------------------------------------------------------------------------------------
def test_js_client_gets_a_transition_and_a_dream_from_the_twin(flows: dict[str, Future[Any]]) -> None:
    result = flows["js"].result()
    if result is None:
        pytest.skip("node is not installed on this machine: the JS client is not tested")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# pass 4" in result.stdout and "# fail 0" in result.stdout


# -- Python SDK -----------------------------------------------------------------------------------------------
def test_sdk_uploads_local_images_and_downloads_the_transition(flows: dict[str, Future[Any]]) -> None:
    done: SdkTransition = flows["sdk_transition"].result()
    assert done.uploaded == (ASSETS / "front.jpg").read_bytes()
    states = [s.state for s in done.statuses]
    assert states[-1] == "SUCCESS" and set(states) <= {"PENDING", "PROCESSING", "SUCCESS"}
    progress = [s.info for s in done.statuses if s.state == "PROCESSING" and s.info is not None]
    assert progress and all(0 <= i.current <= i.total == 100 for i in progress)
    assert_h264_of(done.path, 10)


def test_sdk_timeout_then_resume_by_id_with_the_async_client(flows: dict[str, Future[Any]]) -> None:
    done: SdkDream = flows["sdk_dream"].result()
    assert str(done.timeout) == "Task polling timeout - not ready after 0.5 s"
    assert done.timeout.last_status is not None and not done.timeout.last_status.ready
    assert done.dream == "a whale over Paris"
    assert_h264_of(done.video, 5)


def test_sdk_task_failure_carries_the_task_error(flows: dict[str, Future[Any]]) -> None:
    error: TaskFailedError = flows["sdk_failure"].result()
    assert "Could not fetch tail_image" in str(error) and "HTTP 404" in str(error)
    assert error.status is not None and error.status.state == "FAILURE"


def test_sdk_controls_idempotency_and_a_verified_webhook(flows: dict[str, Future[Any]]) -> None:
    done: Controls = flows["sdk_controls"].result()
    assert done.replay.task_id == done.first.task_id and done.replay.replayed and not done.first.replayed
    assert [e.id for e in done.events] == [done.events[0].id] * 2  # the retry after the 500: same event
    assert done.events[1].type == "task.succeeded" and done.events[1].data.task_id == done.first.task_id
    assert done.events[1].data.kind == "dream" and done.events[1].data.result is not None
    assert done.webhook is not None and done.webhook.state == "delivered" and done.webhook.attempts == 2
    assert done.conflict.status_code == 409 and done.conflict.task is not None
    assert done.conflict.task.state == "SUCCESS"
    assert (done.canceled.state, done.canceled.error) == ("FAILURE", "Task was canceled")
    assert done.listed.index(done.canceled.task_id) < done.listed.index(done.first.task_id)  # newest first
    assert done.deleted_status == 404 and done.secret.startswith("whsec_")


def test_async_sdk_cancels_lists_and_deletes(flows: dict[str, Future[Any]]) -> None:
    listed, canceled, secret = flows["sdk_controls_async"].result()
    assert canceled.error == "Task was canceled" and canceled.task_id in listed
    assert secret.startswith("whsec_")


def test_sdk_errors_against_the_twin(twin: RunningTwin) -> None:
    front = f"{twin.base_url}/examples/front.jpg"
    with client(twin) as sdk:
        with pytest.raises(ValidationError) as invalid:
            sdk.create_transition({"front_image": front, "tail_image": front, "duration": 7})
        [item] = invalid.value.errors
        assert item.loc == ["body", "duration"] and "5 or 10" in item.msg
        with pytest.raises(NotFoundError, match="Task not found"):
            sdk.task_status("00000000-0000-4000-8000-000000000000")
    with Client(twin.base_url, "vg_wrong") as stranger, pytest.raises(AuthenticationError):
        stranger.task_status("00000000-0000-4000-8000-000000000000")


def test_uploads_refuse_other_types_and_sizes_and_anonymous_callers(twin: RunningTwin) -> None:
    with client(twin) as sdk:
        with pytest.raises(ValidationError) as gif:
            sdk.upload(b"GIF89a" + b"0" * 10)
        assert gif.value.errors[0].loc == ["body", "content_type"]
        assert "'image/jpeg', 'image/png' or 'image/webp'" in gif.value.errors[0].msg
    too_large = httpx.post(
        f"{twin.base_url}/api/uploads/",
        json={"content_type": "image/png", "content_length": 20 * 1024 * 1024 + 1},
        headers={"Authorization": f"Token {twin.token}"},
    )
    assert too_large.status_code == 422
    assert too_large.json()["detail"][0]["loc"] == ["body", "content_length"]
    assert "20 MB" in too_large.json()["detail"][0]["msg"]
    anonymous = httpx.post(
        f"{twin.base_url}/api/uploads/", json={"content_type": "image/png", "content_length": 1}
    )
    assert anonymous.status_code == 401


# -- CLI ----------------------------------------------------------------------------------------------------
def test_cli_generates_a_transition_from_local_files_with_a_progress_bar(
    flows: dict[str, Future[Any]], out: Path
) -> None:
    run: subprocess.CompletedProcess[str] = flows["cli_transition"].result()
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(out / "cli-transition.mp4")
    lines = run.stderr.splitlines()
    assert lines[:2] == ["Uploaded front.jpg", "Uploaded tail.jpg"] and lines[2].startswith(
        "Task arn:aws:states:"
    )
    bars = [line for line in lines if line.startswith("[")]
    assert bars and any(re.search(r"100% +\d+:\d\d Done$", line) for line in bars), lines
    assert_h264_of(out / "cli-transition.mp4", 5)


def test_cli_wait_resumes_a_task_after_the_first_command_gave_up(flows: dict[str, Future[Any]]) -> None:
    run: CliResume = flows["cli_dream"].result()
    assert run.interrupted.returncode == 7
    last = run.interrupted.stderr.splitlines()[-1]
    assert last.startswith("videogen: timed out: Task polling timeout - not ready after 1 s"), last
    assert run.resumed.returncode == 0, run.resumed.stderr
    assert run.resumed.stdout.strip() == str(run.out)
    assert_h264_of(run.out, 5)
    assert run.status.returncode == 0 and '"state": "SUCCESS"' in run.status.stdout
    assert run.task_id in run.status.stdout


def test_cli_task_failure_is_one_line_and_exit_code_6(flows: dict[str, Future[Any]], out: Path) -> None:
    run: subprocess.CompletedProcess[str] = flows["cli_failure"].result()
    assert run.returncode == 6
    last = run.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"videogen: task failed: .*Could not fetch tail_image from \S+missing\.jpg: HTTP 404", last
    )
    assert not (out / "never.mp4").exists() and not (out / "never.mp4.part").exists()


def test_cli_validation_and_auth_exit_codes(twin: RunningTwin, out: Path) -> None:
    front = f"{twin.base_url}/examples/front.jpg"
    # What the CLI knows is refused before anything is sent (exit 2); what only the service checks
    # comes back as its 422 (exit 3), in one line.
    local = videogen(twin, "generate", "transition", "--front", front, "--tail", front, "--duration", "7",
                     "--out", str(out / "x.mp4"))  # fmt: skip
    assert local.returncode == 2 and "--duration" in local.stderr
    invalid = videogen(twin, "generate", "transition", "--front", front, "--tail", front,
                       "--subtitle", "0:1:" + "x" * 300, "--out", str(out / "x.mp4"))  # fmt: skip
    assert invalid.returncode == 3
    assert invalid.stderr.startswith("videogen: invalid request: body.subtitles.0.text: ")
    assert len(invalid.stderr.splitlines()) == 1
    stranger = videogen(twin, "status", "00000000-0000-4000-8000-000000000000", token="vg_wrong")
    assert (stranger.returncode, stranger.stderr.split(":")[1].strip()) == (4, "not authorized")
    unknown = videogen(twin, "wait", "00000000-0000-4000-8000-000000000000", "--out", str(out / "x.mp4"))
    assert (unknown.returncode, unknown.stderr) == (5, "videogen: not found: Task not found\n")


def test_cli_controls_idempotency_key_webhook_url_list_cancel_delete(flows: dict[str, Future[Any]]) -> None:
    import json

    run: CliControls = flows["cli_controls"].result()
    assert run.secret.returncode == 0 and run.secret.stdout.startswith("whsec_")
    assert run.generate.returncode == 0, run.generate.stderr
    assert run.again.returncode == 0 and "(the same as before: same Idempotency-Key)" in run.again.stderr
    task_id = run.generate.stderr.split("Task ", 1)[1].split()[0]
    [event] = [json.loads(line) for line in run.events]
    assert event["type"] == "task.succeeded" and event["data"]["task_id"] == task_id
    listed = [json.loads(line) for line in run.listed.stdout.splitlines()]
    assert task_id in [item["task_id"] for item in listed] and {i["kind"] for i in listed} == {"dream"}
    assert run.cancel.returncode == 9 and "conflict:" in run.cancel.stderr and "SUCCESS" in run.cancel.stderr
    assert run.delete.returncode == 0 and run.gone.returncode == 5
