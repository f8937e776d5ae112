"""The ML models the emulator serves: each entry of the service's model catalog, plus a renderer.

The schemas, versions and addressing (official or community) come from the catalog
(``functions/service/model_catalog.json``, read through ``service.model_catalog``): the emulator
holds no copy of them. A renderer is ``(ctx, input) -> output``; outputs that are ``Path`` objects
inside ``ctx.workdir`` are turned into download URLs by the server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from service.model_catalog import ModelEntry, ModelRef, catalog

from .render import FfmpegJob
from .validation import CheckedInput, check_input

# --------------------------------------------------------------------------------------------- contract


class RenderContext(Protocol):
    """What a renderer may use; implemented by the prediction engine."""

    prediction_id: str
    model_id: str
    workdir: Path

    def log(self, message: str, end: str = "\n") -> None:
        """Print to the prediction's logs, as the real model prints to stdout."""

    def note(self, key: str, value: Any) -> None:
        """Record an emulator-only fact (shown under ``_emulator`` by the control API, never in logs)."""

    def fetch(self, field: str, url: str) -> Path:
        """Download an input URL/data URI into the workdir (PredictionError on failure)."""

    def run_ffmpeg(self, job: FfmpegJob, output: Path) -> Path:
        """Run an ffmpeg job with progress logging, pacing and cancellation; returns ``output``."""

    def check_canceled(self) -> None:
        """Raise PredictionCanceled if the prediction was canceled meanwhile."""


Renderer = Callable[[RenderContext, dict[str, Any]], Any]


@dataclass(frozen=True)
class ModelSpec:
    """One servable model: its catalog entry and how the emulator renders it."""

    entry: ModelEntry
    render: Renderer

    @property
    def full_name(self) -> str:
        return self.entry.id

    @property
    def owner(self) -> str:
        return self.entry.owner

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def version(self) -> str:
        return self.entry.version

    @property
    def official(self) -> bool:
        return self.entry.official

    @property
    def description(self) -> str:
        return self.entry.description

    def validate(self, raw: Any) -> CheckedInput:
        return check_input(self.entry, raw)

    def openapi_schema(self) -> dict[str, Any]:
        """The version's ``openapi_schema`` as Replicate returns it (Cog's shape, trimmed to what
        clients read: the Input/Output components, enums as separate schemas)."""
        return {
            "openapi": "3.0.2",
            "info": {"title": "Cog", "version": "0.1.0"},
            "paths": {
                "/predictions": {
                    "post": {
                        "summary": "Predict",
                        "operationId": "predict_predictions_post",
                        "requestBody": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/PredictionRequest"}
                                }
                            }
                        },
                    }
                }
            },
            "components": {
                "schemas": {
                    **self.entry.schemas,
                    "PredictionRequest": {
                        "type": "object",
                        "title": "PredictionRequest",
                        "properties": {"input": {"$ref": "#/components/schemas/Input"}},
                    },
                    "PredictionResponse": {
                        "type": "object",
                        "title": "PredictionResponse",
                        "properties": {
                            "input": {"$ref": "#/components/schemas/Input"},
                            "output": {"$ref": "#/components/schemas/Output"},
                        },
                    },
                }
            },
        }


# --------------------------------------------------------------------------------------------- registry

MODELS: dict[str, ModelSpec] = {}


def register_model(model_id: str, render: Renderer) -> ModelSpec:
    """Serve the catalog's ``model_id`` with ``render`` (KeyError if the catalog has no such model)."""
    entry = catalog().get(model_id)
    if entry is None:
        raise KeyError(f"{model_id} is not in the model catalog")
    spec = ModelSpec(entry, render)
    MODELS[model_id] = spec
    return spec


def unserved_models() -> list[str]:
    """Catalog models without a renderer (must be empty: the emulator serves the whole catalog)."""
    return sorted(set(catalog().models) - set(MODELS))


def find_model(owner: str, name: str) -> ModelSpec | None:
    return MODELS.get(f"{owner}/{name}")


def find_version(version: str) -> ModelSpec | None:
    return next((spec for spec in MODELS.values() if spec.version == version), None)


def resolve_version(ref: str) -> ModelSpec | None:
    """The ``version`` of ``POST /v1/predictions``: a version id, ``owner/name:version``, or (official
    models only, since 2025-08) ``owner/name``. None for anything Replicate would refuse."""
    if "/" not in ref:
        return find_version(ref)
    try:
        parsed = ModelRef.parse(ref)
    except ValueError:
        return None
    spec = MODELS.get(parsed.id)
    if spec is None:
        return None
    if parsed.version is None:
        return spec if spec.official else None
    return spec if parsed.version == spec.version else None
