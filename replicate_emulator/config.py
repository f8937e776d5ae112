"""How the emulated Replicate behaves where real Replicate has fixed rules: data retention, rate
limits, and how long models take. Set by the constructor or ``videogen emulator`` flags; changed
live with ``POST /_emulator/config``; ``POST /_emulator/reset`` restores the constructor's values.
(Faults, in ``faults.py``, are for what should go wrong; this is for how things normally are.)
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

#: Replicate's published numbers (docs: topics/predictions/data-retention and rate-limits).
DATA_RETENTION_S = 3600.0
CREATES_PER_MINUTE = 600
OTHER_CALLS_PER_MINUTE = 3000


@dataclass(frozen=True)
class EmulatorConfig:
    data_retention_s: float = DATA_RETENTION_S
    """An API prediction's input, output, logs and files are removed this long after it finished."""
    creates_per_minute: int = CREATES_PER_MINUTE
    """Prediction creates per account per rolling minute before 429."""
    other_calls_per_minute: int = OTHER_CALLS_PER_MINUTE
    """All other ``/v1`` calls per account per rolling minute before 429."""
    model_time_scale: float = 0.0
    """A run lasts at least the model's typical time (catalog) times this: 0 renders as fast as
    ffmpeg can; ``videogen serve`` uses a fraction so progress moves over several polls."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class ConfigError(ValueError):
    """A ``/_emulator/config`` payload that cannot be applied."""


def coerce_config_updates(data: Any) -> dict[str, Any]:
    """Validate a JSON object of config fields (all or nothing)."""
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object of config fields")
    known = {f.name: f.type for f in fields(EmulatorConfig)}
    updates: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            raise ConfigError(f"unknown config field {name!r}; known fields: {', '.join(sorted(known))}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{name} must be a non-negative number")
        if name.endswith("_per_minute"):
            if not float(value).is_integer() or value < 1:
                raise ConfigError(f"{name} must be a positive integer")
            value = int(value)
        updates[name] = float(value) if not name.endswith("_per_minute") else value
    return updates


class ConfigState:
    """The live config, replaced atomically; ``reset`` returns to the constructor's values."""

    def __init__(self, initial: EmulatorConfig) -> None:
        self._initial = initial
        self._current = initial
        self._lock = threading.Lock()

    @property
    def current(self) -> EmulatorConfig:
        return self._current

    def update(self, updates: dict[str, Any]) -> EmulatorConfig:
        with self._lock:
            self._current = replace(self._current, **updates)
            return self._current

    def reset(self) -> None:
        with self._lock:
            self._current = self._initial
