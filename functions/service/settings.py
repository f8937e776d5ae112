"""Each function's configuration: one typed settings object per function, validated at cold start.

A function's settings class declares every variable it reads (``VIDEOGEN_<FIELD>``). The
function catalog (``service.catalog``) names each function's class, and CDK and the local twin
both derive the function's environment from it (``service.catalog.function_environment``), so a
variable is declared once. Resources (tables, bucket, state machine, secret) have no defaults: a
function deployed without one fails at its first invocation, naming the missing variable,
instead of silently talking to a default table.

The domain receives plain values from these objects and never reads ``os.environ`` itself.

Why frozen dataclasses and a few lines of checking, not pydantic (or pydantic-settings): the values
are strings, integers and floats with a bound or two, and the authorizer needs nothing else of
pydantic. Importing pydantic and building one model costs about 0.4x the whole cold-start floor
(boto3 + a powertools Logger, measured by ``make bench`` on the packaged bundle); pydantic-settings
another ~100 ms on top.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Self, TypeVar, get_type_hints

from service.model_catalog import Role, catalog

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


def setting(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    description: str = "",
) -> Any:
    """A settings field: its default (none: required) and bounds."""
    return dataclasses.field(
        default=default, metadata={"ge": ge, "le": le, "gt": gt, "description": description}
    )


def model_setting(role: Role) -> Any:
    """A Replicate model for ``role``: the model catalog's default, and only what the catalog
    describes for that role (community models with their version). The default is looked up when
    the settings are loaded, not at import: functions without a model never read the catalog."""
    return dataclasses.field(
        default_factory=lambda: catalog().default(role),
        metadata={"check": lambda value: catalog().check(value, role)},
    )


def _origins(value: str) -> str:
    """At least one origin, each ``scheme://host[:port]`` (``service.domain.origins``)."""
    from service.domain.origins import parse_origins

    if not parse_origins(value):
        raise ValueError("at least one origin")
    return value


def resource() -> Any:
    """A resource name or ARN: required, never defaulted, never empty."""
    return dataclasses.field(metadata={"resource": True})


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(raw: str, kind: Any) -> Any:
    if kind is bool:
        folded = raw.strip().lower()
        if folded not in _TRUE + _FALSE:
            raise ValueError(raw)
        return folded in _TRUE
    if kind is int:
        return int(raw.strip())
    if kind is float:
        return float(raw.strip())
    return raw  # str, str | None


def _check(field: dataclasses.Field[Any], value: Any) -> str | None:
    """pydantic's wording for what fails, or None."""
    if field.metadata.get("resource") and not value:
        return "String should have at least 1 character"

    for bound, word in (
        ("ge", "greater than or equal to"),
        ("gt", "greater than"),
        ("le", "less than or equal to"),
    ):
        limit = field.metadata.get(bound)
        ok = {"ge": lambda v, n: v >= n, "gt": lambda v, n: v > n, "le": lambda v, n: v <= n}[bound]
        if limit is not None and not ok(value, limit):
            return f"Input should be {word} {limit}"
    return None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """Base of every function's settings: immutable, no unknown fields."""

    @classmethod
    def fields(cls) -> dict[str, dataclasses.Field[Any]]:
        return {field.name: field for field in dataclasses.fields(cls)}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Validate this class's variables from ``environ`` (default: the function's environment)."""
        environ = current_environment() if environ is None else environ
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        problems = []
        for name, field in cls.fields().items():
            raw = environ.get(variable(name))
            if raw is None:
                if name in cls.required():
                    problems.append(f"{variable(name)}: is not set")
                continue
            try:
                value = _convert(raw, types[name])
            except ValueError:
                kind = {int: "an integer", bool: "a boolean (true or false)"}.get(types[name], "a number")
                problems.append(f"{variable(name)}: Input should be {kind}, got {raw!r}")
                continue
            problem = _check(field, value)
            if problem is None and "check" in field.metadata:
                try:
                    value = field.metadata["check"](value)  # the catalog's spelling of the model
                except ValueError as error:  # CatalogError, or a check of our own
                    problem = f"Value error, {error}"
            if problem:
                problems.append(f"{variable(name)}: {problem}")
            values[name] = value
        if problems:
            raise ConfigurationError(f"Invalid configuration ({cls.__name__}): {'; '.join(problems)}")
        return cls(**values)

    @classmethod
    def required(cls) -> frozenset[str]:
        return frozenset(
            name
            for name, field in cls.fields().items()
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )


S = TypeVar("S", bound=FunctionSettings)


@cache
def load(cls: type[S]) -> S:
    """The function's settings, validated once per process (cold start)."""
    return cls.from_environment()


def reset() -> None:
    """Forget loaded settings (tests and the in-process runner change environments)."""
    load.cache_clear()


# -- the functions' settings ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class TokensSettings(FunctionSettings):
    """The authorizer (and ``videogen tokens``): the token hashes."""

    tokens_table: str = resource()


@dataclasses.dataclass(frozen=True, kw_only=True)
class OperatorSettings(TokensSettings):
    """``videogen tokens`` (not a function): the tokens; the owners (limits, usage plan key); the
    stage's usage plan (the stack's ``UsagePlanId`` output), whose key each token carries."""

    owners_table: str | None = setting(None)
    usage_plan_id: str | None = setting(None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SubmitSettings(FunctionSettings):
    """Submit: checks the owner's limits, records the task with its job (models fixed in it) and
    starts the workflow. The limits are the deployment's defaults; an owner's item in the owners
    table may override each (``videogen tokens create|update``)."""

    tasks_table: str = resource()
    owners_table: str = resource()
    state_machine_arn: str = resource()
    task_ttl_days: int = setting(30, ge=1)
    max_in_flight: int = setting(20, ge=1, description="Tasks of one owner not yet finished")
    submits_per_minute: int = setting(60, ge=1, description="Submits of one owner per minute")
    submits_per_day: int = setting(500, ge=1, description="Submits of one owner per UTC day")
    # The models come from the model catalog (service/model_catalog.json); community models are
    # pinned to a version there: Replicate runs them only as "owner/name:version". A model the catalog
    # does not describe for the role, or a community model without its version, fails at cold start.
    transition_model: str = model_setting("transition")
    dream_model: str = model_setting("dream")
    music_model: str = model_setting("music")
    tts_model: str = model_setting("speech")
    #: Idempotency-Key records (powertools' DynamoDB persistence layer): a table of their own, TTL.
    idempotency_table: str = resource()
    idempotency_seconds: int = setting(
        24 * 3600, ge=60, description="How long a submit's Idempotency-Key is remembered"
    )
    webhook_allow_loopback: bool = setting(
        False,
        description="Accept http:// webhook URLs on loopback addresses (the twin); production: https to "
        "public addresses only",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class StatusSettings(FunctionSettings):
    """Status: reads records, asks Step Functions about stale ones (ending those whose execution
    ended, which frees the owner's slot), presigns the results."""

    tasks_table: str = resource()
    owners_table: str = resource()
    state_machine_arn: str = resource()
    media_bucket: str = resource()
    presign_seconds: int = setting(3600, ge=60, le=7 * 24 * 3600)
    stale_after_seconds: float = setting(
        60.0, ge=0, description="A non-terminal record older than this is checked with DescribeExecution"
    )
    retry_after_seconds: int = setting(5, ge=1, description="Retry-After hint on non-terminal status")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ControlsSettings(FunctionSettings):
    """The task controls: cancel (the terminal write that frees the slot, then StopExecution), delete
    (records and media), the owner's task list (an index query, signed cursors, presigned results)
    and the owner's webhook signing secret."""

    tasks_table: str = resource()
    owners_table: str = resource()
    state_machine_arn: str = resource()
    media_bucket: str = resource()
    #: The key that signs list cursors (Secrets Manager, generated at deploy).
    cursor_secret_name: str = resource()
    presign_seconds: int = setting(3600, ge=60, le=7 * 24 * 3600)
    secret_max_age_seconds: int = setting(300, ge=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DocsSettings(FunctionSettings):
    """The public OpenAPI document and its page: nothing to configure."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class DeliverySettings(FunctionSettings):
    """Caller webhooks: consumes the deliveries queue, POSTs each ended task's event, signed with the
    owner's secret (Standard Webhooks), retried with exponential backoff and full jitter through the
    queue's visibility timeout for ``retry_window_seconds``; then the dead-letter queue."""

    tasks_table: str = resource()
    owners_table: str = resource()
    media_bucket: str = resource()
    deliveries_queue_url: str = resource()
    deliveries_dead_letter_queue_url: str = resource()
    presign_seconds: int = setting(3600, ge=60, le=7 * 24 * 3600)
    webhook_allow_loopback: bool = setting(False, description="As SubmitSettings' (the twin: true)")
    retry_base_seconds: float = setting(30.0, gt=0, description="The first retry waits up to this long")
    retry_cap_seconds: float = setting(
        6 * 3600.0, gt=0, le=12 * 3600, description="No retry waits longer (SQS: 12 h at most)"
    )
    retry_window_seconds: float = setting(
        24 * 3600.0, gt=0, description="Attempts go on at least this long after the first"
    )
    timeout_seconds: float = setting(10.0, gt=0, le=30, description="One attempt's HTTP timeout")


@dataclasses.dataclass(frozen=True, kw_only=True)
class UploadsSettings(FunctionSettings):
    """Uploads: presigns a PUT and a GET under uploads/."""

    media_bucket: str = resource()


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplicateSettings(FunctionSettings):
    """The workflow steps that call Replicate and never end a task: StartPredictions, PollPredictions."""

    tasks_table: str = resource()
    replicate_secret_name: str = resource()
    replicate_base_url: str | None = setting(None, description="Overrides api.replicate.com (twin, tests)")
    secret_max_age_seconds: int = setting(300, ge=0)
    model_time_scale: float = setting(
        1.0,
        gt=0,
        description="Progress estimates expect a model to run its catalog typical time times this "
        "(the twin's emulator runs models at a fraction of their real time and says so here)",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class PredictionSettings(ReplicateSettings):
    """StartPredictions and PollPredictions: the predictions' webhooks, when the deployment has them."""

    replicate_webhook_url: str | None = setting(
        None,
        description="Where Replicate sends a task's webhooks (the API's /api/replicate-webhooks/; the "
        "task id is appended). Unset: no webhooks, the workflow polls Replicate every poll interval",
    )
    webhook_reconcile_seconds: float = setting(
        60.0,
        ge=1,
        description="With webhooks: a prediction they have been silent about this long is read from "
        "Replicate (the safety net for a lost webhook; the most latency a lost completed costs)",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class WakeSettings(FunctionSettings):
    """WaitBeforePoll's function: keeps the wait's task token in the record when there are webhooks."""

    tasks_table: str = resource()
    replicate_webhook_url: str | None = setting(None, description="Set when Replicate sends webhooks")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplicateWebhookSettings(FunctionSettings):
    """The Replicate webhook route: verifies Replicate's signature with the account's signing secret,
    records what the webhook says, wakes the workflow (SendTaskSuccess) on a prediction's end."""

    tasks_table: str = resource()
    replicate_webhook_secret_name: str = resource()
    secret_max_age_seconds: int = setting(300, ge=0)
    model_time_scale: float = setting(
        1.0, gt=0, description="As ReplicateSettings': the progress estimate of models that print none"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class FailTaskSettings(ReplicateSettings):
    """The functions that cancel predictions and end tasks: MarkFailed/MarkTimedOut (fail_task) and
    the clean-up of executions that ended without the workflow's help (cleanup)."""

    owners_table: str = resource()


@dataclasses.dataclass(frozen=True, kw_only=True)
class FinalizeSettings(FunctionSettings):
    """Finalize: downloads the outputs (from the allowed origins only), composes, stores the
    media, records SUCCESS (or removes what it stored when the task ended meanwhile: cancelled)."""

    tasks_table: str = resource()
    owners_table: str = resource()
    media_bucket: str = resource()
    download_timeout_seconds: float = setting(120.0, gt=0)
    max_video_bytes: int = setting(500 * 1024 * 1024, gt=0)
    output_origins: str = dataclasses.field(
        default="https://replicate.delivery,https://*.replicate.delivery",
        metadata={
            "check": _origins,
            "description": "Comma-separated scheme://host[:port] (a host may be *.domain) Finalize "
            "downloads model outputs from, redirects included",
        },
    )
