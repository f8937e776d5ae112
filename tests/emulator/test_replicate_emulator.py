"""End-to-end tests: the official ``replicate`` client (and raw httpx) against a live emulator."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pydantic.v1
import pytest
import replicate
from replicate.exceptions import ReplicateError

from replicate_emulator import ReplicateEmulator
from replicate_emulator.render import probe

from .helpers import TOKEN, ImageServer, closed_port, ffmpeg_children, wait_for, wait_until_done

KLING = "kwaivgi/kling-v1.6-pro"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def download(url: object, dest: Path) -> Path:
    assert isinstance(url, str), url
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    dest.write_bytes(response.content)
    return dest


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


# --------------------------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("duration", "prompt", "effect"),
    [(5, "An ENERGETIC jump into the night", "slideleft"), (10, "a dramatic, smooth fall", "fadeblack")],
)
def test_transition_renders_h264_of_requested_duration(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    image_server: ImageServer,
    tmp_path: Path,
    duration: int,
    prompt: str,
    effect: str,
) -> None:
    end_image = (
        image_server.url("end.jpg")
        if duration == 5
        else data_uri(image_server.root / "end.jpg", "image/jpeg")
    )
    prediction = client.predictions.create(
        model=KLING,
        input={
            "prompt": prompt,
            "start_image": image_server.url("start.png"),
            "end_image": end_image,
            "duration": duration,
            "cfg_scale": 0.5,
        },
    )
    assert prediction.status == "starting"
    assert prediction.model == KLING
    assert len(prediction.id) == 26 and prediction.id.isalnum() and prediction.id.islower()

    prediction = wait_until_done(client, prediction)

    assert prediction.status == "succeeded", prediction.error
    assert f"transition effect: {effect}" in (prediction.logs or "")
    assert str(prediction.output).startswith(f"{emulator.base_url}/files/{prediction.id}/")
    assert prediction.started_at and prediction.completed_at and str(prediction.created_at).endswith("Z")
    assert prediction.metrics and prediction.metrics["predict_time"] > 0
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    info = probe(download(prediction.output, tmp_path / "out.mp4"))
    assert (info.video_codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 640, 360)
    assert info.fps == 24 and not info.has_audio
    assert info.duration_s is not None and abs(info.duration_s - duration) <= 0.15


@pytest.mark.parametrize(
    ("prompt", "aspect_ratio", "style", "size"),
    [
        ("An animated cartoon fox in a forest", "9:16", "animated", (360, 640)),
        (
            "Cursed: 'quotes', \\back\\slash, [brackets]; 100% {x} %{pts} é ünïcode\nnewline",
            "1:1",
            "cursed",
            (480, 480),
        ),
    ],
)
def test_dream_card_renders_from_prompt_only(
    client: replicate.Client,
    tmp_path: Path,
    prompt: str,
    aspect_ratio: str,
    style: str,
    size: tuple[int, int],
) -> None:
    # Prefer: wait=N returns the finished prediction straight from the create call. (The client's
    # predictions.create(model=...) drops `wait` before delegating; models.predictions.create keeps it.)
    prediction = client.models.predictions.create(
        model="kwaivgi/kling-v1.6-standard", input={"prompt": prompt, "aspect_ratio": aspect_ratio}, wait=30
    )

    assert prediction.status == "succeeded", prediction.error
    assert f"dream style: {style}" in (prediction.logs or "")
    info = probe(download(prediction.output, tmp_path / "dream.mp4"))
    assert (info.video_codec, info.pix_fmt, (info.width, info.height)) == ("h264", "yuv420p", size)
    assert info.duration_s is not None and abs(info.duration_s - 5) <= 0.15


def test_start_image_only_pans_over_the_still(
    client: replicate.Client, image_server: ImageServer, tmp_path: Path
) -> None:
    output = client.run(KLING, input={"prompt": "x", "start_image": image_server.url("start.png")})

    assert isinstance(output, str)
    assert probe(download(output, tmp_path / "still.mp4")).width == 640


def test_progress_advances_while_rendering(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.min_processing_s = 3.0
    prediction = client.predictions.create(model=KLING, input={"prompt": "smooth clouds"})
    seen: list[float] = []
    while prediction.status not in ("succeeded", "failed"):
        time.sleep(0.15)
        prediction = client.predictions.get(prediction.id)
        if prediction.status == "processing" and prediction.progress is not None:
            seen.append(prediction.progress.percentage)

    assert prediction.status == "succeeded", prediction.error
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    # The render was paced over ~3 s and reported along the way (loose bounds: CI machines are busy)
    assert len(set(seen)) >= 2, seen
    assert seen == sorted(seen) and seen[0] < 1.0 and seen[-1] > seen[0]
    metrics = prediction.metrics or {}
    assert metrics["predict_time"] >= 3.0


def test_renders_queue_in_starting_beyond_render_concurrency() -> None:
    with ReplicateEmulator(render_concurrency=1) as emu:
        emu.faults.start_delay_s = 0
        emu.faults.min_processing_s = 1.0
        client = replicate.Client(api_token="anything", base_url=emu.base_url)
        first = client.predictions.create(model=KLING, input={"prompt": "one"})
        second = client.predictions.create(model=KLING, input={"prompt": "two"})

        wait_for(lambda: emu.get_prediction(first.id)["status"] == "processing")
        time.sleep(0.3)
        assert emu.get_prediction(second.id)["status"] == "starting"

        assert wait_until_done(client, first).status == "succeeded"
        assert wait_until_done(client, second).status == "succeeded"
        assert emu.get_prediction(second.id)["started_at"] >= emu.get_prediction(first.id)["completed_at"]


# --------------------------------------------------------------------------------------------- API surface


def test_create_by_version_posts_to_predictions_endpoint(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30  # these predictions never need to render
    by_name = client.predictions.create(version=KLING, input={"prompt": "x"})
    by_ref = client.predictions.create(version=f"{KLING}:{by_name.version}", input={"prompt": "x"})
    by_hash = client.predictions.create(version=by_name.version, input={"prompt": "x"})

    assert {p.model for p in (by_name, by_ref, by_hash)} == {KLING}
    assert {p.status for p in (by_name, by_ref, by_hash)} == {"starting"}
    assert len(by_name.version) == 64
    assert {p["id"] for p in emulator.predictions()} == {by_name.id, by_ref.id, by_hash.id}


def test_unknown_model_is_404(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model="acme/does-not-exist", input={"prompt": "x"})

    assert excinfo.value.status == 404
    assert excinfo.value.title == "Not found"


def test_unknown_version_is_422(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(version="f" * 64, input={"prompt": "x"})

    assert excinfo.value.status == 422


def test_unknown_prediction_is_404(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.get("doesnotexist")

    assert excinfo.value.status == 404


@pytest.mark.parametrize(
    ("bad_input", "field"),
    [
        ({"prompt": "x", "duration": 7}, "input.duration"),
        ({"duration": 5}, "input.prompt"),
        ({"prompt": "x", "aspect_ratio": "4:3"}, "input.aspect_ratio"),
        ({"prompt": "x", "start_image": "not a url"}, "input.start_image"),
    ],
)
def test_invalid_input_is_422_naming_the_field(
    client: replicate.Client, emulator: ReplicateEmulator, bad_input: dict[str, object], field: str
) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=KLING, input=bad_input)

    assert excinfo.value.status == 422
    assert field in (excinfo.value.detail or "")
    raw = httpx.post(
        f"{emulator.base_url}/v1/models/{KLING}/predictions", json={"input": bad_input}, headers=AUTH
    )
    assert raw.status_code == 422
    assert [f["field"] for f in raw.json()["invalid_fields"]] == [field]
    assert emulator.predictions() == []


def test_bearer_token_is_required_and_checked(emulator: ReplicateEmulator) -> None:
    url = f"{emulator.base_url}/v1/models/{KLING}/predictions"
    missing = httpx.post(url, json={"input": {"prompt": "x"}})
    assert missing.status_code == 401
    assert missing.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }

    wrong = replicate.Client(api_token="wrong", base_url=emulator.base_url)
    with pytest.raises(ReplicateError) as excinfo:
        wrong.predictions.get("anything")
    assert excinfo.value.status == 401


def test_any_token_passes_when_none_is_configured() -> None:
    with ReplicateEmulator() as emu:
        emu.faults.start_delay_s = 30
        client = replicate.Client(api_token="whatever", base_url=emu.base_url)
        assert client.predictions.create(model=KLING, input={"prompt": "x"}).status == "starting"
        assert httpx.get(f"{emu.base_url}/v1/predictions").status_code == 401


def test_output_urls_follow_the_request_host(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.start_delay_s = 30
    prediction = client.predictions.create(model=KLING, input={"prompt": "x"})
    via_localhost = httpx.get(
        f"http://localhost:{emulator.port}/v1/predictions/{prediction.id}", headers=AUTH
    )

    assert via_localhost.json()["urls"]["get"].startswith(f"http://localhost:{emulator.port}/")
    assert emulator.get_prediction(prediction.id)["urls"]["get"].startswith(emulator.base_url)


def test_files_serves_only_prediction_outputs(
    client: replicate.Client, emulator: ReplicateEmulator, image_server: ImageServer
) -> None:
    prediction = client.models.predictions.create(
        model=KLING, input={"prompt": "x", "start_image": image_server.url("start.png")}, wait=30
    )
    assert prediction.status == "succeeded"

    assert httpx.get(f"{emulator.base_url}/files/{prediction.id}/start_image.png").status_code == 404
    assert httpx.get(f"{emulator.base_url}/files/nope/output.mp4").status_code == 404
    ranged = httpx.get(str(prediction.output), headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100


# --------------------------------------------------------------------------------------------- input failures


@pytest.mark.parametrize("case", ["http_404", "connection_refused"])
def test_unfetchable_start_image_fails_the_prediction(
    client: replicate.Client, image_server: ImageServer, case: str
) -> None:
    if case == "http_404":
        url, reason = image_server.url("missing.jpg"), "HTTP 404"
    else:
        url, reason = f"http://127.0.0.1:{closed_port()}/start.png", "connection refused"
    prediction = client.predictions.create(
        model=KLING, input={"prompt": "x", "start_image": url, "end_image": image_server.url("end.jpg")}
    )

    prediction = wait_until_done(client, prediction)

    assert prediction.status == "failed"
    assert prediction.error == f"Could not fetch start_image from {url}: {reason}"
    assert prediction.output is None


def test_undecodable_end_image_fails_the_prediction(
    client: replicate.Client, image_server: ImageServer
) -> None:
    prediction = client.predictions.create(
        model=KLING,
        input={
            "prompt": "x",
            "start_image": image_server.url("start.png"),
            "end_image": image_server.url("not_an_image.jpg"),
        },
    )

    prediction = wait_until_done(client, prediction)

    assert prediction.status == "failed"
    assert prediction.error == "Could not decode end_image as an image"


# --------------------------------------------------------------------------------------------- faults


def test_throttled_creates_answer_429_then_recover(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30
    emulator.faults.throttle_creates = 2
    for _ in range(2):
        with pytest.raises(ReplicateError) as excinfo:
            client.predictions.create(model=KLING, input={"prompt": "x"})
        assert excinfo.value.status == 429

    assert client.predictions.create(model=KLING, input={"prompt": "x"}).status == "starting"
    assert emulator.faults.throttle_creates == 0
    assert len(emulator.predictions()) == 1


def test_throttle_and_unavailable_responses_on_the_wire(emulator: ReplicateEmulator) -> None:
    emulator.faults.start_delay_s = 30
    emulator.faults.unavailable_creates = 1
    emulator.faults.throttle_creates = 1
    url = f"{emulator.base_url}/v1/predictions"
    body = {"version": KLING, "input": {"prompt": "x"}}

    unavailable = httpx.post(url, json=body, headers=AUTH)
    throttled = httpx.post(url, json=body, headers=AUTH)
    created = httpx.post(url, json=body, headers=AUTH)

    assert unavailable.status_code == 503 and unavailable.json()["status"] == 503
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert created.status_code == 201
    emulator.faults.throttle_gets = 1
    get_url = f"{url}/{created.json()['id']}"
    assert httpx.get(get_url, headers=AUTH).status_code == 429
    assert httpx.get(get_url, headers=AUTH).status_code == 200


def test_throttled_gets_are_retried_by_the_client(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30
    prediction = client.predictions.create(model=KLING, input={"prompt": "x"})
    emulator.faults.throttle_gets = 1

    assert client.predictions.get(prediction.id).id == prediction.id  # after one Retry-After: 1
    assert emulator.faults.throttle_gets == 0


def test_fail_fault_ends_failed_with_the_configured_error(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {KLING: "CUDA out of memory"}
    prediction = wait_until_done(client, client.predictions.create(model=KLING, input={"prompt": "x"}))

    assert prediction.status == "failed"
    assert prediction.error == "CUDA out of memory"
    assert prediction.started_at is not None
    assert prediction.progress is not None and prediction.progress.percentage < 1.0
    other = client.models.predictions.create(
        model="kwaivgi/kling-v1.6-standard", input={"prompt": "x"}, wait=30
    )
    assert other.status == "succeeded"


def test_abort_fault_ends_aborted_without_starting(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.abort = {"*"}
    emulator.faults.start_delay_s = 0.05
    prediction = client.predictions.create(model=KLING, input={"prompt": "x"})
    url = f"{emulator.base_url}/v1/predictions/{prediction.id}"

    body = wait_for(lambda: (b := httpx.get(url, headers=AUTH).json())["status"] == "aborted" and b)

    assert body["started_at"] is None and body["completed_at"] is not None
    assert "deadline" in body["error"] and body["output"] is None
    # replicate 1.0.7's Prediction model does not know "aborted": consumers must read raw JSON.
    with pytest.raises(pydantic.v1.ValidationError, match=r"status"):
        client.predictions.get(prediction.id)


def test_never_finish_then_cancel_kills_ffmpeg(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.never_finish = {KLING}
    prediction = client.predictions.create(model=KLING, input={"prompt": "stuck"})
    pids = wait_for(emulator.running_ffmpeg_pids)
    assert set(pids) <= set(ffmpeg_children())
    wait_for(lambda: (p := client.predictions.get(prediction.id).progress) is not None and p.percentage > 0)
    time.sleep(0.6)
    stuck = client.predictions.get(prediction.id)
    assert stuck.status == "processing"
    assert stuck.progress is not None and stuck.progress.percentage < 1.0

    canceled = client.predictions.cancel(prediction.id)

    assert canceled.status == "canceled" and canceled.completed_at is not None
    assert emulator.running_ffmpeg_pids() == []
    assert not set(pids) & set(ffmpeg_children())
    assert client.predictions.get(prediction.id).status == "canceled"


def test_cancel_is_a_no_op_on_finished_predictions(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.fail = {"*": "boom"}
    emulator.faults.start_delay_s = 0
    failed = wait_until_done(client, client.predictions.create(model=KLING, input={"prompt": "x"}))

    again = client.predictions.cancel(failed.id)

    assert (again.status, again.error, again.completed_at) == ("failed", "boom", failed.completed_at)


def test_cancel_while_queued_in_starting(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.start_delay_s = 30
    prediction = client.predictions.create(model=KLING, input={"prompt": "x"})

    prediction.cancel()

    assert prediction.status == "canceled" and prediction.started_at is None


def test_latency_fault_delays_api_responses(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    emulator.faults.latency_s = 0.3
    started = time.monotonic()
    with pytest.raises(ReplicateError):
        client.predictions.get("nope")
    assert time.monotonic() - started >= 0.3


def test_faults_are_configurable_over_http(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    control = f"{emulator.base_url}/_emulator"
    response = httpx.post(
        f"{control}/faults", json={"throttle_creates": 1, "fail": {"*": "over http"}, "start_delay_s": 0}
    )
    assert response.status_code == 200
    assert response.json()["throttle_creates"] == 1
    assert emulator.faults.fail == {"*": "over http"}

    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=KLING, input={"prompt": "x"})
    assert excinfo.value.status == 429
    prediction = wait_until_done(client, client.predictions.create(model=KLING, input={"prompt": "x"}))
    assert (prediction.status, prediction.error) == ("failed", "over http")
    assert [p["id"] for p in httpx.get(f"{control}/predictions").json()] == [prediction.id]

    bad = httpx.post(f"{control}/faults", json={"no_such_fault": 1})
    assert bad.status_code == 400 and "no_such_fault" in bad.json()["detail"]

    assert httpx.post(f"{control}/reset").status_code == 200
    assert emulator.faults.fail == {} and emulator.faults.start_delay_s == 0.1
    assert httpx.get(f"{control}/predictions").json() == []
    assert httpx.get(f"{control}/faults").json()["abort"] == []


# --------------------------------------------------------------------------------------------- lifecycle


def test_stop_leaves_no_threads_processes_or_files_behind() -> None:
    before = set(threading.enumerate())
    emu = ReplicateEmulator()
    emu.start()
    emu.faults.never_finish = {KLING}
    client = replicate.Client(api_token="x", base_url=emu.base_url)
    client.predictions.create(model=KLING, input={"prompt": "stuck"})
    emu.faults.never_finish = set()
    emu.faults.min_processing_s = 5
    client.predictions.create(model="kwaivgi/kling-v1.6-standard", input={"prompt": "slow"})
    wait_for(lambda: len(emu.running_ffmpeg_pids()) == 2)
    workdir = emu.engine.root
    port = emu.port

    emu.stop()

    assert emu.running_ffmpeg_pids() == [] and ffmpeg_children() == []
    leftovers = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    assert leftovers == []
    assert not workdir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/_emulator/health")


def test_python_dash_m_serves_until_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_emulator", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.split(" listening on ")[1].split()[0]
        health = httpx.get(f"{base_url}/_emulator/health", timeout=5).json()
        assert health["status"] == "ok" and KLING in health["models"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
