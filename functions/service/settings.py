"""Each function's configuration: one typed settings object per function, validated at cold start.

A function's settings class declares every variable it reads (``VIDEOGEN_<FIELD>``). The
function catalog (``service.catalog``) names each function's class, and CDK and the local twin
both derive the function's environment from it (``service.catalog.function_environment``), so a
variable is declared once. Resources (tables, bucket, state machine, secret) have no defaults: a
function deployed without one fails at its first invocation, naming the missing variable,
instead of silently talking to a default table.

The domain receives plain values from these objects and never reads ``os.environ`` itself.

Why not pydantic-settings: importing it costs ~100 ms on every cold start (measured after
pydantic itself) for what :meth:`FunctionSettings.load` does in a few lines: pick the prefixed
variables and let pydantic validate them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Annotated, Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from service.model_catalog import CatalogError, Role, catalog

PREFIX = "VIDEOGEN_"

#: The environment a function sees. Lambda gives each function a process (and an environment) of
#: its own; the twin's in-process Lambda runner runs several functions in one process and hands
#: each its own environment through here instead of rewriting ``os.environ``.
_environment: ContextVar[Mapping[str, str] | None] = ContextVar("videogen_environment", default=None)


@contextmanager
def function_environment(environ: Mapping[str, str]) -> Iterator[None]:
    """Run the block as a function whose environment is ``environ`` (the in-process runner)."""
    token = _environment.set(environ)
    try:
        yield
    finally:
        _environment.reset(token)


def current_environment() -> Mapping[str, str]:
    override = _environment.get()
    return override if override is not None else os.environ


class ConfigurationError(RuntimeError):
    """A function's environment is missing a variable or holds an invalid value (a deploy defect)."""


def variable(field: str) -> str:
    """The environment variable of a settings field: ``tasks_table`` → ``VIDEOGEN_TASKS_TABLE``."""
    return PREFIX + field.upper()


#: A resource name or ARN: required, never defaulted.
Resource = Annotated[str, Field(min_length=1)]


class FunctionSettings(BaseModel):
    """Base of every function's settings: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Validate this class's variables from ``environ`` (default: the function's environment)."""
        environ = current_environment() if environ is None else environ
        values: dict[str, Any] = {
            name: environ[variable(name)] for name in cls.model_fields if variable(name) in environ
        }
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{variable(str(e['loc'][0])) if e['loc'] else cls.__name__}: "
                + ("is not set" if e["type"] == "missing" else e["msg"])
                for e in error.errors()
            )
            raise ConfigurationError(f"Invalid configuration ({cls.__name__}): {problems}") from None

    @classmethod
    def required(cls) -> frozenset[str]:
        return frozenset(name for name, field in cls.model_fields.items() if field.is_required())


S = TypeVar("S", bound=FunctionSettings)


@cache
def load(cls: type[S]) -> S:
    """The function's settings, validated once per process (cold start)."""
    return cls.from_environment()


def reset() -> None:
    """Forget loaded settings (tests and the in-process runner change environments)."""
    load.cache_clear()


# -- the functions' settings ---------------------------------------------------------------------------


class TokensSettings(FunctionSettings):
    """The authorizer (and ``videogen tokens``): the token hashes."""

    tokens_table: Resource


class SubmitSettings(FunctionSettings):
    """Submit: records the task and starts the workflow with the job, models fixed in it."""

    tasks_table: Resource
    state_machine_arn: Resource
    task_ttl_days: int = Field(default=30, ge=1)
    # The models come from the model catalog (service/model_catalog.json); community models are
    # pinned to a version there: Replicate runs them only as "owner/name:version".
    transition_model: str = catalog().default("transition")
    dream_model: str = catalog().default("dream")
    music_model: str = catalog().default("music")
    tts_model: str = catalog().default("speech")

    @field_validator("transition_model", "dream_model", "music_model", "tts_model")
    @classmethod
    def _model_in_catalog(cls, value: str, info: ValidationInfo) -> str:
        """Refuse at cold start what Replicate would refuse on the first task (a community model
        without its version) or what the recipes cannot feed (a model the catalog does not describe
        for this role). The error names the variable (``from_environment``)."""
        try:
            return catalog().check(value, MODEL_ROLES[str(info.field_name)])
        except CatalogError as error:
            raise ValueError(str(error)) from error


#: Which catalog role each model setting fills.
MODEL_ROLES: dict[str, Role] = {
    "transition_model": "transition",
    "dream_model": "dream",
    "music_model": "music",
    "tts_model": "speech",
}


class StatusSettings(FunctionSettings):
    """Status: reads records, asks Step Functions about stale ones, presigns the results."""

    tasks_table: Resource
    state_machine_arn: Resource
    media_bucket: Resource
    presign_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    stale_after_seconds: float = Field(
        default=60.0,
        ge=0,
        description="A non-terminal record older than this is checked with DescribeExecution",
    )
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After hint on non-terminal status")


class UploadsSettings(FunctionSettings):
    """Uploads: presigns a PUT and a GET under uploads/."""

    media_bucket: Resource


class ReplicateSettings(FunctionSettings):
    """The workflow steps that call Replicate: StartPredictions, PollPredictions, MarkFailed."""

    tasks_table: Resource
    replicate_secret_name: Resource
    replicate_base_url: str | None = Field(
        default=None, description="Overrides api.replicate.com (twin, tests)"
    )
    secret_max_age_seconds: int = Field(default=300, ge=0)
    model_time_scale: float = Field(
        default=1.0,
        gt=0,
        description="Progress estimates expect a model to run its catalog typical time times this "
        "(the twin's emulator runs models at a fraction of their real time and says so here)",
    )


class FinalizeSettings(FunctionSettings):
    """Finalize: downloads the outputs, composes, stores the media, records SUCCESS."""

    tasks_table: Resource
    media_bucket: Resource
    download_timeout_seconds: float = Field(default=120.0, gt=0)
    max_video_bytes: int = Field(default=500 * 1024 * 1024, gt=0)
