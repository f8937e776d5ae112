"""API payloads: exactly the field names and values the spec's clients send and read.

These are converted explicitly into domain objects (``service.models.domain``); nothing here
knows about DynamoDB or Step Functions.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from service.domain.options import (
    DEFAULT_DURATION,
    DURATIONS,
    MAX_DREAM_CHARS,
    MAX_PROMPT_CHARS,
    MAX_SUBTITLE_CHARS,
    MAX_SUBTITLES,
    MAX_VOICEOVER_CHARS,
    DreamStyle,
    MusicType,
    SubtitlePosition,
    SubtitleStyle,
    TransitionType,
    Voice,
    allowed,
)
from service.models.base import Model
from service.models.text import multiline_text, not_blank, plain_text


def case_insensitive(enum_cls: type[StrEnum]) -> BeforeValidator:
    """Accept any spelling of an enum value (``ENERGETIC``, ``energetic``); pydantic's own error
    (which lists the allowed values) still answers anything else."""
    by_fold = {member.value.casefold(): member for member in enum_cls}

    def normalize(value: Any) -> Any:
        if isinstance(value, str):
            return by_fold.get(value.strip().casefold(), value)
        return value

    return BeforeValidator(normalize)


def _check_duration(value: int) -> int:
    if value not in DURATIONS:
        raise PydanticCustomError(
            "duration_not_allowed",
            "duration must be {allowed} seconds (the transition model renders only these lengths)",
            {"allowed": allowed(DURATIONS)},
        )
    return value


def _valid_escapes(value: Any) -> Any:
    """A ``%`` must start a ``%XX`` escape. pydantic keeps ``%zz`` as is, but the model provider
    checks image URLs as RFC 3986 URIs (Go's url.Parse) and would refuse the whole task later."""
    if isinstance(value, str) and re.search(r"%(?![0-9A-Fa-f]{2})", value):
        raise PydanticCustomError(
            "url_escape", "URL has an invalid percent-escape: '%' must be followed by two hex digits"
        )
    return value


#: An http(s) URL, kept as pydantic's HttpUrl and written out as a plain string. Control characters
#: are refused before parsing (the URL parser would silently drop tabs and line breaks).
ImageUrl = Annotated[
    HttpUrl, BeforeValidator(_valid_escapes), plain_text(), PlainSerializer(str, return_type=str)
]
#: Integers are integers: "5", 5.0 and true are refused, not coerced.
Duration = Annotated[
    StrictInt, AfterValidator(_check_duration), WithJsonSchema({"type": "integer", "enum": list(DURATIONS)})
]
#: Seconds: a JSON number (an integer is fine), never a string or a boolean; finite.
Seconds = StrictFloat
#: A free-text prompt: several lines allowed; "" means no prompt (the spec's JS store sends "" when
#: the user typed nothing), but whitespace alone is a mistake worth telling.
PromptText = Annotated[str, not_blank("prompt", empty_allowed=True), multiline_text()]
#: A dream: one line of text that says something.
DreamText = Annotated[str, not_blank("dream"), plain_text()]
#: Where a task's end is POSTed: one line; what it may point at is checked at submit
#: (``service.domain.webhooks.check_url``: https, public addresses, resolved).
WebhookUrl = Annotated[str, plain_text(), Field(min_length=1, max_length=2048)]


class Subtitle(Model):
    """One subtitle cue, with the spec's camelCase names."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    startTime: Seconds = Field(ge=0, description="Seconds from the start of the video")
    endTime: Seconds = Field(gt=0, description="Seconds from the start of the video")
    text: Annotated[str, multiline_text()] = Field(min_length=1, max_length=MAX_SUBTITLE_CHARS)

    @model_validator(mode="after")
    def _ordered(self) -> Subtitle:
        if self.startTime >= self.endTime:
            raise PydanticCustomError(
                "subtitle_order",
                "startTime ({start}) must be before endTime ({end})",
                {"start": self.startTime, "end": self.endTime},
            )
        return self


class TransitionRequest(Model):
    """Body of ``POST /api/transitions/create-and-generate/`` (spec: transitions-api-flow.md)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    front_image: ImageUrl = Field(description="http(s) URL of the first frame")
    tail_image: ImageUrl = Field(description="http(s) URL of the last frame")
    prompt: PromptText = Field(default="", max_length=MAX_PROMPT_CHARS)
    duration: Duration = Field(default=DEFAULT_DURATION, description=f"Seconds: {allowed(DURATIONS)}")
    transition_type: Annotated[TransitionType, case_insensitive(TransitionType)] = TransitionType.SMOOTH
    enable_subtitles: StrictBool = False
    subtitle_style: Annotated[SubtitleStyle, case_insensitive(SubtitleStyle)] = SubtitleStyle.DEFAULT
    subtitle_position: Annotated[SubtitlePosition, case_insensitive(SubtitlePosition)] = (
        SubtitlePosition.BOTTOM
    )
    subtitles: list[Subtitle] = Field(default_factory=list, max_length=MAX_SUBTITLES)
    enable_music: StrictBool = False
    music_type: Annotated[MusicType, case_insensitive(MusicType)] = MusicType.AMBIENT
    enable_voiceover: StrictBool = False
    voiceover_text: Annotated[str, Field(max_length=MAX_VOICEOVER_CHARS), multiline_text()] | None = Field(
        default=None,
        validate_default=True,
        description="Spoken when enable_voiceover; without it the subtitles' text is spoken",
    )
    voice: Annotated[Voice, case_insensitive(Voice)] = Voice.AF_BELLA
    webhook_url: WebhookUrl | None = Field(
        default=None,
        description="An https URL to POST the task's end to (a Standard Webhooks signed event: "
        "task.succeeded or task.failed); its host must resolve to public addresses only",
    )

    @field_validator("subtitles")
    @classmethod
    def _within_duration(cls, subtitles: list[Subtitle], info: ValidationInfo) -> list[Subtitle]:
        duration = info.data.get("duration")
        if duration is None or not info.data.get("enable_subtitles"):
            return subtitles  # ignored when subtitles are off (documented in the OpenAPI text)
        for index, cue in enumerate(subtitles):
            if cue.endTime > duration:
                raise PydanticCustomError(
                    "subtitle_out_of_range",
                    "subtitles[{index}].endTime ({end}) is past the end of the video ({duration} s)",
                    {"index": index, "end": cue.endTime, "duration": duration},
                )
        return subtitles

    @field_validator("voiceover_text")
    @classmethod
    def _something_to_say(cls, text: str | None, info: ValidationInfo) -> str | None:
        text = text.strip() if text else None
        if not info.data.get("enable_voiceover"):
            return text
        subtitles_spoken = info.data.get("enable_subtitles") and info.data.get("subtitles")
        if not text and not subtitles_spoken:
            raise PydanticCustomError(
                "voiceover_text_missing",
                "enable_voiceover needs something to say: send voiceover_text, or enabled subtitles to speak",
            )
        return text

    def spoken_text(self) -> str | None:
        """What the voiceover says: voiceover_text, else the (enabled) subtitles' text in order."""
        if not self.enable_voiceover:
            return None
        if self.voiceover_text:
            return self.voiceover_text
        cues = sorted(self.subtitles, key=lambda cue: cue.startTime) if self.enable_subtitles else []
        return " ".join(cue.text for cue in cues) or None


class DreamQuery(Model):
    """Query of ``POST /generate-video`` (spec: dream-api.md)."""

    dream: DreamText = Field(min_length=1, max_length=MAX_DREAM_CHARS)
    style: Annotated[DreamStyle, case_insensitive(DreamStyle)]


class IdempotencyConflict(Model):
    """409: a submit with this Idempotency-Key is still being accepted."""

    detail: str


class TransitionAccepted(Model):
    task_id: str
    status: Literal["pending"] = "pending"
    message: str = "Transition creation and video generation started"


class DreamAccepted(Model):
    task_id: str
    status: Literal["pending"] = "pending"


class ErrorItem(Model):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorResponse(Model):
    detail: list[ErrorItem]


class DetailResponse(Model):
    detail: str
