"""Builds the workflow functions' domain object from their settings, once per cold start, and
keeps error texts out of the execution history.

The steps that call Replicate (StartPredictions, PollPredictions, MarkFailed, the clean-up) get
the Replicate token from Secrets Manager (cached); Finalize never reads it: it only downloads
outputs. Only the functions that end tasks (Finalize, MarkFailed, the clean-up) know the owners
table: ending a task frees the owner's slot.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from aws_lambda_powertools.utilities import parameters

from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.replicate_gateway import ReplicateGateway
from service.adapters.tasks_table import TasksTable
from service.domain.errors import GenerationError, PollNow, StepFailed, TaskAlreadyEnded
from service.domain.origins import AllowedOrigins, parse_origins
from service.domain.workflow import Workflow
from service.models.domain import StepError
from service.observability import logger
from service.settings import (
    FailTaskSettings,
    FinalizeSettings,
    PredictionSettings,
    ReplicateSettings,
    WakeSettings,
    load,
)


def _gateway(settings: ReplicateSettings) -> ReplicateGateway:
    """A gateway with the current token: powertools caches the secret for ``secret_max_age_seconds``,
    so a rotated token is picked up without a redeploy."""
    token = parameters.get_secret(settings.replicate_secret_name, max_age=settings.secret_max_age_seconds)
    return _gateway_for(str(token), settings.replicate_base_url)


@cache
def _gateway_for(token: str, base_url: str | None) -> ReplicateGateway:
    return ReplicateGateway(token, base_url)


@cache
def workflow() -> Workflow:
    """StartPredictions and PollPredictions."""
    settings = load(PredictionSettings)
    return Workflow(
        TasksTable(settings.tasks_table),
        gateway=lambda: _gateway(settings),
        model_time_scale=settings.model_time_scale,
        webhook_url=settings.replicate_webhook_url,
        reconcile_after_s=settings.webhook_reconcile_seconds,
    )


@cache
def waiter() -> Workflow:
    """WaitBeforePoll: the record only (no Replicate token)."""
    settings = load(WakeSettings)
    return Workflow(TasksTable(settings.tasks_table), webhook_url=settings.replicate_webhook_url)


@cache
def ender() -> Workflow:
    """MarkFailed/MarkTimedOut and the clean-up: cancel predictions, end tasks, free slots."""
    settings = load(FailTaskSettings)
    tasks = TasksTable(settings.tasks_table, owners=OwnersTable(settings.owners_table))
    return Workflow(tasks, gateway=lambda: _gateway(settings))


@cache
def finalizer() -> Workflow:
    """Finalize: S3 and ffmpeg, no Replicate token."""
    settings = load(FinalizeSettings)
    return Workflow(
        TasksTable(settings.tasks_table, owners=OwnersTable(settings.owners_table)),
        media=MediaStore(settings.media_bucket),
        download_timeout=settings.download_timeout_seconds,
        max_video_bytes=settings.max_video_bytes,
        output_origins=AllowedOrigins(parse_origins(settings.output_origins)),
    )


@contextmanager
def errors_recorded(steps: Workflow, task_id: str) -> Iterator[None]:
    """Run a step so that no error text reaches the execution history (and the state machine's log).

    A failure the owner may read (a ``GenerationError``) is recorded in the task record, for
    MarkFailed, and raised again under the same name (which the ASL's Retry/Catch match) with a
    message that says where the text is. Any other failure is logged here, with the task id, and
    raised as ``StepFailed``: its text could hold anything (a URL, a prompt)."""
    try:
        yield
    except (TaskAlreadyEnded, PollNow):
        raise
    except GenerationError as error:
        logger.warning("Workflow step failed", extra={"task_id": task_id, "error": str(error)})
        name = type(error).__name__
        try:
            steps.tasks.record_step_error(task_id, StepError(type=name, message=str(error)))
        except Exception:  # the failure itself matters more; MarkFailed falls back to a generic text
            logger.exception("Could not record the step's error", extra={"task_id": task_id})
        raise _named(name)(f"{name}: the task record holds the message") from None
    except Exception as error:
        logger.exception("Workflow step failed", extra={"task_id": task_id})
        raise StepFailed(f"{type(error).__name__}: see the function's log for this task") from None


@cache
def _named(name: str) -> type[GenerationError]:
    """An exception class called ``name``: Lambda reports the class name as the ``errorType`` the
    ASL matches, and this one carries no attributes of the original (nor its text)."""
    return type(name, (GenerationError,), {})


def reset() -> None:
    workflow.cache_clear()
    waiter.cache_clear()
    ender.cache_clear()
    finalizer.cache_clear()
    _gateway_for.cache_clear()
    parameters.clear_caches()
