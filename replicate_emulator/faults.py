"""Fault injection knobs: what the emulator should get wrong, and thread-safe counters for it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any

_COUNTERS = ("throttle_creates", "throttle_gets", "unavailable_creates")
_MODEL_SETS = ("abort", "never_finish", "remove_data_on_download")
#: Webhook faults naming events (start, output, logs, completed, or "*").
_EVENT_SETS = ("drop_webhooks", "duplicate_webhooks", "forge_webhooks", "stale_webhooks")
_WEBHOOK_EVENTS = ("start", "output", "logs", "completed", "*")


@dataclass
class Faults:
    """Behaviour overrides; mutate the fields directly or ``POST /_emulator/faults`` a JSON object.

    Model-name matchers (``fail`` keys, ``abort``, ``never_finish``) accept ``owner/name`` or ``"*"``.
    """

    latency_s: float = 0.0
    """Added to every ``/v1`` API response."""
    throttle_creates: int = 0
    """The next N create calls answer 429 (with ``Retry-After: 1``)."""
    throttle_gets: int = 0
    """The next N ``GET /v1/predictions/{id}`` calls answer 429."""
    unavailable_creates: int = 0
    """The next N create calls answer 503."""
    fail: dict[str, str] = field(default_factory=dict)
    """Model -> error text: the prediction starts, logs a little, then ends ``failed`` with that text."""
    abort: set[str] = field(default_factory=set)
    """Models whose predictions end ``aborted`` without ever starting."""
    never_finish: set[str] = field(default_factory=set)
    """Models whose predictions stay ``processing`` (progress stuck below 100%) until canceled."""
    remove_data_on_download: set[str] = field(default_factory=set)
    """Models whose outputs are removed (``data_removed``) just before their first download: the
    download comes after Replicate's clean-up, as a Finalize that runs too late would."""
    reject_input: dict[str, str] = field(default_factory=dict)
    """Model -> input field: creates for that model answer 422 naming the field, as Replicate does
    when a value breaks the field's schema (the value itself is not looked at)."""
    start_delay_s: float = 0.1
    """Time spent in ``starting`` before ``processing`` (queueing for a render slot comes on top)."""
    min_processing_s: float = 0.0
    """A prediction stays ``processing`` at least this long; renders are paced to fill the time."""
    drop_webhooks: set[str] = field(default_factory=set)
    """Webhook events (``start``, ``output``, ``logs``, ``completed``, ``"*"``) that are lost: never
    sent, never retried."""
    delay_webhooks_s: float = 0.0
    """Every webhook is sent this much later."""
    duplicate_webhooks: set[str] = field(default_factory=set)
    """Events sent twice, with the same ``webhook-id`` (as a retry after a lost answer is)."""
    reorder_webhooks: bool = False
    """A prediction's webhooks are held until it ends, then sent newest first."""
    forge_webhooks: set[str] = field(default_factory=set)
    """Events replaced by a forgery: the prediction claimed failed, signed with another key."""
    stale_webhooks: set[str] = field(default_factory=set)
    """Events signed correctly but dated ten minutes ago (a replay), instead of now."""

    def failure_for(self, model: str) -> str | None:
        return self.fail.get(model, self.fail.get("*"))

    def aborts(self, model: str) -> bool:
        return model in self.abort or "*" in self.abort

    def never_finishes(self, model: str) -> bool:
        return model in self.never_finish or "*" in self.never_finish

    def removes_data_on_download(self, model: str) -> bool:
        return model in self.remove_data_on_download or "*" in self.remove_data_on_download

    def rejected_field(self, model: str) -> str | None:
        return self.reject_input.get(model, self.reject_input.get("*"))

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_s": self.latency_s,
            "throttle_creates": self.throttle_creates,
            "throttle_gets": self.throttle_gets,
            "unavailable_creates": self.unavailable_creates,
            "fail": dict(self.fail),
            "abort": sorted(self.abort),
            "never_finish": sorted(self.never_finish),
            "remove_data_on_download": sorted(self.remove_data_on_download),
            "reject_input": dict(self.reject_input),
            "start_delay_s": self.start_delay_s,
            "min_processing_s": self.min_processing_s,
            "drop_webhooks": sorted(self.drop_webhooks),
            "delay_webhooks_s": self.delay_webhooks_s,
            "duplicate_webhooks": sorted(self.duplicate_webhooks),
            "reorder_webhooks": self.reorder_webhooks,
            "forge_webhooks": sorted(self.forge_webhooks),
            "stale_webhooks": sorted(self.stale_webhooks),
        }


class FaultsError(ValueError):
    """A ``/_emulator/faults`` payload that cannot be applied."""


def coerce_fault_updates(data: Any) -> dict[str, Any]:
    """Validate a JSON object of fault fields and convert values to the dataclass's types.

    Validation happens before anything is applied so a bad payload changes nothing.
    """
    if not isinstance(data, dict):
        raise FaultsError("expected a JSON object of fault fields")
    known = {f.name for f in fields(Faults)}
    updates: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            raise FaultsError(f"unknown fault field {name!r}; known fields: {', '.join(sorted(known))}")
        updates[name] = _coerce(name, value)
    return updates


def _coerce(name: str, value: Any) -> Any:
    if name in _COUNTERS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise FaultsError(f"{name} must be a non-negative integer")
        return value
    if name in _MODEL_SETS:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FaultsError(f"{name} must be a list of model names")
        return set(value)
    if name in _EVENT_SETS:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(v in _WEBHOOK_EVENTS for v in value):
            raise FaultsError(f"{name} must be a list of webhook events: {', '.join(_WEBHOOK_EVENTS)}")
        return set(value)
    if name == "reorder_webhooks":
        if not isinstance(value, bool):
            raise FaultsError(f"{name} must be true or false")
        return value
    if name in ("fail", "reject_input"):
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            what = "error texts" if name == "fail" else "input field names"
            raise FaultsError(f"{name} must be an object mapping model names to {what}")
        return dict(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FaultsError(f"{name} must be a non-negative number")
    return float(value)


class FaultState:
    """Owns the live ``Faults`` instance and decrements its counters atomically."""

    def __init__(self) -> None:
        self.faults = Faults()
        self._lock = threading.Lock()

    def take(self, counter: str) -> bool:
        """Consume one unit of ``counter`` if any is left; True means "inject the fault now"."""
        if counter not in _COUNTERS:
            raise ValueError(f"not a fault counter: {counter}")
        with self._lock:
            left = getattr(self.faults, counter)
            if left <= 0:
                return False
            setattr(self.faults, counter, left - 1)
            return True

    def update(self, updates: dict[str, Any]) -> None:
        with self._lock:
            for name, value in updates.items():
                setattr(self.faults, name, value)

    def reset(self) -> None:
        """Restore defaults in place, so references to ``emu.faults`` held by tests stay live."""
        defaults = Faults()
        with self._lock:
            for f in fields(Faults):
                setattr(self.faults, f.name, getattr(defaults, f.name))
