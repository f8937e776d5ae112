"""Recipes: turn a validated request into the Replicate model calls that produce it.

Model names come from settings, which accept only models the model catalog describes for the
role (``service.model_catalog``); the inputs are those the catalog's schemas publish, and
``tests/unit/test_recipes.py`` validates every recipe's output against them for every
combination of request options (Replicate would silently drop an unknown input).

``API_FIELDS`` says which request field each model input comes from, so a model's complaint about
``start_image`` reaches the owner as one about ``front_image``.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.options import DREAM_DURATION, MUSIC_PROMPTS, DreamStyle, TransitionType
from service.model_catalog import catalog
from service.models.api import TransitionRequest
from service.models.domain import ComposeSpec, Cue, GenerationJob, PredictionCall, TaskKind

#: How each transition type is described to the model (the emulator reads the keyword too).
TRANSITION_PROMPTS: dict[TransitionType, str] = {
    TransitionType.SMOOTH: "a smooth, seamless transition with gentle camera motion",
    TransitionType.ENERGETIC: "an energetic, fast-paced transition with dynamic camera moves",
    TransitionType.DRAMATIC: "a dramatic transition through darkness with cinematic lighting",
    TransitionType.DREAMY: "a dreamy, soft-focus dissolve with floating, ethereal motion",
    TransitionType.ZOOM: "a zoom transition pushing in from the first scene into the second",
    TransitionType.GLITCH: "a glitch transition with digital distortion and pixelation",
}

#: The dream API's prompt template per style. The dreamer's words stand between typographic
#: quotes, as a quotation within the prompt: the model reads them as the subject, and a stand-in
#: model (our emulator's dream card) can show exactly them (between the first “ and the last ”).
DREAM_PROMPTS: dict[DreamStyle, str] = {
    DreamStyle.REALISTIC: "Photorealistic cinematic footage of a dream: \u201c{dream}\u201d. Natural light, 35mm film.",
    DreamStyle.ANIMATED: "Animated cartoon of a dream: \u201c{dream}\u201d. Bright colours, smooth hand-drawn animation.",
    DreamStyle.CURSED: "Cursed, unsettling found footage of a dream: \u201c{dream}\u201d. Distorted, eerie, VHS glitches.",
}

#: Which request field each model input comes from, per task kind and prediction role: the
#: owner reads the model's complaints in these terms. Inputs we set ourselves map to nothing.
API_FIELDS: dict[tuple[TaskKind, str], dict[str, str]] = {
    (TaskKind.TRANSITION, "video"): {
        "start_image": "front_image",
        "end_image": "tail_image",
        "prompt": "prompt",
        "duration": "duration",
    },
    (TaskKind.TRANSITION, "music"): {"prompt": "music_type", "duration": "duration"},
    (TaskKind.TRANSITION, "voice"): {"text": "voiceover_text", "voice": "voice"},
    (TaskKind.DREAM, "video"): {"prompt": "dream"},
}

#: How each prediction role is named to the task's owner.
ROLE_NAMES: dict[str, str] = {"video": "video", "music": "music", "voice": "voiceover"}

NEGATIVE_PROMPT = "blurry, low quality, watermark, text artifacts"


def transition_prompt(request: TransitionRequest) -> str:
    described = TRANSITION_PROMPTS[request.transition_type]
    user = request.prompt.strip().rstrip(".")
    return f"{user}. {described.capitalize()}." if user else f"{described.capitalize()}."


@dataclass(frozen=True)
class Models:
    """The Replicate models a transition may use (from settings; the catalog's defaults)."""

    video: str
    music: str = catalog().default("music")
    tts: str = catalog().default("speech")


def transition_job(request: TransitionRequest, models: Models) -> GenerationJob:
    """The video, plus music and a voiceover when asked; subtitles are burned in by Finalize."""
    video = PredictionCall(
        role="video",
        model=models.video,
        input={
            "start_image": str(request.front_image),
            "end_image": str(request.tail_image),
            "prompt": transition_prompt(request),
            "negative_prompt": NEGATIVE_PROMPT,
            "duration": request.duration,
            "aspect_ratio": "16:9",
        },
    )
    predictions = [video]
    if request.enable_music:
        predictions.append(
            PredictionCall(
                role="music",
                model=models.music,
                input={
                    "prompt": MUSIC_PROMPTS[request.music_type],
                    "duration": request.duration,
                    "output_format": "wav",
                    "normalization_strategy": "peak",
                },
            )
        )
    spoken = request.spoken_text()
    if spoken:
        predictions.append(
            PredictionCall(
                role="voice",
                model=models.tts,
                input={"text": spoken, "voice": request.voice.value, "speed": 1.0},
            )
        )
    cues = [Cue(start=c.startTime, end=c.endTime, text=c.text) for c in request.subtitles]
    compose = ComposeSpec(
        subtitles=cues if request.enable_subtitles else [],
        subtitle_style=request.subtitle_style.value,
        subtitle_position=request.subtitle_position.value,
    )
    return GenerationJob(
        kind=TaskKind.TRANSITION, duration=request.duration, predictions=predictions, compose=compose
    )


def dream_job(dream: str, style: DreamStyle, model: str) -> GenerationJob:
    video = PredictionCall(
        role="video",
        model=model,
        input={
            "prompt": DREAM_PROMPTS[style].format(dream=dream.strip()),
            "negative_prompt": NEGATIVE_PROMPT,
            "duration": DREAM_DURATION,
            "aspect_ratio": "16:9",
        },
    )
    return GenerationJob(kind=TaskKind.DREAM, duration=DREAM_DURATION, predictions=[video])
