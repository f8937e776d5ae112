"""Builds the API functions' domain objects from their settings, once per cold start.

Each function has its own settings class (``service.settings``), so each gets its own builders:
in Lambda every function is a process of its own, and in the twin's in-process runner the
caches keep the functions apart the same way.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING

from service.adapters.executions import Executions
from service.adapters.media import MediaStore
from service.adapters.owners_table import OwnersTable
from service.adapters.tasks_table import TasksTable
from service.domain.limits import Limits
from service.domain.tasks import TaskService
from service.settings import ReplicateWebhookSettings, StatusSettings, SubmitSettings, UploadsSettings, load

if TYPE_CHECKING:  # the webhook route's objects are imported by it alone: submit's and status' cold
    from service.domain.replicate_webhooks import ReplicateWebhooks  # starts stay as they were


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


def reset() -> None:
    """Forget cached objects (tests change settings between cases)."""
    for builder in (submit_service, status_service, result_media, upload_media, replicate_webhooks):
        builder.cache_clear()
    import sys

    if "aws_lambda_powertools.utilities.parameters" in sys.modules:  # the route's cached secret
        sys.modules["aws_lambda_powertools.utilities.parameters"].clear_caches()
