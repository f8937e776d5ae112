"""The allowed values of every enumerated request field, defined once.

Validation (the 422 messages list these), the recipes (prompts per value) and the OpenAPI
description all read them from here.
"""

from __future__ import annotations

from enum import StrEnum


class TransitionType(StrEnum):
    """How the first image turns into the last; accepted case-insensitively."""

    SMOOTH = "SMOOTH"
    ENERGETIC = "ENERGETIC"
    DRAMATIC = "DRAMATIC"
    DREAMY = "DREAMY"
    ZOOM = "ZOOM"
    GLITCH = "GLITCH"


class SubtitleStyle(StrEnum):
    DEFAULT = "default"
    BOLD = "bold"
    MINIMAL = "minimal"


class SubtitlePosition(StrEnum):
    BOTTOM = "bottom"
    MIDDLE = "middle"
    TOP = "top"


class MusicType(StrEnum):
    AMBIENT = "ambient"
    UPBEAT = "upbeat"
    CINEMATIC = "cinematic"
    DRAMATIC = "dramatic"
    CALM = "calm"


class Voice(StrEnum):
    """Voices of the text-to-speech model (Kokoro's names: a* American, b* British, f/m)."""

    AF_BELLA = "af_bella"
    AF_SARAH = "af_sarah"
    AF_NICOLE = "af_nicole"
    AM_ADAM = "am_adam"
    AM_MICHAEL = "am_michael"
    BF_EMMA = "bf_emma"
    BM_GEORGE = "bm_george"


class DreamStyle(StrEnum):
    """The dream API's styles, spelled as the spec spells them."""

    REALISTIC = "Realistic"
    ANIMATED = "Animated"
    CURSED = "Cursed"


#: Clip lengths the transition model can render (seconds); anything else is a 422.
DURATIONS: tuple[int, ...] = (5, 10)
DEFAULT_DURATION = 5

#: Dream clips are rendered at this length.
DREAM_DURATION = 5

MAX_PROMPT_CHARS = 2000
MAX_VOICEOVER_CHARS = 1000
MAX_DREAM_CHARS = 1000
MAX_SUBTITLES = 50
MAX_SUBTITLE_CHARS = 200


def allowed(values: type[StrEnum] | tuple[int, ...]) -> str:
    """Human-readable list of allowed values for error messages: ``'a', 'b' or 'c'``."""
    items = [f"'{v.value}'" if isinstance(v, StrEnum) else str(v) for v in values]
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


#: What the music model is asked for, per music type.
MUSIC_PROMPTS: dict[MusicType, str] = {
    MusicType.AMBIENT: "ambient soundscape, slow evolving pads, soft texture, no drums",
    MusicType.UPBEAT: "upbeat pop instrumental, 120 bpm, bright plucks, rhythmic pulse",
    MusicType.CINEMATIC: "cinematic orchestral score, swelling strings and brass chords",
    MusicType.DRAMATIC: "dramatic tense score, low drones, pulsing percussion hits",
    MusicType.CALM: "calm gentle piano, soft and slow, peaceful",
}
