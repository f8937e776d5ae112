"""Exceptions shared by the emulator's registry, renderers and prediction engine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InvalidField:
    """One rejected input field, shaped like an entry of Replicate's ``invalid_fields``."""

    field: str
    type: str
    description: str


class InputValidationError(Exception):
    """The prediction input does not match the model's schema (HTTP 422 at create time)."""

    def __init__(self, invalid_fields: list[InvalidField]) -> None:
        self.invalid_fields = invalid_fields
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        return "".join(f"- {f.field}: {f.description}\n" for f in self.invalid_fields)


class PredictionError(Exception):
    """The model ran but could not produce an output: the prediction ends ``failed`` with this text."""


class PredictionCanceled(Exception):
    """Raised inside a render when its prediction was canceled (or the emulator is stopping)."""
