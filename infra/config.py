"""The stack's configuration: CDK context (``cdk.json``, overridable with ``-c key=value``), validated.

Synthesis reads nothing else: no AWS calls, no git, no environment lookups. Values given with
``-c`` arrive as strings, so every number is coerced here, once.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

from service.catalog import (
    AUTHORIZER_CACHE_S,
    EVENTS_PER_POLL_CYCLE,
    HISTORY_EVENTS_LIMIT,
    MAX_POLLS_LIMIT,
    OWNER_THROTTLE,
    ResourceNames,
)
from service.model_catalog import CatalogError, catalog
from service.settings import SubmitSettings


def _submit_default(name: str) -> int:
    """A per-owner limit's default: ``SubmitSettings``' (the functions' own default, stated once)."""
    value = SubmitSettings.fields()[name].default
    assert isinstance(value, int)
    return value


#: The repository root: the code asset (``functions/``), the ASL file and ``cdk.json`` live here.
REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"


#: CloudWatch Logs accepts only these retention periods (days).
_RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}

_STAGE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


#: Keys the CDK CLI itself writes into the context (``cdk.context.json``) that carry no ':' or '/'.
CDK_CLI_KEYS = frozenset({"acknowledged-issue-numbers"})
#: Our keys are snake_case; the CDK's own are kebab-case, or carry ':' / '/' / a leading '@'.
_OURS_STYLE = re.compile(r"^[a-z][a-z0-9_]*$")


def unknown_context_keys(keys: list[str], ours: set[str]) -> list[str]:
    """Context keys that look like a misspelt setting of ours: snake_case keys we do not know, and
    any key (kebab-case included) close to one of ours. What the CDK and its CLI write (feature flags
    ``@aws-cdk/...``, ``aws:cdk:...``, lookups ``...:account=...``, ``acknowledged-issue-numbers``
    after ``cdk acknowledge``, and kebab-case keys a newer CLI may add) passes."""
    problems = []
    for key in keys:
        if key in ours or key in CDK_CLI_KEYS or ":" in key or "/" in key or key.startswith("@"):
            continue
        close = difflib.get_close_matches(key.replace("-", "_").lower(), ours, n=1, cutoff=0.8)
        if _OURS_STYLE.match(key) or close:
            problems.append(f"{key} (did you mean {close[0]}?)" if close else key)
    return sorted(problems)


class ConfigError(ValueError):
    """A context value that would synthesize a broken or surprising stack."""


@dataclass(frozen=True)
class StackConfig:
    """Every knob of the deployment; ``docs/operations.md`` lists them with their meaning."""

    stage: str = "prod"
    #: Checked against the model catalog exactly as the functions' settings check them at cold start.
    transition_model: str = catalog().default("transition")
    dream_model: str = catalog().default("dream")
    poll_interval_seconds: int = 5
    max_polls: int = 120
    #: Task records (DynamoDB TTL) and their media (S3 lifecycle) expire together.
    retention_days: int = 30
    log_retention_days: int = 30
    log_level: str = "INFO"
    alarm_email: str | None = None
    api_throttle_rate_limit: int = 50
    api_throttle_burst_limit: int = 100
    #: Each owner's requests per second and burst at the edge (the stage's usage plan).
    owner_rate_limit: int = int(OWNER_THROTTLE.rate_per_s)
    owner_burst_limit: int = OWNER_THROTTLE.burst
    #: Each owner's limits (defaults; ``videogen tokens`` overrides them per owner).
    owner_max_in_flight: int = _submit_default("max_in_flight")
    owner_submits_per_minute: int = _submit_default("submits_per_minute")
    owner_submits_per_day: int = _submit_default("submits_per_day")
    authorizer_cache_seconds: int = AUTHORIZER_CACHE_S
    cors_allow_origins: tuple[str, ...] = ("*",)
    #: API Gateway execution logging: ERROR (failures only) or INFO (every request, costs more).
    api_execution_log_level: str = "ERROR"
    #: Replicate's webhooks: "on" (StartPredictions gives Replicate the API's webhook URL) or "off"
    #: (no webhooks: the workflow polls every poll interval, as before).
    replicate_webhooks: str = "on"
    #: The API's public address for Replicate, when not the stage's execute-api URL (a custom
    #: domain); the webhook route's path is appended.
    replicate_webhook_base_url: str = ""
    #: With webhooks: a prediction they have been silent about this long is read from Replicate.
    replicate_webhook_reconcile_seconds: int = 60
    #: The webhook route's own throttle (logs webhooks can be 2/s per running prediction); it does not
    #: count against the stage's throttle the clients share.
    replicate_webhook_rate_limit: int = 100
    replicate_webhook_burst_limit: int = 200
    #: Webhooks refused for their signature (or a secret not set) in 5 minutes before the alarm.
    alarm_webhook_signature_failures: int = 5
    alarm_api_5xx_percent: int = 5
    alarm_failed_executions: int = 3
    alarm_workflow_function_errors: int = 5

    def __post_init__(self) -> None:
        problems = []
        if not _STAGE.match(self.stage):
            problems.append(f"stage {self.stage!r}: lower-case letters, digits and '-', at most 16")
        for key, role in (("transition_model", "transition"), ("dream_model", "dream")):
            try:
                catalog().check(getattr(self, key), role)  # type: ignore[arg-type]
            except CatalogError as error:
                problems.append(f"{key}: {error}")
        if not 1 <= self.poll_interval_seconds <= 300:
            problems.append("poll_interval_seconds: between 1 and 300")
        if not 1 <= self.max_polls <= MAX_POLLS_LIMIT:
            problems.append(
                f"max_polls: between 1 and {MAX_POLLS_LIMIT} (each poll cycle adds up to "
                f"{EVENTS_PER_POLL_CYCLE} events to the execution's history, which holds {HISTORY_EVENTS_LIMIT:,})"
            )
        if self.retention_days < 1:
            problems.append("retention_days: at least 1")
        if self.log_retention_days not in _RETENTION_DAYS:
            problems.append(f"log_retention_days: one of {sorted(_RETENTION_DAYS)}")
        if self.log_level not in _LOG_LEVELS:
            problems.append(f"log_level: one of {_LOG_LEVELS}")
        if self.alarm_email is not None and not _EMAIL.match(self.alarm_email):
            problems.append("alarm_email: an e-mail address, or empty for no subscription")
        if self.api_throttle_rate_limit < 1 or self.api_throttle_burst_limit < 1:
            problems.append("api_throttle_rate_limit / api_throttle_burst_limit: at least 1")
        if self.owner_rate_limit < 1 or self.owner_burst_limit < 1:
            problems.append("owner_rate_limit / owner_burst_limit: at least 1")
        elif (
            self.owner_rate_limit >= self.api_throttle_rate_limit
            or self.owner_burst_limit > self.api_throttle_burst_limit
        ):
            problems.append(
                "owner_rate_limit / owner_burst_limit: below the stage's api_throttle_rate_limit / "
                "api_throttle_burst_limit, or one owner could use up the stage's throttle for all"
            )
        for key in ("owner_max_in_flight", "owner_submits_per_minute", "owner_submits_per_day"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: at least 1")
        if not 0 <= self.authorizer_cache_seconds <= 3600:
            problems.append("authorizer_cache_seconds: between 0 and 3600")
        if not self.cors_allow_origins:
            problems.append("cors_allow_origins: at least one origin (or '*')")
        elif "*" in self.cors_allow_origins and len(self.cors_allow_origins) > 1:
            problems.append(
                "cors_allow_origins: '*' alone, or a list of origins (the page's is always added)"
            )
        elif any(not _ORIGIN.match(origin) for origin in self.cors_allow_origins if origin != "*"):
            problems.append(
                "cors_allow_origins: origins like 'https://app.example.com' (scheme and host, no path)"
            )
        if self.replicate_webhooks not in ("on", "off"):
            problems.append("replicate_webhooks: on or off")
        if self.replicate_webhook_base_url and not re.match(
            r"^https://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s]*)?$", self.replicate_webhook_base_url
        ):
            problems.append("replicate_webhook_base_url: an https:// address (the API's public base URL)")
        if self.replicate_webhook_reconcile_seconds < 5:
            problems.append("replicate_webhook_reconcile_seconds: at least 5")
        if self.replicate_webhook_rate_limit < 1 or self.replicate_webhook_burst_limit < 1:
            problems.append("replicate_webhook_rate_limit / replicate_webhook_burst_limit: at least 1")
        if self.alarm_webhook_signature_failures < 1:
            problems.append("alarm_webhook_signature_failures: at least 1")
        if self.api_execution_log_level not in ("ERROR", "INFO"):
            problems.append("api_execution_log_level: ERROR or INFO")
        if problems:
            raise ConfigError("Invalid CDK context: " + "; ".join(problems))

    @property
    def names(self) -> ResourceNames:
        """The names we set (``service.catalog.ResourceNames``, the twin's too)."""
        return ResourceNames(self.stage)

    @property
    def prefix(self) -> str:
        """``videogen-<stage>``: the names we set (API, alarms, dashboard, state machine log group)."""
        return self.names.prefix

    @property
    def stack_name(self) -> str:
        return f"VideoGen-{self.stage}"

    @property
    def replicate_secret_name(self) -> str:
        return self.names.replicate_secret

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_DAYS[self.log_retention_days]

    @classmethod
    def from_node(cls, node: Node) -> StackConfig:
        """Read every field from context; a missing key keeps its default, one that looks like a
        misspelt setting (a typo in ``cdk.json`` or ``-c``) is an error, the CDK's own pass
        (:func:`unknown_context_keys`)."""
        unknown = unknown_context_keys(list(node.get_all_context()), set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"Invalid CDK context: unknown key(s) {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name, field in cls.__dataclass_fields__.items():
            raw = node.try_get_context(name)
            if raw is None:
                continue
            values[name] = _coerce(name, raw, field.default)
        return cls(**values)


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """Context from ``cdk.json`` keeps its JSON type; from ``-c key=value`` it is a string."""
    if name == "alarm_email":
        return str(raw).strip() or None
    if isinstance(default, int):
        try:
            return int(raw)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"Invalid CDK context: {name} must be an integer, got {raw!r}") from error
    if isinstance(default, tuple):
        if isinstance(raw, str):
            raw = json.loads(raw) if raw.startswith("[") else [part.strip() for part in raw.split(",")]
        return tuple(str(item) for item in raw)
    return str(raw)


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """``cdk.json``'s context, for runs without the CDK CLI (``make synth``, the tests)."""
    return dict(json.loads(path.read_text()).get("context", {}))
