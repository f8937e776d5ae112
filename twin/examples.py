"""The transitions spec's example request (spec/transitions-api-flow.md, Step 1), kept once.

The twin prints it (with images it serves itself), the tests and the benchmark send it.
"""

from __future__ import annotations

from typing import Any


def spec_transition_request(
    front_image: str = "https://example.com/front.jpg",
    tail_image: str = "https://example.com/tail.jpg",
    **overrides: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "front_image": front_image,
        "tail_image": tail_image,
        "prompt": "Dynamic video transition",
        "duration": 5,
        "transition_type": "ENERGETIC",
        "enable_subtitles": True,
        "subtitle_style": "default",
        "subtitle_position": "bottom",
        "subtitles": [{"startTime": 0, "endTime": 2.5, "text": "First subtitle"}],
        "enable_music": True,
        "music_type": "ambient",
        "enable_voiceover": False,
    }
    body.update(overrides)
    return body
