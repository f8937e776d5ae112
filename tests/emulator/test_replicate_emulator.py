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
from service.adapters.replicate_gateway import log_fraction
from service.model_catalog import catalog

from .helpers import (
    TOKEN,
    ImageServer,
    closed_port,
    create,
    ffmpeg_children,
    version_of,
    wait_for,
    wait_until_done,
)

KLING = "kwaivgi/kling-v1.6-pro"
STANDARD = "kwaivgi/kling-v1.6-standard"
MUSICGEN = "meta/musicgen"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: What the Kling models print (their provider reports a status, never a percentage).
KLING_LOGS = "Starting video generation\nGenerating video...\nVideo generated\n"


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
    assert emulator.get_prediction(prediction.id)["_emulator"]["notes"]["transition_effect"] == effect
    assert str(prediction.output).startswith(f"{emulator.base_url}/files/{prediction.id}/")
    assert prediction.started_at and prediction.completed_at and str(prediction.created_at).endswith("Z")
    assert prediction.metrics and prediction.metrics["predict_time"] > 0
    assert prediction.logs == KLING_LOGS and prediction.progress is None
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
    emulator: ReplicateEmulator,
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
    assert emulator.get_prediction(prediction.id)["_emulator"]["notes"]["dream_style"] == style
    info = probe(download(prediction.output, tmp_path / "dream.mp4"))
    assert (info.video_codec, info.pix_fmt, (info.width, info.height)) == ("h264", "yuv420p", size)
    assert info.duration_s is not None and abs(info.duration_s - 5) <= 0.15


def test_start_image_only_pans_over_the_still(
    client: replicate.Client, image_server: ImageServer, tmp_path: Path
) -> None:
    output = client.run(KLING, input={"prompt": "x", "start_image": image_server.url("start.png")})

    assert isinstance(output, str)
    assert probe(download(output, tmp_path / "still.mp4")).width == 640


def test_kling_pro_needs_a_start_or_end_image(client: replicate.Client) -> None:
    failed = wait_until_done(client, client.predictions.create(model=KLING, input={"prompt": "a dream"}))
    assert (failed.status, failed.error) == ("failed", "A start or end image is required")


def test_audiocraft_progress_climbs_while_music_renders(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.min_processing_s = 3.0
    prediction = create(client, MUSICGEN, {"prompt": "calm", "duration": 4})
    seen: list[float] = []
    while prediction.status not in ("succeeded", "failed"):
        time.sleep(0.15)
        prediction = client.predictions.get(prediction.id)
        fraction = log_fraction(prediction)
        if prediction.status == "processing" and fraction is not None:
            seen.append(fraction)

    assert prediction.status == "succeeded", prediction.error
    assert log_fraction(prediction) == 1.0
    # The render was paced over ~3 s and reported along the way (loose bounds: CI machines are busy)
    assert len(set(seen)) >= 2, seen
    assert seen == sorted(seen) and seen[0] < 1.0 and seen[-1] > seen[0]
    metrics = prediction.metrics or {}
    assert metrics["predict_time"] >= 3.0


def test_model_time_scale_makes_a_run_last_a_share_of_the_models_typical_time(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    typical = catalog().models[STANDARD].progress.typical_seconds
    emulator.configure(model_time_scale=1.5 / typical)
    done = wait_until_done(client, client.predictions.create(model=STANDARD, input={"prompt": "slow"}))

    assert done.status == "succeeded"
    assert (done.metrics or {})["predict_time"] >= 1.5


def test_renders_queue_in_starting_beyond_render_concurrency() -> None:
    """MusicGen prints its progress, so its render is paced over the run time and holds its slot."""
    with ReplicateEmulator(render_concurrency=1) as emu:
        emu.faults.start_delay_s = 0
        emu.faults.min_processing_s = 1.0
        client = replicate.Client(api_token="anything", base_url=emu.base_url)
        first = create(client, MUSICGEN, {"prompt": "one", "duration": 2})
        second = create(client, MUSICGEN, {"prompt": "two", "duration": 2})

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


def test_unknown_version_is_422_invalid_version(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(version="f" * 64, input={"prompt": "x"})

    assert excinfo.value.status == 422
    assert excinfo.value.title == "Invalid version or not permitted"
    assert excinfo.value.detail == (
        "The specified version does not exist (or perhaps you don't have permission to use it?)"
    )


def test_a_community_model_by_name_is_404_and_runs_by_version(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30
    raw = httpx.post(
        f"{emulator.base_url}/v1/models/{MUSICGEN}/predictions", json={"input": {"prompt": "x"}}, headers=AUTH
    )
    assert raw.status_code == 404 and raw.json()["detail"] == "The requested resource could not be found."
    by_name_in_version = httpx.post(
        f"{emulator.base_url}/v1/predictions", json={"version": MUSICGEN, "input": {}}, headers=AUTH
    )
    assert by_name_in_version.status_code == 422
    assert client.predictions.create(version=version_of(MUSICGEN), input={"prompt": "x"}).model == MUSICGEN
    pinned = httpx.post(
        f"{emulator.base_url}/v1/predictions",
        json={"version": f"{MUSICGEN}:{version_of(MUSICGEN)}", "input": {}},
        headers=AUTH,
    )
    assert pinned.status_code == 201


def test_models_api_serves_the_catalog(client: replicate.Client, emulator: ReplicateEmulator) -> None:
    for entry in catalog().models.values():
        model = client.models.get(entry.id)
        assert model.latest_version is not None and model.latest_version.id == entry.version
        assert model.latest_version.openapi_schema["components"]["schemas"]["Input"] == entry.schemas["Input"]
        version = model.versions.get(entry.version)
        assert version.openapi_schema["components"]["schemas"]["Output"] == entry.schemas["Output"]
    unknown = httpx.get(f"{emulator.base_url}/v1/models/{KLING}/versions/{'0' * 64}", headers=AUTH)
    assert unknown.status_code == 404
    assert httpx.get(f"{emulator.base_url}/v1/models/acme/nope", headers=AUTH).status_code == 404


def test_unknown_input_keys_are_dropped_not_refused(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30
    prediction = client.predictions.create(
        model=STANDARD, input={"prompt": "x", "end_image": "https://example.com/e.jpg", "seconds": 5}
    )

    assert prediction.status == "starting"
    assert prediction.input == {"prompt": "x", "end_image": "https://example.com/e.jpg", "seconds": 5}
    assert emulator.get_prediction(prediction.id)["_emulator"]["ignored_input"] == ["end_image", "seconds"]


def test_unknown_prediction_is_404(client: replicate.Client) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.get("doesnotexist")

    assert excinfo.value.status == 404


@pytest.mark.parametrize(
    ("bad_input", "field", "kind", "description"),
    [
        (
            {"prompt": "x", "duration": 7},
            "input.duration",
            "enum",
            "duration must be one of the following: 5, 10",
        ),
        (
            {"prompt": "x", "duration": "5"},
            "input.duration",
            "invalid_type",
            "Invalid type. Expected: integer, given: string",
        ),
        ({"duration": 5}, "input", "required", "prompt is required"),
        (
            {"prompt": "x", "aspect_ratio": "4:3"},
            "input.aspect_ratio",
            "enum",
            'aspect_ratio must be one of the following: "16:9", "9:16", "1:1"',
        ),
        (
            {"prompt": "x", "start_image": "not a url"},
            "input.start_image",
            "format",
            "Does not match format 'uri'",
        ),
        (
            {"prompt": "x", "cfg_scale": 1.5},
            "input.cfg_scale",
            "number_lte",
            "Must be less than or equal to 1",
        ),
        (
            {"prompt": "x", "negative_prompt": None},
            "input.negative_prompt",
            "invalid_type",
            "Invalid type. Expected: string, given: null",
        ),
    ],
)
def test_invalid_input_is_replicates_422_naming_the_field(
    client: replicate.Client,
    emulator: ReplicateEmulator,
    bad_input: dict[str, object],
    field: str,
    kind: str,
    description: str,
) -> None:
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=KLING, input=bad_input)

    assert excinfo.value.status == 422
    assert excinfo.value.title == "Input validation failed"
    assert excinfo.value.detail == f"- {field}: {description}\n"
    raw = httpx.post(
        f"{emulator.base_url}/v1/models/{KLING}/predictions", json={"input": bad_input}, headers=AUTH
    )
    assert raw.status_code == 422 and raw.json()["status"] == 422
    assert raw.json()["invalid_fields"] == [{"type": kind, "field": field, "description": description}]
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


# --------------------------------------------------------------------------------------------- Replicate's rules


def test_creates_over_the_per_minute_limit_are_429_with_retry_after(
    client: replicate.Client, emulator: ReplicateEmulator
) -> None:
    emulator.faults.start_delay_s = 30
    emulator.configure(creates_per_minute=2)
    for _ in range(2):
        assert client.predictions.create(model=KLING, input={"prompt": "x"}).status == "starting"
    with pytest.raises(ReplicateError) as excinfo:  # the client does not retry POSTs
        client.predictions.create(model=KLING, input={"prompt": "x"})

    assert excinfo.value.status == 429
    assert excinfo.value.detail is not None and excinfo.value.detail.startswith(
        "Request was throttled. Your rate limit resets in ~"
    )
    raw = httpx.post(
        f"{emulator.base_url}/v1/predictions", json={"version": KLING, "input": {}}, headers=AUTH
    )
    assert raw.status_code == 429 and 30 <= int(raw.headers["Retry-After"]) <= 60
    assert (
        client.predictions.get(emulator.predictions()[0]["id"]).status == "starting"
    )  # other calls: own budget
    assert len(emulator.predictions()) == 2


def test_other_calls_over_their_limit_are_429(emulator: ReplicateEmulator) -> None:
    emulator.configure(other_calls_per_minute=3)
    url = f"{emulator.base_url}/v1/predictions"
    answers = [httpx.get(url, headers=AUTH).status_code for _ in range(4)]

    assert answers == [200, 200, 200, 429]
    assert httpx.get(f"{emulator.base_url}/_emulator/health").status_code == 200  # not an API call
    emulator.configure(other_calls_per_minute=3000)  # a new limit applies to the same window
    assert httpx.get(url, headers=AUTH).status_code == 200


def test_outputs_and_logs_are_removed_after_the_retention_window(
    client: replicate.Client, emulator: ReplicateEmulator, tmp_path: Path
) -> None:
    prediction = wait_until_done(client, create(client, MUSICGEN, {"prompt": "x", "duration": 1}))
    assert prediction.status == "succeeded" and prediction.output
    url = f"{emulator.base_url}/v1/predictions/{prediction.id}"
    assert httpx.get(url, headers=AUTH).json()["data_removed"] is False
    emulator.configure(data_retention_s=0.3)

    removed = wait_for(lambda: (b := httpx.get(url, headers=AUTH).json())["data_removed"] and b)

    assert removed["status"] == "succeeded" and removed["output"] is None
    assert removed["input"] == {} and removed["logs"] == ""
    assert removed["completed_at"] == str(prediction.completed_at)
    assert httpx.get(str(prediction.output)).status_code == 404
    assert client.predictions.get(prediction.id).output is None


def test_prefer_wait_returns_the_finished_prediction_from_the_create(emulator: ReplicateEmulator) -> None:
    created = httpx.post(
        f"{emulator.base_url}/v1/predictions",
        json={"version": version_of(MUSICGEN), "input": {"prompt": "x", "duration": 1}},
        headers={**AUTH, "Prefer": "wait=30"},
        timeout=35,
    )
    assert created.status_code == 201 and created.json()["status"] == "succeeded"
    emulator.faults.start_delay_s = 30
    waited = httpx.post(
        f"{emulator.base_url}/v1/models/{KLING}/predictions",
        json={"input": {"prompt": "x"}},
        headers={**AUTH, "Prefer": "wait=1"},
    )
    assert waited.status_code == 201 and waited.json()["status"] == "starting"  # still running: as is


def test_config_is_settable_over_http_and_reset(emulator: ReplicateEmulator) -> None:
    control = f"{emulator.base_url}/_emulator"
    answer = httpx.post(f"{control}/config", json={"data_retention_s": 5, "creates_per_minute": 10})
    assert answer.status_code == 200 and answer.json()["data_retention_s"] == 5
    assert emulator.config.creates_per_minute == 10
    assert httpx.post(f"{control}/config", json={"retention": 1}).status_code == 400
    httpx.post(f"{control}/reset")
    assert httpx.get(f"{control}/config").json() == {
        "data_retention_s": 3600.0,
        "creates_per_minute": 600,
        "other_calls_per_minute": 3000,
        "model_time_scale": 0.0,
    }


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
    assert throttled.json()["detail"] == "Request was throttled. Your rate limit resets in ~1s."
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
    emulator.faults.fail = {MUSICGEN: "CUDA out of memory"}
    prediction = wait_until_done(client, create(client, MUSICGEN, {"prompt": "x"}))

    assert prediction.status == "failed"
    assert prediction.error == "CUDA out of memory"
    assert prediction.started_at is not None
    assert 0 <= (log_fraction(prediction) or 0) < 1.0  # what it printed before failing
    assert (prediction.logs or "").endswith("Error: CUDA out of memory\n")
    other = client.models.predictions.create(model=STANDARD, input={"prompt": "x"}, wait=30)
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
    emulator.faults.never_finish = {STANDARD}
    prediction = client.predictions.create(model=STANDARD, input={"prompt": "stuck"})
    pids = wait_for(emulator.running_ffmpeg_pids)
    assert set(pids) <= set(ffmpeg_children())
    time.sleep(0.6)
    stuck = client.predictions.get(prediction.id)
    assert stuck.status == "processing" and stuck.completed_at is None

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
    emu.faults.never_finish = {STANDARD}
    client = replicate.Client(api_token="x", base_url=emu.base_url)
    client.predictions.create(model=STANDARD, input={"prompt": "stuck"})
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


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "replicate_emulator"],
        [sys.executable, "-m", "videogen.cli", "emulator", "--data-retention", "60"],
    ],
)
def test_the_emulator_runs_on_its_own_until_sigterm(command: list[str]) -> None:
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", "0"],
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
        assert health["status"] == "ok" and sorted(health["models"]) == sorted(catalog().models)
        if "videogen.cli" in command:
            assert httpx.get(f"{base_url}/_emulator/config", timeout=5).json()["data_retention_s"] == 60
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
