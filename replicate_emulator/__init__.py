"""A Replicate-compatible predictions API emulator that renders real videos with ffmpeg.

Usage::

    from replicate_emulator import ReplicateEmulator

    with ReplicateEmulator() as emu:          # or emu.start(host, port) / emu.stop()
        emu.faults.throttle_creates = 1        # fault injection, also via POST /_emulator/faults
        client = replicate.Client(api_token="x", base_url=emu.base_url)

Run standalone with ``python -m replicate_emulator --port 8001``.
"""

from . import audio  # noqa: F401  (registers meta/musicgen and jaaari/kokoro-82m)
from .faults import Faults
from .models import MODELS, InputField, ModelSpec, register_model
from .server import ReplicateEmulator

__all__ = ["MODELS", "Faults", "InputField", "ModelSpec", "ReplicateEmulator", "register_model"]
