"""The Python SDK against scripted answers (httpx.MockTransport): errors, polling policy, uploads,
downloads, sync and async. The twin runs it for real in tests/e2e/test_clients.py."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import videogen_client
from videogen_client import (
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    NetworkError,
    NotFoundError,
    TaskFailedError,
    TaskTimeoutError,
    TransitionRequest,
    ValidationError,
)
from videogen_client import client as client_module

BASE = "https://api.example.com/prod"
TASK = "arn:aws:states:us-east-1:123456789012:execution:videogen-video-generation:f7c3e8d1-9a2b-4c5d-8e7f-1a2b3c4d5e6f"
STATUS = f"/prod/api/transitions/task-status/{TASK}/"
RESULT = {"transition_id": 1, "generated_transition_id": 2, "video_url": "https://s3.example.com/v.mp4",
          "thumbnail_url": "https://s3.example.com/t.jpg", "duration": 5, "status": "completed",
          "created_at": "2024-01-15T10:30:00Z"}  # fmt: skip
PENDING = {"task_id": TASK, "state": "PENDING", "ready": False, "info": None}
PROCESSING = {"task_id": TASK, "state": "PROCESSING", "ready": False,
              "info": {"current": 42, "total": 100, "status": "Processing frames..."}}  # fmt: skip
SUCCESS = {"task_id": TASK, "state": "SUCCESS", "ready": True, "result": RESULT}
FAILURE = {
    "task_id": TASK,
    "state": "FAILURE",
    "ready": True,
    "error": "Failed to process video: Invalid image format",
}

Answer = httpx.Response | Exception


class Script:
    """``(method, path)`` → answers in order (the last one repeats); every request recorded."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], list[Callable[[], Answer]]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Answer) -> None:
        self.answers[(method, path)] = [lambda a=a: a for a in answers]  # type: ignore[misc]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(404, json={"detail": "Not Found"})
        answer = (queue.pop(0) if len(queue) > 1 else queue[0])()
        if isinstance(answer, Exception):
            raise answer
        return answer


def ok(body: Any, status: int = 200, retry_after: str | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"Retry-After": retry_after} if retry_after else {})


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def client(script: Script) -> Iterator[Client]:
    with Client(BASE, "vg_test", transport=httpx.MockTransport(script)) as client:
        yield client


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """No real waiting: sleeps are recorded and move a fake clock."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    async def async_sleep(seconds: float) -> None:
        sleep(seconds)

    monkeypatch.setattr(client_module, "_sleep", sleep)
    monkeypatch.setattr(client_module, "_async_sleep", async_sleep)
    monkeypatch.setattr(client_module, "_monotonic", lambda: now[0])
    return slept


# -- calls and errors ---------------------------------------------------------------------------------
def test_submit_sends_only_the_fields_set_with_the_token(script: Script, client: Client) -> None:
    script.on(
        "POST", "/prod/api/transitions/create-and-generate/", ok({"task_id": TASK, "status": "pending"}, 202)
    )
    accepted = client.create_transition(
        TransitionRequest(front_image="https://a/f.jpg", tail_image="https://a/t.jpg", duration=10)
    )
    assert accepted.task_id == TASK
    [request] = script.requests
    assert request.headers["Authorization"] == "Token vg_test"
    assert json.loads(request.content) == {
        "front_image": "https://a/f.jpg",
        "tail_image": "https://a/t.jpg",
        "duration": 10,
    }
    client.create_transition(
        {"front_image": "https://a/f.jpg", "tail_image": "https://a/t.jpg", "new_field": 1}
    )
    assert json.loads(script.requests[1].content)["new_field"] == 1, "fields unknown to the SDK pass through"


def test_dream_and_status_paths(script: Script, client: Client) -> None:
    script.on("POST", "/prod/generate-video", ok({"task_id": TASK, "status": "pending"}, 202))
    script.on("GET", STATUS, ok(PROCESSING, retry_after="5"))
    script.on("GET", f"/prod/video-status/{TASK}", ok({"task_id": TASK, "status": "processing", "dream": "d",
              "style": "Cursed", "video_url": None, "error": None, "created_at": "2024-01-15T10:30:00Z",
              "updated_at": "2024-01-15T10:30:05Z"}))  # fmt: skip
    assert client.generate_dream("a whale", "Cursed").task_id == TASK
    assert dict(script.requests[0].url.params) == {"dream": "a whale", "style": "Cursed"}
    status = client.task_status(TASK)
    assert status.info is not None and status.info.fraction == 0.42 and status.retry_after == 5
    assert script.requests[1].url.raw_path.decode() == STATUS, "the ARN keeps its colons"
    assert client.video_status(TASK).status == "processing"


@pytest.mark.parametrize(
    ("answer", "error_type", "message"),
    [
        (ok({"detail": [{"loc": ["body", "duration"], "msg": "duration must be 5 or 10 seconds", "type": "duration_not_allowed"}]}, 422),
         ValidationError, "Request failed with status 422: body.duration: duration must be 5 or 10 seconds"),
        (ok({"detail": "Invalid or missing token"}, 401), AuthenticationError, "Request failed with status 401: Invalid or missing token"),
        (ok({"detail": "Task not found"}, 404), NotFoundError, "Request failed with status 404: Task not found"),
        (ok({"detail": "Internal server error", "request_id": "r"}, 500), APIError, "Request failed with status 500: Internal server error"),
        (httpx.Response(502, text="Bad Gateway"), APIError, "Request failed with status 502: Bad Gateway"),
        (httpx.ConnectError("[Errno 111] Connection refused"), NetworkError, "Network Error: connection refused"),
        (httpx.ReadTimeout("timed out"), NetworkError, "Network Error: timed out (ReadTimeout)"),
    ],
    ids=["422", "401", "404", "500", "502 text", "refused", "read timeout"],
)  # fmt: skip
def test_answers_become_typed_errors_with_the_js_meanings(
    script: Script, client: Client, answer: Answer, error_type: type[Exception], message: str
) -> None:
    script.on("GET", STATUS, answer)
    with pytest.raises(error_type) as caught:
        client.task_status(TASK)
    assert str(caught.value).startswith(message)
    if isinstance(caught.value, ValidationError):
        assert caught.value.errors[0].loc == ["body", "duration"]
        assert caught.value.errors[0].type == "duration_not_allowed"


# -- wait ---------------------------------------------------------------------------------------------------
def test_wait_polls_at_once_then_backs_off_honouring_retry_after(
    script: Script, client: Client, sleeps: list[float]
) -> None:
    script.on("GET", STATUS, ok(PENDING, retry_after="3"), *[ok(PROCESSING)] * 5, ok(SUCCESS))
    seen: list[str] = []
    result = client.wait(
        TASK, on_status=lambda s: seen.append(s.state), interval=1, backoff=2, max_interval=10
    )
    assert result.video_url == RESULT["video_url"] and result.duration == 5
    assert seen == ["PENDING"] + ["PROCESSING"] * 5 + ["SUCCESS"]
    assert sleeps == [3, 2, 4, 8, 10, 10], "Retry-After is a floor; backoff doubles up to max_interval"


def test_wait_failure_raises_the_task_error(script: Script, client: Client, sleeps: list[float]) -> None:
    script.on("GET", STATUS, ok(PROCESSING), ok(FAILURE))
    with pytest.raises(TaskFailedError) as caught:
        client.wait(TASK)
    assert str(caught.value) == "Failed to process video: Invalid image format"
    assert caught.value.task_id == TASK


def test_wait_times_out_after_timeout_seconds_polling_once_at_the_deadline(
    script: Script, client: Client, sleeps: list[float]
) -> None:
    script.on("GET", STATUS, ok(PROCESSING))
    with pytest.raises(TaskTimeoutError) as caught:
        client.wait(TASK, interval=2, backoff=1, timeout=5)
    assert str(caught.value) == "Task polling timeout - not ready after 5 s"
    assert sleeps == [2, 2, 1] and len(script.requests) == 4
    assert isinstance(caught.value.last_status, videogen_client.TaskStatus)
    assert caught.value.last_status.state == "PROCESSING"


def test_wait_retries_transient_errors_but_not_others(
    script: Script, client: Client, sleeps: list[float]
) -> None:
    script.on("GET", STATUS, httpx.ConnectError("refused"), ok({"detail": "slow down"}, 429, retry_after="7"),
              ok(SUCCESS))  # fmt: skip
    assert client.wait(TASK, interval=1, backoff=1).video_url
    assert sleeps == [1, 7]
    script.on("GET", STATUS, ok({"detail": "Internal server error"}, 500))
    with pytest.raises(APIError, match="status 500"):
        client.wait(TASK)
    script.on("GET", STATUS, ok({"detail": "busy"}, 503))
    with pytest.raises(APIError, match="status 503"):
        client.wait(TASK, max_retries=2)


def test_wait_dream_polls_video_status(script: Script, client: Client, sleeps: list[float]) -> None:
    base = {"task_id": TASK, "dream": "d", "style": "Cursed", "error": None, "video_url": None,
            "created_at": "2024-01-15T10:30:00Z", "updated_at": "2024-01-15T10:30:00Z"}  # fmt: skip
    script.on("GET", f"/prod/video-status/{TASK}", ok({**base, "status": "processing"}, retry_after="5"),
              ok({**base, "status": "completed", "video_url": "https://s3/v.mp4"}))  # fmt: skip
    assert client.wait_dream(TASK).video_url == "https://s3/v.mp4"
    assert sleeps == [5]
    script.on("GET", f"/prod/video-status/{TASK}", ok({**base, "status": "failed", "error": "Nope"}))
    with pytest.raises(TaskFailedError, match=r"^Nope$"):
        client.wait_dream(TASK)


def test_async_client_waits_and_calls_async_callbacks(script: Script, sleeps: list[float]) -> None:
    script.on("GET", STATUS, ok(PENDING), ok(SUCCESS))
    seen: list[str] = []

    async def on_status(status: videogen_client.TaskStatus) -> None:
        seen.append(status.state)

    async def main() -> videogen_client.TransitionResult:
        async with AsyncClient(BASE, "vg_test", transport=httpx.MockTransport(script)) as client:
            return await client.wait(TASK, on_status=on_status, interval=1)

    assert asyncio.run(main()).video_url == RESULT["video_url"]
    assert seen == ["PENDING", "SUCCESS"] and sleeps == [1]


# -- files --------------------------------------------------------------------------------------------------
PUT_URL = "https://bucket.s3.amazonaws.com/uploads/alice/x.png?X-Amz-Signature=abc"


def test_upload_asks_then_puts_without_the_api_token(script: Script, client: Client, tmp_path: Path) -> None:
    image = tmp_path / "me.bin"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    ticket = {"upload_url": PUT_URL, "method": "PUT", "headers": {"Content-Type": "image/png"},
              "file_url": "https://bucket.s3.amazonaws.com/uploads/alice/x.png?sig", "expires_in": 3600}  # fmt: skip
    script.on("POST", "/prod/api/uploads/", ok(ticket))
    script.on("PUT", "/uploads/alice/x.png", httpx.Response(200))
    assert client.upload(image).file_url == ticket["file_url"]
    ask, put = script.requests
    assert json.loads(ask.content) == {
        "content_type": "image/png",
        "content_length": 108,
        "filename": "me.bin",
    }
    assert put.headers["Content-Type"] == "image/png" and put.content == image.read_bytes()
    assert "Authorization" not in put.headers, "S3 refuses a request signed two ways"


def test_upload_refused_by_s3_reads_its_xml(script: Script, client: Client) -> None:
    ticket = {
        "upload_url": PUT_URL,
        "headers": {"Content-Type": "image/jpeg"},
        "file_url": "f",
        "expires_in": 1,
    }
    script.on("POST", "/prod/api/uploads/", ok(ticket))
    script.on("PUT", "/uploads/alice/x.png", httpx.Response(403, text="<Error><Code>SignatureDoesNotMatch</Code>"
              "<Message>The request signature we calculated does not match</Message></Error>"))  # fmt: skip
    with pytest.raises(APIError, match="403: SignatureDoesNotMatch: The request signature"):
        client.upload(b"\xff\xd8\xff\xe0")
    assert json.loads(script.requests[0].content) == {"content_type": "image/jpeg", "content_length": 4}


def test_download_streams_to_the_file_and_leaves_nothing_on_error(
    script: Script, client: Client, tmp_path: Path
) -> None:
    script.on("GET", "/v.mp4", httpx.Response(200, content=b"x" * 3000, headers={"Content-Length": "3000"}))
    progress: list[tuple[int, int | None]] = []
    out = client.download(
        "https://s3.example.com/v.mp4", tmp_path / "v.mp4", on_progress=lambda d, t: progress.append((d, t))
    )
    assert out.read_bytes() == b"x" * 3000 and progress[-1] == (3000, 3000)
    assert "Authorization" not in script.requests[-1].headers
    script.on("GET", "/gone.mp4", httpx.Response(403, text="<Error><Code>AccessDenied</Code></Error>"))
    with pytest.raises(APIError, match="403: AccessDenied"):
        client.download("https://s3.example.com/gone.mp4", tmp_path / "gone.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_the_sdk_imports_nothing_of_the_service_or_the_twin() -> None:
    code = (
        "import sys, videogen_client; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'service', 'videogen', 'moto', 'boto3'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
