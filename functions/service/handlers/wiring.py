"""Builds the API functions' domain objects from their settings, once per cold start.

Each function has its own settings class (``service.settings``), so each gets its own builders:
in Lambda every function is a process of its own, and in the twin's in-process runner the
caches keep the functions apart the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from service.adapters.executions import Executions
from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.domain.errors import IdempotencyInProgress, IdempotencyKeyReused
from service.domain.limits import Limits
from service.domain.tasks import TaskService
from service.settings import (
    ControlsSettings,
    ReplicateWebhookSettings,
    StatusSettings,
    SubmitSettings,
    UploadsSettings,
    load,
)

if TYPE_CHECKING:  # each route's objects are imported by it alone: submit's and status' cold starts
    from service.domain.controls import TaskControls  # stay as they were
    from service.domain.replicate_webhooks import ReplicateWebhooks


@cache
def submit_service() -> TaskService:
    settings = load(SubmitSettings)
    owners = OwnersTable(settings.owners_table)
    return TaskService(
        TasksTable(settings.tasks_table, owners=owners),
        Executions(settings.state_machine_arn),
        owners=owners,
        limits=Limits(settings.max_in_flight, settings.submits_per_minute, settings.submits_per_day),
        ttl=timedelta(days=settings.task_ttl_days),
    )


@cache
def status_service() -> TaskService:
    settings = load(StatusSettings)
    return TaskService(
        TasksTable(settings.tasks_table, owners=OwnersTable(settings.owners_table)),
        Executions(settings.state_machine_arn),
        stale_after=timedelta(seconds=settings.stale_after_seconds),
    )


@cache
def result_media() -> MediaStore:
    """The status function's view of the bucket: presigned GETs of results."""
    return MediaStore(load(StatusSettings).media_bucket)


@cache
def upload_media() -> MediaStore:
    return MediaStore(load(UploadsSettings).media_bucket)


@cache
def replicate_webhooks() -> ReplicateWebhooks:
    """The webhook route: the signing secret from Secrets Manager, cached by powertools for
    ``secret_max_age_seconds`` (a secret set or rotated after the deploy is picked up by itself)."""
    from aws_lambda_powertools.utilities import parameters

    from service.adapters.executions import WorkflowWake
    from service.domain.replicate_webhooks import ReplicateWebhooks

    settings = load(ReplicateWebhookSettings)

    def secret() -> str:
        return str(
            parameters.get_secret(
                settings.replicate_webhook_secret_name, max_age=settings.secret_max_age_seconds
            )
        )

    return ReplicateWebhooks(
        TasksTable(settings.tasks_table), WorkflowWake(), secret, model_time_scale=settings.model_time_scale
    )


# -- idempotent submits (powertools' Idempotency utility, DynamoDB persistence) ------------------------
@dataclass(frozen=True)
class Submission:
    """What a submit asks for, as the idempotency record sees it."""

    owner: str
    kind: str
    request: dict[str, Any]
    webhook_url: str | None

    def keyed(self, key: str) -> dict[str, Any]:
        """The data powertools hashes: the key is scoped to the owner (``[owner, key]``), and the
        request (route, body, webhook) is what a repeated key must match."""
        return {
            "owner": self.owner,
            "key": key,
            "request": {"kind": self.kind, "body": self.request, "webhook_url": self.webhook_url},
        }

    @classmethod
    def of(cls, keyed: dict[str, Any]) -> Submission:
        request = keyed["request"]
        return cls(keyed["owner"], request["kind"], request["body"], request["webhook_url"])


#: Set by the response hook when powertools answers from a stored record (a replay).
_replayed: ContextVar[bool] = ContextVar("videogen_replayed", default=False)


@cache
def _idempotency() -> tuple[Any, Any]:
    """powertools' persistence layer and config, built at first use (the import costs: only submits
    that carry an Idempotency-Key pay it)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

    from service.adapters import aws

    settings = load(SubmitSettings)
    store = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=aws.client("dynamodb")
    )

    def replayed(response: Any, record: Any) -> Any:
        _replayed.set(True)
        return response

    config = IdempotencyConfig(
        event_key_jmespath="[owner, key]",
        payload_validation_jmespath="request",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_seconds,
        response_hook=replayed,  # type: ignore[arg-type]
    )
    return store, config


_context: ContextVar[Any] = ContextVar("videogen_lambda_context", default=None)


def register_context(context: Any) -> None:
    """The invocation's context: powertools ends a record left in progress by an invocation that
    died once that invocation's time is up (``register_lambda_context``)."""
    _context.set(context)


_wrapped: dict[Callable[..., Any], Callable[..., Any]] = {}


def idempotent(
    function: Callable[..., dict[str, Any]], submission: dict[str, Any], **kwargs: Any
) -> tuple[dict[str, Any], bool]:
    """``function(submission=submission, **kwargs)`` at most once per (owner, key) within the window:
    (the answer, whether it was a replay of an earlier one). Raises powertools'
    ``IdempotencyValidationError`` (another request under this key) and
    ``IdempotencyAlreadyInProgressError`` (the first is still running), mapped to 422 and 409."""
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    store, config = _idempotency()
    context = _context.get()
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        config.register_lambda_context(context)
    wrapped = _wrapped.get(function)
    if wrapped is None:
        wrapped = idempotent_function(
            function,
            data_keyword_argument="submission",
            persistence_store=store,
            config=config,
            key_prefix="submit",
        )
        _wrapped[function] = wrapped
    token = _replayed.set(False)
    try:
        answer = wrapped(submission=submission, **kwargs)
        return answer, _replayed.get()
    except IdempotencyValidationError:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with a different request: send a new key for a new request"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being accepted: retry in a moment"
        ) from None
    finally:
        _replayed.reset(token)


# -- the task controls -------------------------------------------------------------------------------
@cache
def controls() -> TaskControls:
    from aws_lambda_powertools.utilities import parameters

    from service.domain.controls import CursorSigner, TaskControls

    settings = load(ControlsSettings)
    owners = OwnersTable(settings.owners_table)
    media = MediaStore(settings.media_bucket)

    def cursor_key() -> bytes:
        secret = parameters.get_secret(settings.cursor_secret_name, max_age=settings.secret_max_age_seconds)
        return str(secret).encode()

    return TaskControls(
        TasksTable(settings.tasks_table, owners=owners),
        Executions(settings.state_machine_arn),
        media,
        owners,
        CursorSigner(cursor_key),
        presign=lambda key: media.presigned_get(key, settings.presign_seconds),
    )


def reset() -> None:
    """Forget cached objects (tests change settings between cases)."""
    for builder in (
        submit_service,
        status_service,
        result_media,
        upload_media,
        replicate_webhooks,
        controls,
        _idempotency,
    ):
        builder.cache_clear()
    _wrapped.clear()
    import sys

    if "aws_lambda_powertools.utilities.parameters" in sys.modules:  # the routes' cached secrets
        sys.modules["aws_lambda_powertools.utilities.parameters"].clear_caches()
