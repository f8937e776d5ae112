"""`videogen serve` end to end: both spec flows over real HTTP, real MP4s, errors, shutdown."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from tests.e2e.conftest import RunningTwin, process_group_alive, start_twin, stop_twin
from twin.server import free_port

CREATE = "/api/transitions/create-and-generate/"


def client(twin: RunningTwin) -> httpx.Client:
    return httpx.Client(base_url=twin.base_url, headers={"Authorization": f"Token {twin.token}"}, timeout=30)


def example(twin: RunningTwin, **overrides: Any) -> dict[str, Any]:
    """The request the banner's curl sends (the spec's example, with the twin's own images)."""
    curl = next(line for line in twin.banner if line.strip().startswith("-d '"))
    body: dict[str, Any] = json.loads(curl.strip().removeprefix("-d '").removesuffix("'"))
    body.update(overrides)
    return body


def poll(
    http: httpx.Client, path: str, done: Any, timeout: float = 60, interval: float = 1
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = http.get(path)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if done(body):
            return body
        assert response.headers["Retry-After"].isdigit()
        time.sleep(interval)
    raise AssertionError(f"not done after {timeout}s: {body}")


def probe(data: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".mp4") as video:
        video.write(data)
        video.flush()
        return subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", video.name],
            capture_output=True,
            text=True,
        ).stderr


def seconds(info: str) -> float:
    match = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info)
    assert match, info
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3])


def test_banner_gives_url_token_and_a_curl_that_works_as_is(twin: RunningTwin) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", twin.base_url)
    assert twin.token.startswith("vg_")
    curl = "\n".join(line for line in twin.banner if line.startswith("    ") or "curl" in line)
    command = curl.split("\n  curl -s -H")[0].replace("\\\n", " ").strip()
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30)
    assert '"status":"pending"' in result.stdout.replace(" ", ""), result


def test_a_transitions_progress_climbs_as_a_new_user_sees_it() -> None:
    """`videogen serve` as a user starts it runs Kling at a tenth of its typical three minutes,
    polling every 5 s as in production: the progress moves on every poll instead of jumping from
    0 to 99."""
    twin = start_twin(free_port())  # `videogen serve` as is
    try:
        seen, body = _watch_one_transition(twin)
    finally:
        stop_twin(twin)
    assert body["state"] == "SUCCESS", body
    assert seen == sorted(seen), seen
    assert len([value for value in seen if 0 < value < 99]) >= 2, seen


def _watch_one_transition(twin: RunningTwin) -> tuple[list[int], dict[str, Any]]:
    with client(twin) as http:
        submitted = http.post(CREATE, json=example(twin, enable_music=False, enable_subtitles=False))
        assert submitted.status_code == 202
        path = f"/api/transitions/task-status/{submitted.json()['task_id']}/"
        seen: list[int] = []

        def record(body: dict[str, Any]) -> bool:
            info = body.get("info")
            if body["state"] == "PROCESSING" and info and (not seen or seen[-1] != info["current"]):
                seen.append(info["current"])
            return bool(body["ready"])

        return seen, poll(http, path, record, timeout=120)


@pytest.mark.parametrize("duration", [5, 10])
def test_transition_flow_over_http_ends_with_a_playable_mp4_of_the_requested_length(
    twin: RunningTwin, duration: int
) -> None:
    with client(twin) as http:
        submitted = http.post(CREATE, json=example(twin, duration=duration))
        assert submitted.status_code == 202
        task_id = submitted.json()["task_id"]
        final = poll(http, f"/api/transitions/task-status/{task_id}/", lambda b: b["ready"])
        assert final["state"] == "SUCCESS", final
        video = httpx.get(final["result"]["video_url"], timeout=30)
        thumbnail = httpx.get(final["result"]["thumbnail_url"], timeout=30)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    info = probe(video.content)
    assert "h264" in info and "yuv420p" in info
    assert abs(seconds(info) - duration) < 0.2
    assert video.content.find(b"moov") < video.content.find(b"mdat")  # faststart: plays while loading
    assert thumbnail.status_code == 200 and thumbnail.content[:3] == b"\xff\xd8\xff"


def test_dream_flow_completes_through_video_status(twin: RunningTwin) -> None:
    with client(twin) as http:
        submitted = http.post(
            "/generate-video", params={"dream": "a lighthouse made of jelly", "style": "Cursed"}
        )
        assert submitted.status_code == 202 and submitted.json()["status"] == "pending"
        task_id = submitted.json()["task_id"]
        final = poll(http, f"/video-status/{task_id}", lambda b: b["status"] in ("completed", "failed"))
    assert final["status"] == "completed" and final["error"] is None
    assert final["dream"] == "a lighthouse made of jelly" and final["style"] == "Cursed"
    assert abs(seconds(probe(httpx.get(final["video_url"], timeout=30).content)) - 5) < 0.2


def test_errors_over_http(twin: RunningTwin) -> None:
    with client(twin) as http:
        invalid = http.post(CREATE, json=example(twin, duration=7))
        assert invalid.status_code == 422
        assert (
            invalid.json()["detail"][0]["loc"] == ["body", "duration"] and invalid.json()["detail"][0]["msg"]
        )
        malformed = http.post(CREATE, content=b"{nope", headers={"Content-Type": "application/json"})
        assert malformed.status_code == 422
        missing = http.get("/api/transitions/task-status/00000000-0000-4000-8000-000000000000/")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Task not found"})
    anonymous = httpx.post(f"{twin.base_url}{CREATE}", json=example(twin), timeout=30)
    assert anonymous.status_code == 401 and "Token" in anonymous.json()["detail"]


def test_the_spec_poll_manually_loop_runs_unchanged_against_the_twin(twin: RunningTwin, node: str) -> None:
    script = Path(__file__).with_name("poll_manually.mjs")
    result = subprocess.run(
        [node, str(script), twin.base_url, twin.token, json.dumps(example(twin))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == "completed" and outcome["video_url"].startswith("http://127.0.0.1:")


def test_env_token_port_in_use_and_sigterm_leaves_nothing_behind() -> None:
    port = free_port()
    running = start_twin(port, token="vg_known-dev-token")
    try:
        assert running.token == "vg_known-dev-token"
        with httpx.Client(
            base_url=running.base_url, headers={"Authorization": "Token vg_known-dev-token"}, timeout=30
        ) as http:
            http.post(CREATE, json=example(running))  # leave a render in flight
        clash = subprocess.run(
            [str(Path(running.process.args[0])), "serve", "--port", str(port)],  # type: ignore[index]
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert clash.returncode == 1 and f"port {port}" in clash.stderr
        assert len(clash.stderr.strip().splitlines()) == 1
    finally:
        assert stop_twin(running) == 0
    time.sleep(0.5)
    assert not process_group_alive(running.process.pid)


def test_tasks_submitted_at_once_complete_up_to_the_owners_limit(twin: RunningTwin) -> None:
    """30 submits at once by one owner (20 in flight at most, the deployment's default): the ones
    over the limit are refused with 429 and the limit's name; every accepted task completes. (That
    the limit is never exceeded under concurrency is proven against moto in tests/api/test_limits.py;
    here a task may finish during the burst and free its slot.)"""
    from concurrent.futures import ThreadPoolExecutor

    def submit(index: int) -> httpx.Response:
        with client(twin) as http:
            return http.post(CREATE, json=example(twin, prompt=f"task {index}"))

    with ThreadPoolExecutor(max_workers=30) as pool:
        replies = list(pool.map(submit, range(30)))
    accepted = [r.json()["task_id"] for r in replies if r.status_code == 202]
    refused = [r for r in replies if r.status_code != 202]
    assert len(accepted) >= 15 and refused, [r.status_code for r in replies]
    for reply in refused:
        assert reply.status_code == 429, reply.text
        assert reply.json() == {"detail": "At most 20 tasks in flight for this owner: wait for one to finish"}
        assert reply.headers["Retry-After"] == "10"

    def wait(task_id: str) -> dict[str, Any]:
        with client(twin) as http:  # every 2 s, as the spec's clients: within the owner's rate
            return poll(http, f"/api/transitions/task-status/{task_id}/", lambda b: b["ready"], 240, 2)

    with ThreadPoolExecutor(max_workers=len(accepted)) as pool:
        finals = list(pool.map(wait, accepted))
    assert [f["state"] for f in finals] == ["SUCCESS"] * len(accepted), [f.get("error") for f in finals]
    assert len({f["result"]["transition_id"] for f in finals}) == len(accepted)
    # The slots are free again
    with client(twin) as http:
        assert http.post(CREATE, json=example(twin)).status_code == 202


BAD_INPUTS: list[tuple[str, str, dict[str, Any], int, list[Any] | None, str]] = [
    # (case, path, request kwargs, status, loc of the 422, type or text in the answer)
    ("subtitle with carriage returns", CREATE,
     {"json": {"subtitles": [{"startTime": 0, "endTime": 1, "text": "a\r[V4+ Styles]\rStyle: X"}]}},
     422, ["body", "subtitles", 0, "text"], "control_character"),
    ("NUL in the prompt", CREATE, {"json": {"prompt": "a\x00b"}}, 422, ["body", "prompt"], "control_character"),
    ("line separator in a dream", "/generate-video", {"params": {"dream": "a\u2028b", "style": "Cursed"}},
     422, ["query", "dream"], "control_character"),
    ("duration as a string", CREATE, {"json": {"duration": "5"}}, 422, ["body", "duration"], "int_type"),
    ("upload size as a string", "/api/uploads/",
     {"json": {"content_type": "image/png", "content_length": "100000000000"}}, 422, ["body", "content_length"],
     "int_type"),
    ("upload size as a boolean", "/api/uploads/", {"json": {"content_type": "image/png", "content_length": True}},
     422, ["body", "content_length"], "int_type"),
    ("whitespace-only dream", "/generate-video", {"params": {"dream": "   ", "style": "Cursed"}}, 422,
     ["query", "dream"], "blank_text"),
    ("array body", CREATE, {"array": True}, 422, ["body"], "model_attributes_type"),
    ("JSON sent as text/plain", CREATE, {"content_type": "text/plain"}, 415, None, "Content-Type must be"),
    ("deeply nested JSON", CREATE, {"raw": b"[" * 3000 + b"]" * 3000}, 422, ["body"], "json_too_deep"),
    ("oversized JSON", CREATE, {"json": {"prompt": "x" * 70_000}}, 413, None, "too large"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "path", "sent", "status", "loc", "says"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_every_class_of_bad_input_is_refused_over_http(
    twin: RunningTwin,
    case: str,
    path: str,
    sent: dict[str, Any],
    status: int,
    loc: list[Any] | None,
    says: str,
) -> None:
    with client(twin) as http:
        if path == CREATE:
            body = example(twin, **sent.get("json", {}))
            raw = sent.get("raw") or json.dumps([body] if sent.get("array") else body).encode()
            answer = http.post(
                path, content=raw, headers={"Content-Type": sent.get("content_type", "application/json")}
            )
        elif "params" in sent:
            answer = http.post(path, params=sent["params"])
        else:
            answer = http.post(path, json=sent["json"])
    assert answer.status_code == status, answer.text
    if loc is None:
        assert says in answer.json()["detail"]
    else:
        [item] = answer.json()["detail"]
        assert (item["loc"], item["type"]) == (loc, says) and item["msg"]


def test_subtitles_music_and_voiceover_through_the_twin(twin: RunningTwin) -> None:
    request = example(
        twin, enable_voiceover=True, voiceover_text="Welcome to the show", subtitle_position="top"
    )
    with client(twin) as http:
        task_id = http.post(CREATE, json=request).json()["task_id"]
        final = poll(http, f"/api/transitions/task-status/{task_id}/", lambda b: b["ready"])
    assert final["state"] == "SUCCESS", final
    video = httpx.get(final["result"]["video_url"], timeout=30).content
    description = probe(video)
    assert "Audio: aac" in description and abs(seconds(description) - 5) < 0.2
    vtt = httpx.get(final["result"]["subtitles_url"], timeout=30)
    assert vtt.text == "WEBVTT\n\n1\n00:00:00.000 --> 00:00:02.500\nFirst subtitle\n"


def test_every_url_a_client_receives_goes_through_the_one_address(twin: RunningTwin) -> None:
    with client(twin) as http:
        task_id = http.post(CREATE, json=example(twin)).json()["task_id"]
        final = poll(http, f"/api/transitions/task-status/{task_id}/", lambda b: b["ready"])
        upload = http.post("/api/uploads/", json={"content_type": "image/png", "content_length": 4}).json()
        preflight = httpx.options(f"{twin.base_url}{CREATE}", timeout=30)
    urls = [final["result"][key] for key in ("video_url", "thumbnail_url", "subtitles_url")]
    urls += [upload["upload_url"], upload["file_url"]]
    assert all(url.startswith(twin.base_url + "/") for url in urls), urls
    assert httpx.get(urls[1], timeout=30).content[:3] == b"\xff\xd8\xff"  # served through the front
    ranged = httpx.get(urls[0], headers={"Range": "bytes=0-99"}, timeout=30)  # how browsers play video
    assert ranged.status_code == 206 and len(ranged.content) == 100
    # The upload goes through the same address, then the file is readable at file_url.
    put = httpx.put(upload["upload_url"], content=b"\x89PNG", headers=upload["headers"], timeout=30)
    assert put.status_code == 200 and httpx.get(upload["file_url"], timeout=30).content == b"\x89PNG"
    # A browser on another origin may call the API: the preflight is answered as API Gateway does.
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_public_url_is_the_address_in_every_url() -> None:
    port = free_port()
    public = f"http://localhost:{port}"  # another spelling of the address, as a proxy would give
    running = start_twin(port, None, "--public-url", public)
    try:
        assert running.base_url == public
        with httpx.Client(
            base_url=public, headers={"Authorization": f"Token {running.token}"}, timeout=30
        ) as http:
            upload = http.post(
                "/api/uploads/", json={"content_type": "image/png", "content_length": 4}
            ).json()
        assert upload["upload_url"].startswith(public + "/") and upload["file_url"].startswith(public + "/")
        assert example(running)["front_image"].startswith(public + "/examples/")
    finally:
        assert stop_twin(running) == 0


def test_repeated_signals_to_a_busy_twin_stop_it_within_seconds_and_it_restarts_at_once() -> None:
    port = free_port()
    running = start_twin(port)
    with httpx.Client(
        base_url=running.base_url, headers={"Authorization": f"Token {running.token}"}, timeout=30
    ) as http:
        for index in range(4):  # renders, polls and workers in flight
            assert http.post(CREATE, json=example(running, prompt=f"busy {index}")).status_code == 202
    time.sleep(1.0)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGINT):
        running.process.send_signal(signum)
        time.sleep(0.05)
    try:
        running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        running.process.kill()
        raise AssertionError("the twin did not stop within 20 s of the signals") from None
    deadline = time.monotonic() + 10  # its children are reaped as they exit
    while process_group_alive(running.process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_group_alive(running.process.pid), "".join(running.output)
    again = start_twin(port)  # the same port, right away: no "already in use"
    try:
        assert again.base_url.endswith(f":{port}")
    finally:
        assert stop_twin(again) == 0


def test_the_twin_ends_a_tasks_wait_when_replicate_calls_back(tmp_path: Path) -> None:
    """The twin as deployed (worker processes, moto's server, the emulator in a process of its own
    calling the front back): with a 30 s poll interval, only the emulator's completed webhook can
    end the first wait, and it does; the history says how each wait ended."""
    import boto3

    from bench.twin_load import start_twin as start_bench_twin

    running = start_bench_twin(tmp_path, 90, "--poll-interval", "30")
    try:
        body = {**running.example_request, "enable_music": False, "enable_subtitles": False}
        status, task_id = running.submit(body)
        assert status == 202 and task_id
        deadline = time.monotonic() + 25  # < the 30 s wait: a poll cannot have ended it
        state = None
        while time.monotonic() < deadline and state not in ("SUCCESS", "FAILURE"):
            state = running.state(task_id)[1]
            time.sleep(0.2)
        assert state == "SUCCESS"
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=running.aws_endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        events = sfn.get_execution_history(executionArn=task_id, maxResults=1000)["events"]
        waits = [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskTimedOut", "TaskFailed")]
        scheduled = [e for e in events if e["type"] == "TaskScheduled"]
        callbacks = [e for e in scheduled if "waitForTaskToken" in e["taskScheduledEventDetails"]["resource"]]
        assert callbacks, "WaitBeforePoll ran as a callback step"
        assert "TaskTimedOut" not in waits, waits
        deliveries = running.emulator.request("GET", "/_emulator/webhooks")[1]
        assert [d["answer"] for d in deliveries if d["event"] == "completed"] == [200]
    finally:
        running.stop()


def test_a_caller_webhook_reaches_a_loopback_receiver_signed_and_retried_after_a_500(
    twin: RunningTwin,
) -> None:
    """The twin allows loopback http receivers and runs the deliveries queue with a compressed
    schedule: the receiver answers 500, then sees the same event again, signed with the owner's
    secret (checked by the Standard Webhooks reference implementation)."""
    from standardwebhooks.webhooks import Webhook

    from tests.receiver import Receiver

    with client(twin) as http, Receiver(answers=[500]) as receiver:
        secret = http.get("/api/webhooks/secret/").json()["secret"]
        accepted = http.post(CREATE, json=example(twin, duration=5, webhook_url=receiver.url))
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]
        first, second = receiver.wait_for(2, timeout=90)
        deadline = time.monotonic() + 30  # the delivery is recorded once the receiver has answered
        while (status := http.get(f"/api/transitions/task-status/{task_id}/").json())["webhook"][
            "state"
        ] != "delivered":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
    events = [Webhook(secret).verify(r.body, r.headers) for r in (first, second)]
    assert events[0] == events[1] or events[0]["id"] == events[1]["id"]
    assert events[1]["type"] == "task.succeeded" and events[1]["data"]["task_id"] == task_id
    assert second.at > first.at
    assert [a["status_code"] for a in status["webhook"]["last_attempts"]] == [500, 200]


def test_the_openapi_document_and_its_page_are_served_without_a_token(twin: RunningTwin) -> None:
    document = httpx.get(f"{twin.base_url}/openapi.json", timeout=30)
    assert document.status_code == 200 and document.headers["content-type"].startswith("application/json")
    served = document.json()
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs/openapi.json").read_text())
    assert served == committed
    page = httpx.get(f"{twin.base_url}/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'sha256-" in policy and "default-src 'none'" in policy
    # Everything the page needs is in it: no script, style or font from anywhere else (offline)
    assert not re.search(r"""(src|href)=["']https?://""", page.text)
    assert "openapi.json" in page.text
