"""Recipes send only what the target model accepts: every recipe's output, for every combination
of the request's options, checked against the model's published schema (the catalog) by the
emulator's validator, Replicate's rules: no 422, and no input Replicate would silently drop."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from replicate_emulator.validation import check_input
from service.domain import recipes
from service.domain.options import DURATIONS, DreamStyle, MusicType, SubtitleStyle, TransitionType, Voice
from service.model_catalog import ModelRef, catalog
from service.models.api import TransitionRequest
from service.models.domain import GenerationJob, TaskKind

ROLE_OF = {
    "video": {TaskKind.TRANSITION: "transition", TaskKind.DREAM: "dream"},
    "music": "music",
    "voice": "speech",
}


def assert_every_call_fits_its_model(job: GenerationJob) -> None:
    for call in job.predictions:
        entry = catalog().get(ModelRef.parse(call.model).id)
        assert entry is not None, call.model
        role = ROLE_OF[call.role]
        assert (role[job.kind] if isinstance(role, dict) else role) in entry.roles
        checked = check_input(entry, call.input)  # raises InputValidationError (Replicate's 422)
        assert checked.ignored == (), (call.role, checked.ignored)
        assert all(name in entry.input_names for name in call.input)
        for model_input in recipes.API_FIELDS.get((job.kind, call.role), {}):
            assert model_input in entry.input_names  # the error rewording names real inputs


def transition(**fields: Any) -> TransitionRequest:
    base = {"front_image": "https://example.com/front.jpg", "tail_image": "https://example.com/tail.jpg"}
    return TransitionRequest.model_validate({**base, **fields})


def test_every_transition_recipe_fits_the_default_models() -> None:
    models = recipes.Models(video=catalog().default("transition"))
    combinations = 0
    for kind, duration, music, subtitles, voiceover in itertools.product(
        TransitionType, DURATIONS, [None, *MusicType], [False, True], [None, "text", "subtitles"]
    ):
        fields: dict[str, Any] = {"transition_type": kind.value, "duration": duration, "prompt": f"p {kind}"}
        if music is not None:
            fields |= {"enable_music": True, "music_type": music.value}
        cues = [
            {"startTime": 0, "endTime": 1.5, "text": "こんにちは 👋"},
            {"startTime": 2, "endTime": 3, "text": "שלום"},
        ]
        if subtitles or voiceover == "subtitles":
            fields |= {
                "enable_subtitles": True,
                "subtitles": cues,
                "subtitle_style": SubtitleStyle.BOLD.value,
            }
        if voiceover is not None:
            fields |= {"enable_voiceover": True}
            if voiceover == "text":
                fields |= {"voiceover_text": "Welcome!"}
        job = recipes.transition_job(transition(**fields), models)
        assert_every_call_fits_its_model(job)
        assert [p.role for p in job.predictions] == [
            "video",
            *(["music"] if music is not None else []),
            *(["voice"] if voiceover is not None else []),
        ]
        combinations += 1
    assert combinations == len(TransitionType) * len(DURATIONS) * (len(MusicType) + 1) * 2 * 3


@pytest.mark.parametrize("voice", list(Voice))
def test_every_voice_of_the_api_is_one_the_speech_model_has(voice: Voice) -> None:
    job = recipes.transition_job(
        transition(enable_voiceover=True, voiceover_text="Hi", voice=voice.value),
        recipes.Models(video=catalog().default("transition")),
    )
    assert_every_call_fits_its_model(job)


@pytest.mark.parametrize("style", list(DreamStyle))
@pytest.mark.parametrize(
    "dream", ["a whale over Paris", "猫が空を飛ぶ夢 🐋", "x" * 1000, 'she said "hi" \u201ctwice\u201d']
)
def test_every_dream_recipe_fits_the_default_model(style: DreamStyle, dream: str) -> None:
    job = recipes.dream_job(dream, style, catalog().default("dream"))
    assert_every_call_fits_its_model(job)
    prompt = job.predictions[0].input["prompt"]
    first, last = prompt.find("\u201c"), prompt.rfind("\u201d")
    assert prompt[first + 1 : last] == dream  # the dreamer's words, whole, between the outer quotes
