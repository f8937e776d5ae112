"""A Replicate-compatible API emulator that renders real videos and audio with ffmpeg.

It serves the models of the service's model catalog (``functions/service/model_catalog.json``)
exactly as the catalog describes them: official models by name, community models by version only,
every create validated against the published schema (Replicate's 422), rate limits per rolling
minute (429 + ``Retry-After``), data removed an hour after a prediction ends, ``Prefer: wait``.

Usage::

    from replicate_emulator import ReplicateEmulator

    with ReplicateEmulator() as emu:          # or emu.start(host, port) / emu.stop()
        emu.faults.throttle_creates = 1        # fault injection, also via POST /_emulator/faults
        emu.configure(data_retention_s=5)      # Replicate's rules, also via POST /_emulator/config
        client = replicate.Client(api_token="x", base_url=emu.base_url)

Run standalone with ``videogen emulator --port 8001`` (or ``python -m replicate_emulator``);
README.md ("Developing against Replicate offline") lists the faults and the control routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .faults import Faults
    from .models import MODELS, ModelSpec
    from .server import ReplicateEmulator

__all__ = ["MODELS", "EmulatorConfig", "Faults", "ModelSpec", "ReplicateEmulator"]


def __getattr__(name: str) -> Any:
    """Imported on first use, so ``replicate_emulator.options`` stays cheap for the CLI."""
    if name not in __all__:
        raise AttributeError(name)
    from . import config, faults, models, server

    return {
        "MODELS": models.MODELS,
        "EmulatorConfig": config.EmulatorConfig,
        "Faults": faults.Faults,
        "ModelSpec": models.ModelSpec,
        "ReplicateEmulator": server.ReplicateEmulator,
    }[name]
