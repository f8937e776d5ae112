"""Recipes, progress, status mapping (both schemas), auth and storage round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from replicate.prediction import Prediction

from service.domain import recipes
from service.domain.auth import hash_token, new_token, token_from_header
from service.domain.options import DreamStyle, TransitionType
from service.domain.progress import CEILING, PredictionProgress, combine, estimate
from service.domain.status import dream_status_body, transition_status_body
from service.models.api import TransitionRequest
from service.models.domain import Progress, Task, TaskKind, TaskResult, TaskState
from service.models.storage import task_from_item, task_to_item
from tests.support import transition_body

ARN = "arn:aws:states:us-east-1:123456789012:execution:videogen-video-generation:0b8e3c52-8d0c-4d8e-9f52-1f1c4c1d9a11"


def make_task(**overrides: object) -> Task:
    values: dict[str, object] = {
        "task_id": ARN.rsplit(":", 1)[1],
        "execution_arn": ARN,
        "owner": "alice",
        "kind": TaskKind.TRANSITION,
        "request": {"dream": "a whale in the sky", "style": "Animated"},
        "transition_id": 123,
        "generated_transition_id": 124,
        "created_at": datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        "updated_at": datetime(2024, 1, 15, 10, 31, tzinfo=UTC),
        "expires_at": 1_800_000_000,
    }
    values.update(overrides)
    return Task.model_validate(values)


def presign(key: str) -> str:
    return f"https://bucket.example/{key}?X-Amz-Signature=abc"


# -- recipes ------------------------------------------------------------------------------------
def test_transition_recipe_calls_the_first_last_frame_model_with_its_input_names() -> None:
    request = TransitionRequest.model_validate(transition_body(duration=10, transition_type="dreamy"))
    job = recipes.transition_job(request, recipes.Models(video="kwaivgi/kling-v1.6-pro"))
    call = job.predictions[0]
    assert call.model == "kwaivgi/kling-v1.6-pro" and job.duration == 10 and job.kind is TaskKind.TRANSITION
    assert call.input["start_image"] == "https://example.com/front.jpg"
    assert call.input["end_image"] == "https://example.com/tail.jpg"
    assert call.input["duration"] == 10
    assert call.input["prompt"].startswith("Dynamic video transition.")
    assert "dreamy" in call.input["prompt"].lower()


@pytest.mark.parametrize("kind", list(TransitionType))
def test_every_transition_type_has_a_prompt_naming_it(kind: TransitionType) -> None:
    assert kind.value.lower() in recipes.TRANSITION_PROMPTS[kind].lower()


@pytest.mark.parametrize("style", list(DreamStyle))
def test_dream_recipe_uses_a_template_per_style(style: DreamStyle) -> None:
    job = recipes.dream_job("a whale in the sky", style, "owner/t2v")
    prompt = job.predictions[0].input["prompt"]
    assert "\u201ca whale in the sky\u201d" in prompt and job.predictions[0].model == "owner/t2v"
    others = {recipes.DREAM_PROMPTS[s] for s in DreamStyle} - {recipes.DREAM_PROMPTS[style]}
    assert all(prompt != o.format(dream="a whale in the sky") for o in others)


# -- progress -----------------------------------------------------------------------------------
def test_tqdm_percentage_from_the_logs_becomes_current_of_100() -> None:
    logs = "loading weights\n 10%|█         | 10/100 [00:01<00:09]\n 42%|████▏     | 42/100 [00:04<00:06]\n"
    parsed = Prediction.Progress.parse(logs)  # the official client's parser, as the workflow uses it
    assert parsed is not None
    progress = combine([PredictionProgress("processing", parsed.percentage)])
    assert (progress.current, progress.total, progress.status) == (42, 100, "Processing frames...")


def test_progress_combines_predictions_the_video_dominating_and_stays_below_100_until_saved() -> None:
    video_half, music_done = (
        PredictionProgress("processing", 0.5, "video"),
        PredictionProgress("succeeded", None, "music"),
    )
    assert combine([video_half, music_done]).current == 60  # (4 x 0.5 + 1 x 1) / 5
    video_done, music_half = (
        PredictionProgress("succeeded", None, "video"),
        PredictionProgress("processing", 0.5, "music"),
    )
    assert combine([video_done, music_half, PredictionProgress("starting", None, "voice")]).current == 75
    done = combine([PredictionProgress("succeeded", 1.0)])
    assert done.current == 99 and done.status == "Saving video..."
    assert combine([PredictionProgress("starting", None)]).status == "Waiting for the model to start..."
    assert combine([PredictionProgress("processing", None)]).current == 0  # nothing to go by


def test_without_progress_in_the_logs_the_estimate_follows_the_models_typical_time() -> None:
    """Kling prints no percentage: it climbs with the run time, 90% at the typical time, then
    creeps towards 95%; it never goes back and never reaches 100 by itself."""
    at = [
        combine([PredictionProgress("processing", None, running_s=t, typical_s=100)]).current
        for t in (0, 25, 50, 100, 200, 10_000)
    ]
    assert at == [0, 22, 45, 90, 93, 95]
    assert estimate(150, 100) < estimate(151, 100) < CEILING
    logged = PredictionProgress("processing", 0.1, running_s=90, typical_s=100)
    assert combine([logged]).current == 10  # the model's own words win over the estimate


# -- status mapping -----------------------------------------------------------------------------
def test_pending_transition_status_has_info_null() -> None:
    body = transition_status_body(make_task(), presign)
    assert body == {"task_id": ARN, "state": "PENDING", "ready": False, "info": None}


def test_processing_transition_status_has_info() -> None:
    task = make_task(state=TaskState.PROCESSING, progress=Progress(current=1, status="Processing frames..."))
    body = transition_status_body(task, presign)
    assert body["info"] == {"current": 1, "total": 100, "status": "Processing frames..."}
    assert body["ready"] is False and "result" not in body and "error" not in body


def test_success_transition_status_has_the_spec_result_with_integer_ids() -> None:
    result = TaskResult(video_key="videos/x.mp4", thumbnail_key="thumbnails/x.jpg", duration=5)
    body = transition_status_body(make_task(state=TaskState.SUCCESS, result=result), presign)
    assert body["ready"] is True and "info" not in body
    assert body["result"] == {
        "transition_id": 123,
        "generated_transition_id": 124,
        "video_url": presign("videos/x.mp4"),
        "thumbnail_url": presign("thumbnails/x.jpg"),
        "duration": 5,
        "status": "completed",
        "created_at": "2024-01-15T10:30:00Z",
    }


def test_failure_transition_status_has_the_error_string() -> None:
    body = transition_status_body(make_task(state=TaskState.FAILURE, error="Invalid image format"), presign)
    assert body == {"task_id": ARN, "state": "FAILURE", "ready": True, "error": "Invalid image format"}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (TaskState.PENDING, "pending"),
        (TaskState.PROCESSING, "processing"),
        (TaskState.SUCCESS, "completed"),
        (TaskState.FAILURE, "failed"),
    ],
)
def test_dream_status_maps_states_to_the_dream_words(state: TaskState, expected: str) -> None:
    result = TaskResult(video_key="videos/x.mp4", thumbnail_key="t.jpg", duration=5)
    task = make_task(kind=TaskKind.DREAM, state=state, result=result, error="boom")
    body = dream_status_body(task, presign)
    assert body["status"] == expected
    assert set(body) == {
        "task_id",
        "status",
        "dream",
        "style",
        "video_url",
        "error",
        "created_at",
        "updated_at",
    }
    assert (body["dream"], body["style"]) == ("a whale in the sky", "Animated")
    assert body["video_url"] == (presign("videos/x.mp4") if expected == "completed" else None)
    assert body["error"] == ("boom" if expected == "failed" else None)


# -- auth and storage ---------------------------------------------------------------------------
def test_tokens_are_random_and_stored_only_as_sha256() -> None:
    token = new_token()
    assert token != new_token() and len(token) > 40
    assert hash_token(token) == __import__("hashlib").sha256(token.encode()).hexdigest()
    assert token not in hash_token(token)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("Token abc", "abc"), ("token abc", "abc"), ("  Token   abc ", "abc"), ("Bearer abc", None),
     ("Token", None), ("Token a b", None), ("", None), (None, None)],
)  # fmt: skip
def test_authorization_header_parsing(header: str | None, expected: str | None) -> None:
    assert token_from_header(header) == expected


def test_task_round_trips_through_the_dynamodb_item() -> None:
    task = make_task(
        state=TaskState.SUCCESS,
        progress=Progress(current=42, status="x"),
        result=TaskResult(video_key="v", thumbnail_key="t", duration=5, video_seconds=5.04),
        request={"subtitles": [{"startTime": 0.5, "endTime": 2.5, "text": "hi"}], "duration": 5},
    )
    item = task_to_item(task)
    assert item["transition_id"] == {"N": "123"} and item["state"] == {"S": "SUCCESS"}
    assert task_from_item(item) == task


# -- media recipes (music, voiceover, subtitles) --------------------------------------------------
MODELS = recipes.Models(video="v/video", music="m/music", tts="t/tts")


def test_music_is_a_second_prediction_with_the_types_prompt_and_the_videos_length() -> None:
    from service.domain.options import MUSIC_PROMPTS, MusicType

    request = TransitionRequest.model_validate(transition_body(duration=10, music_type="dramatic"))
    roles = {p.role: p for p in recipes.transition_job(request, MODELS).predictions}
    assert set(roles) == {"video", "music"}
    assert roles["music"].model == "m/music"
    assert roles["music"].input["prompt"] == MUSIC_PROMPTS[MusicType.DRAMATIC]
    assert roles["music"].input["duration"] == 10
    off = TransitionRequest.model_validate(transition_body(enable_music=False))
    assert [p.role for p in recipes.transition_job(off, MODELS).predictions] == ["video"]


def test_voiceover_speaks_its_text_or_else_the_enabled_subtitles() -> None:
    said = TransitionRequest.model_validate(
        transition_body(enable_voiceover=True, voiceover_text="Hello there", voice="BM_GEORGE")
    )
    voice = next(p for p in recipes.transition_job(said, MODELS).predictions if p.role == "voice")
    assert voice.model == "t/tts" and voice.input == {
        "text": "Hello there",
        "voice": "bm_george",
        "speed": 1.0,
    }
    cues = [{"startTime": 2, "endTime": 3, "text": "second"}, {"startTime": 0, "endTime": 1, "text": "first"}]
    from_subtitles = TransitionRequest.model_validate(transition_body(enable_voiceover=True, subtitles=cues))
    voice = next(p for p in recipes.transition_job(from_subtitles, MODELS).predictions if p.role == "voice")
    assert voice.input["text"] == "first second"


def test_subtitles_go_to_finalize_only_when_enabled() -> None:
    on = recipes.transition_job(
        TransitionRequest.model_validate(transition_body(subtitle_position="top")), MODELS
    )
    assert [(c.start, c.end, c.text) for c in on.compose.subtitles] == [(0.0, 2.5, "First subtitle")]
    assert (on.compose.subtitle_style, on.compose.subtitle_position) == ("default", "top")
    off = recipes.transition_job(
        TransitionRequest.model_validate(transition_body(enable_subtitles=False)), MODELS
    )
    assert off.compose.subtitles == []


# -- the edge: identity validation expression and per-key throttle ---------------------------------
@pytest.mark.parametrize(
    "header",
    ["Token abc", "token abc", "  Token   abc ", "TOKEN vg_A-b_c", "Bearer abc", "Token", "Token a b", "",
     "Tokenabc", "Token \x00", "Token é", "Token abc\n"],
)  # fmt: skip
def test_the_identity_validation_expression_lets_through_exactly_what_the_authorizer_reads(
    header: str,
) -> None:
    from service.domain.auth import header_looks_valid

    assert header_looks_valid(header) == (
        token_from_header(header) is not None
        and header.isascii()
        and "\n" not in header
        and "\x00" not in header
    )


def test_a_token_expires_at_its_second() -> None:
    from service.domain.auth import token_usable

    assert token_usable(None, 1e12) and token_usable(100, 99.9) and not token_usable(100, 100.0)


def test_the_key_throttle_is_a_token_bucket() -> None:
    from twin.gateway import KeyThrottle

    now = [0.0]
    throttle = KeyThrottle(clock=lambda: now[0])
    assert [throttle.allow("k", 1.0, 2) for _ in range(3)] == [True, True, False]
    assert throttle.allow("other", 1.0, 2)
    now[0] = 0.5
    assert not throttle.allow("k", 1.0, 2)  # half a token
    now[0] = 1.0
    assert throttle.allow("k", 1.0, 2) and not throttle.allow("k", 1.0, 2)
    now[0] = 100.0
    assert [throttle.allow("k", 1.0, 2) for _ in range(3)] == [True, True, False]  # capped at the burst
