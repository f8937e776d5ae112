"""API payload models: the spec's field names, the allowed sets, clear messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.domain.options import DURATIONS, MusicType, SubtitlePosition, SubtitleStyle, TransitionType
from service.models.api import DreamQuery, TransitionRequest
from tests.support import transition_body


def errors_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        TransitionRequest.model_validate(body)
    return list(caught.value.errors())


def test_spec_example_request_is_valid_and_keeps_spec_names() -> None:
    # Given the spec's example request, When it is parsed, Then every field keeps its spec name
    request = TransitionRequest.model_validate(transition_body())
    dumped = request.model_dump(mode="json")
    assert dumped["transition_type"] == "ENERGETIC"
    assert dumped["subtitles"] == [{"startTime": 0.0, "endTime": 2.5, "text": "First subtitle"}]
    assert dumped["front_image"] == "https://example.com/front.jpg"
    assert set(dumped) - set(transition_body()) == {
        "voiceover_text",
        "voice",
        "webhook_url",
    }  # ours, optional


@pytest.mark.parametrize("spelling", ["ENERGETIC", "energetic", "Energetic", " energetic "])
def test_transition_type_is_case_insensitive(spelling: str) -> None:
    assert TransitionRequest.model_validate(transition_body(transition_type=spelling)).transition_type is (
        TransitionType.ENERGETIC
    )


@pytest.mark.parametrize(
    ("field", "enum_values"),
    [
        ("transition_type", [t.value for t in TransitionType]),
        ("subtitle_style", [s.value for s in SubtitleStyle]),
        ("subtitle_position", [p.value for p in SubtitlePosition]),
        ("music_type", [m.value for m in MusicType]),
    ],
)
def test_unknown_enum_value_lists_every_allowed_value(field: str, enum_values: list[str]) -> None:
    [error] = errors_of(transition_body(**{field: "sideways"}))
    assert error["loc"] == (field,)
    for value in enum_values:
        assert f"'{value}'" in error["msg"]


@pytest.mark.parametrize("duration", [0, 3, 7, 11, 60])
def test_durations_outside_the_model_lengths_are_rejected_with_the_allowed_list(duration: int) -> None:
    [error] = errors_of(transition_body(duration=duration))
    assert error["type"] == "duration_not_allowed"
    assert all(str(d) in error["msg"] for d in DURATIONS)


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "example.com/a.jpg", ""])
def test_image_urls_must_be_http_or_https(url: str) -> None:
    errors = errors_of(transition_body(front_image=url))
    assert [e["loc"] for e in errors] == [("front_image",)]


def test_subtitle_order_and_range_are_checked_when_subtitles_are_enabled() -> None:
    errors = errors_of(transition_body(subtitles=[{"startTime": 2, "endTime": 1, "text": "x"}]))
    assert errors[0]["type"] == "subtitle_order" and "startTime" in errors[0]["msg"]
    errors = errors_of(transition_body(subtitles=[{"startTime": 1, "endTime": 6, "text": "x"}]))
    assert errors[0]["type"] == "subtitle_out_of_range" and "5" in errors[0]["msg"]
    errors = errors_of(transition_body(subtitles=[{"startTime": 0, "endTime": 1, "text": "  "}]))
    assert errors[0]["loc"] == ("subtitles", 0, "text")


def test_subtitles_past_the_end_are_ignored_when_subtitles_are_off() -> None:
    body = transition_body(enable_subtitles=False, subtitles=[{"startTime": 1, "endTime": 60, "text": "x"}])
    assert TransitionRequest.model_validate(body).enable_subtitles is False


def test_unknown_fields_are_rejected_so_typos_are_not_silently_ignored() -> None:
    [error] = errors_of(transition_body(transiton_type="SMOOTH"))
    assert error["type"] == "extra_forbidden" and error["loc"] == ("transiton_type",)


def test_minimal_request_gets_spec_defaults() -> None:
    request = TransitionRequest.model_validate(
        {"front_image": "http://a.example/1.png", "tail_image": "http://a.example/2.png"}
    )
    assert (request.duration, request.transition_type, request.subtitles) == (5, TransitionType.SMOOTH, [])


def test_dream_style_accepts_any_case_and_keeps_the_spec_spelling() -> None:
    assert DreamQuery(dream="a cat", style="cursed").style.value == "Cursed"  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        DreamQuery(dream="", style="Gothic")  # type: ignore[arg-type]
    locs = {e["loc"] for e in caught.value.errors()}
    assert locs == {("dream",), ("style",)}


def test_voiceover_with_nothing_to_say_names_the_field() -> None:
    errors = errors_of(transition_body(enable_voiceover=True, enable_subtitles=False, voiceover_text="  "))
    assert [(e["loc"], e["type"]) for e in errors] == [(("voiceover_text",), "voiceover_text_missing")]
    assert "voiceover_text" in errors[0]["msg"]
    # Subtitles are spoken when there is no voiceover_text, and a voice must be one of the model's
    assert (
        TransitionRequest.model_validate(transition_body(enable_voiceover=True)).spoken_text()
        == "First subtitle"
    )
    [error] = errors_of(transition_body(enable_voiceover=True, voice="robot"))
    assert error["loc"] == ("voice",) and "'af_bella'" in error["msg"]


# -- settings: one class per function, validated at cold start -------------------------------------------
def test_a_function_missing_a_resource_fails_naming_the_variable() -> None:
    from service.settings import ConfigurationError, StatusSettings

    with pytest.raises(ConfigurationError) as caught:
        StatusSettings.from_environment({"VIDEOGEN_TASKS_TABLE": "t", "VIDEOGEN_PRESIGN_SECONDS": "5"})
    message = str(caught.value)
    assert "VIDEOGEN_STATE_MACHINE_ARN: is not set" in message
    assert "VIDEOGEN_MEDIA_BUCKET: is not set" in message
    assert "VIDEOGEN_PRESIGN_SECONDS" in message  # below its minimum of 60
    assert "VIDEOGEN_TASKS_TABLE" not in message


def test_settings_read_only_their_own_variables() -> None:
    from service.settings import TokensSettings

    settings = TokensSettings.from_environment(
        {"VIDEOGEN_TOKENS_TABLE": "tokens", "VIDEOGEN_TASKS_TABLE": "x"}
    )
    assert settings.tokens_table == "tokens"


def test_every_function_environment_is_built_from_its_settings_class() -> None:
    from service.catalog import FUNCTIONS, function_environment

    values = {
        "tasks_table": "tasks",
        "tokens_table": "tokens",
        "owners_table": "owners",
        "media_bucket": "media",
        "replicate_secret_name": "secret",
        "replicate_webhook_secret_name": "webhook-secret",
        "state_machine_arn": "arn:aws:states:us-east-1:1:stateMachine:m",
        "idempotency_table": "idempotency",
        "cursor_secret_name": "cursor",
        "deliveries_queue_url": "https://sqs.us-east-1.amazonaws.com/1/q",
        "deliveries_dead_letter_queue_url": "https://sqs.us-east-1.amazonaws.com/1/d",
    }
    for spec in FUNCTIONS:
        environment = function_environment(spec, values)
        spec.settings.from_environment(environment)  # complete: validates
    with pytest.raises(KeyError, match="VIDEOGEN_TOKENS_TABLE"):
        function_environment(next(s for s in FUNCTIONS if s.name == "authorizer"), {})
