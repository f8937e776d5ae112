"""The emulator's model registry: model name -> input schema + renderer.

Adding a model means writing a renderer ``(ctx, input) -> output`` and calling ``register_model``
with its ``InputField`` schema. The schema drives create-time validation (HTTP 422), defaults and
the OpenAPI document served for the model's version. Outputs that are ``Path`` objects inside
``ctx.workdir`` are turned into download URLs by the server.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import render
from .errors import InputValidationError, InvalidField, PredictionError
from .render import FfmpegJob

# --------------------------------------------------------------------------------------------- contract


class RenderContext(Protocol):
    """What a renderer may use; implemented by the prediction engine."""

    prediction_id: str
    workdir: Path

    def log(self, message: str) -> None:
        """Append a line to the prediction's logs."""

    def fetch(self, field: str, url: str) -> Path:
        """Download an input URL/data URI into the workdir (PredictionError on failure)."""

    def run_ffmpeg(self, job: FfmpegJob, output: Path) -> Path:
        """Run an ffmpeg job with progress logging, pacing and cancellation; returns ``output``."""

    def check_canceled(self) -> None:
        """Raise PredictionCanceled if the prediction was canceled meanwhile."""


Renderer = Callable[[RenderContext, dict[str, Any]], Any]

_MISSING: Any = object()


@dataclass(frozen=True)
class InputField:
    """One model input. ``kind`` is ``str``, ``int``, ``float``, ``bool`` or ``"uri"``."""

    name: str
    kind: type | str
    description: str = ""
    default: Any = _MISSING
    required: bool = False
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None

    def openapi(self) -> dict[str, Any]:
        types = {str: "string", int: "integer", float: "number", bool: "boolean", "uri": "string"}
        schema: dict[str, Any] = {
            "type": types[self.kind],
            "title": self.name,
            "description": self.description,
        }
        if self.kind == "uri":
            schema["format"] = "uri"
        if self.default is not _MISSING and self.default is not None:
            schema["default"] = self.default
        if self.choices is not None:
            schema["enum"] = list(self.choices)
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return schema


@dataclass(frozen=True)
class ModelSpec:
    owner: str
    name: str
    inputs: tuple[InputField, ...]
    render: Renderer
    description: str = ""
    output_schema: dict[str, Any] = field(default_factory=lambda: {"type": "string", "format": "uri"})

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def version(self) -> str:
        """A stable, Replicate-looking 64-hex version id derived from the model name."""
        return hashlib.sha256(f"videogen-replicate-emulator:{self.full_name}".encode()).hexdigest()

    def validate(self, raw: Any) -> dict[str, Any]:
        return validate_input(self.inputs, raw)

    def openapi_schema(self) -> dict[str, Any]:
        return {
            "openapi": "3.0.2",
            "info": {"title": self.full_name, "version": "emulated"},
            "components": {
                "schemas": {
                    "Input": {
                        "type": "object",
                        "title": "Input",
                        "required": [f.name for f in self.inputs if f.required],
                        "properties": {f.name: f.openapi() for f in self.inputs},
                    },
                    "Output": self.output_schema,
                }
            },
        }


# --------------------------------------------------------------------------------------------- validation


def validate_input(fields: tuple[InputField, ...], raw: Any) -> dict[str, Any]:
    """Check and normalise an input object; unknown keys are ignored, as Cog does."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputValidationError([InvalidField("input", "type", "input must be an object")])
    clean: dict[str, Any] = {}
    problems: list[InvalidField] = []
    for spec in fields:
        value = raw.get(spec.name)
        if value is None:
            if spec.required:
                problems.append(InvalidField(f"input.{spec.name}", "required", f"{spec.name} is required"))
            elif spec.default is not _MISSING:
                clean[spec.name] = spec.default
            continue
        try:
            clean[spec.name] = _check_value(spec, value)
        except InvalidFieldValue as exc:
            problems.append(InvalidField(f"input.{spec.name}", exc.kind, f"{spec.name} {exc.reason}"))
    if problems:
        raise InputValidationError(problems)
    return clean


class InvalidFieldValue(ValueError):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _check_value(spec: InputField, value: Any) -> Any:
    value = _coerce_type(spec, value)
    if spec.choices is not None and value not in spec.choices:
        allowed = ", ".join(str(c) for c in spec.choices)
        raise InvalidFieldValue("enum", f"must be one of the following: {allowed}")
    if spec.minimum is not None and value < spec.minimum:
        raise InvalidFieldValue("number_gte", f"must be greater than or equal to {spec.minimum:g}")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidFieldValue("number_lte", f"must be less than or equal to {spec.maximum:g}")
    return value


def _coerce_type(spec: InputField, value: Any) -> Any:
    kind = spec.kind
    if kind == "uri":
        if not isinstance(value, str) or ":" not in value or value.startswith(":"):
            raise InvalidFieldValue("format", "does not match format 'uri'")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise InvalidFieldValue("type", "must be a string")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise InvalidFieldValue("type", "must be a boolean")
        return value
    if isinstance(value, bool):
        raise InvalidFieldValue("type", f"must be {'an integer' if kind is int else 'a number'}")
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if not isinstance(value, int):
            raise InvalidFieldValue("type", "must be an integer")
        return value
    if kind is float:
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise InvalidFieldValue("type", "must be a number") from exc
    raise TypeError(f"unsupported input kind {kind!r}")


# --------------------------------------------------------------------------------------------- registry

MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    MODELS[spec.full_name] = spec
    return spec


def find_model(owner: str, name: str) -> ModelSpec | None:
    return MODELS.get(f"{owner}/{name}")


def resolve_version(ref: str) -> ModelSpec | None:
    """Resolve the ``version`` of ``POST /v1/predictions``: ``owner/name:hash``, ``owner/name`` or a hash."""
    if "/" in ref:
        name, _, version = ref.partition(":")
        spec = MODELS.get(name)
        return spec if spec is not None and (not version or version == spec.version) else None
    return next((spec for spec in MODELS.values() if spec.version == ref), None)


# --------------------------------------------------------------------------------------------- Kling

KLING_INPUTS: tuple[InputField, ...] = (
    InputField("prompt", str, "Text prompt for video generation", required=True),
    InputField("negative_prompt", str, "Things you do not want to see in the video", default=""),
    InputField("start_image", "uri", "First frame of the video (optional)", default=None),
    InputField("end_image", "uri", "Last frame of the video (optional, needs start_image)", default=None),
    InputField("duration", int, "Duration of the video in seconds", default=5, choices=(5, 10)),
    InputField(
        "aspect_ratio", str, "Aspect ratio of the video", default="16:9", choices=("16:9", "9:16", "1:1")
    ),
    InputField(
        "cfg_scale", float, "Flexibility in video generation (ignored)", default=0.5, minimum=0, maximum=1
    ),
)


def render_kling(ctx: RenderContext, inp: dict[str, Any]) -> Path:
    """Kling-like video: a transition between two stills, a pan over one still, or a dream card."""
    fmt = render.ASPECT_RATIOS[inp["aspect_ratio"]]
    duration: int = inp["duration"]
    prompt: str = inp["prompt"]
    seed = render.prompt_seed(prompt)
    ctx.log(f"Using seed: {seed}")
    ctx.log(f"Generating {duration}s video at {fmt.size}, {fmt.fps} fps")
    start, end = inp.get("start_image"), inp.get("end_image")
    if end and not start:
        raise PredictionError("end_image requires start_image")
    if start and end:
        job = _transition(ctx, prompt, start, end, fmt, duration)
    elif start:
        job = render.still_job(_load_still(ctx, "start_image", start, fmt), fmt, duration)
        ctx.log("image-to-video: slow pan over start_image")
    else:
        job = _dream_card(ctx, prompt, fmt, duration, seed)
    return ctx.run_ffmpeg(job, ctx.workdir / "output.mp4")


def _transition(
    ctx: RenderContext, prompt: str, start: str, end: str, fmt: render.VideoFormat, duration: int
) -> FfmpegJob:
    start_png = _load_still(ctx, "start_image", start, fmt)
    end_png = _load_still(ctx, "end_image", end, fmt)
    effect = render.choose_transition(prompt)
    ctx.log(f"transition effect: {effect}")
    return render.transition_job(start_png, end_png, fmt, duration, effect)


def _load_still(ctx: RenderContext, field_name: str, url: str, fmt: render.VideoFormat) -> Path:
    ctx.log(f"Downloading {field_name}")
    raw = ctx.fetch(field_name, url)
    ctx.check_canceled()
    return render.decode_image(raw, ctx.workdir / f"{field_name}.png", render.pan_canvas(fmt), field_name)


def _dream_card(
    ctx: RenderContext, prompt: str, fmt: render.VideoFormat, duration: int, seed: int
) -> FfmpegJob:
    style = render.choose_dream_style(prompt)
    ctx.log(f"dream style: {style}")
    font = render.find_font()
    caption = render.caption_text(prompt, width_chars=render.caption_width_chars(fmt))
    text: tuple[Path, Path] | None = None
    if font is not None and caption:
        text_file = ctx.workdir / "caption.txt"
        text_file.write_text(caption, encoding="utf-8")
        text = (font, text_file)
    else:
        ctx.log(
            "no TTF font found: rendering without caption" if font is None else "empty prompt: no caption"
        )
    return render.dream_job(style, fmt, duration, seed, text)


for _name, _description in (
    ("kling-v1.6-pro", "Kling v1.6 Pro (emulated): transitions between stills, or a dream card"),
    ("kling-v1.6-standard", "Kling v1.6 Standard (emulated): transitions between stills, or a dream card"),
):
    register_model(ModelSpec("kwaivgi", _name, KLING_INPUTS, render_kling, _description))
