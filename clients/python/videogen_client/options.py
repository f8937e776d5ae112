"""The values the API accepts for its enumerated fields, so a client can refuse a request before it
uploads anything. They mirror the enums of the API's OpenAPI description (``docs/openapi.json``);
``tests/clients/test_cli_client.py`` fails when the two drift apart. The API is the authority:
it accepts every spelling case-insensitively, and a value missing here would still be answered
with its 422.
"""

from __future__ import annotations

DURATIONS = (5, 10)
TRANSITION_TYPES = ("SMOOTH", "ENERGETIC", "DRAMATIC", "DREAMY", "ZOOM", "GLITCH")
SUBTITLE_STYLES = ("default", "bold", "minimal")
SUBTITLE_POSITIONS = ("bottom", "middle", "top")
MUSIC_TYPES = ("ambient", "upbeat", "cinematic", "dramatic", "calm")
VOICES = ("af_bella", "af_sarah", "af_nicole", "am_adam", "am_michael", "bf_emma", "bm_george")
DREAM_STYLES = ("Realistic", "Animated", "Cursed")
