"""Builds the workflow functions' domain object from their settings, once per cold start.

The steps that call Replicate (StartPredictions, PollPredictions, MarkFailed) get the Replicate
token from Secrets Manager (cached); Finalize never reads it: it only downloads outputs.
"""

from __future__ import annotations

from functools import cache

from aws_lambda_powertools.utilities import parameters

from service.adapters.media import MediaStore
from service.adapters.replicate_gateway import ReplicateGateway
from service.adapters.tasks_table import TasksTable
from service.domain.workflow import Workflow
from service.settings import FinalizeSettings, ReplicateSettings, load


def replicate_gateway() -> ReplicateGateway:
    """A gateway with the current token: powertools caches the secret for ``secret_max_age_seconds``,
    so a rotated token is picked up without a redeploy."""
    settings = load(ReplicateSettings)
    token = parameters.get_secret(settings.replicate_secret_name, max_age=settings.secret_max_age_seconds)
    return _gateway_for(str(token), settings.replicate_base_url)


@cache
def _gateway_for(token: str, base_url: str | None) -> ReplicateGateway:
    return ReplicateGateway(token, base_url)


@cache
def workflow() -> Workflow:
    """StartPredictions, PollPredictions and MarkFailed."""
    settings = load(ReplicateSettings)
    return Workflow(
        TasksTable(settings.tasks_table),
        gateway=replicate_gateway,
        model_time_scale=settings.model_time_scale,
    )


@cache
def finalizer() -> Workflow:
    """Finalize: S3 and ffmpeg, no Replicate token."""
    settings = load(FinalizeSettings)
    return Workflow(
        TasksTable(settings.tasks_table),
        media=MediaStore(settings.media_bucket),
        download_timeout=settings.download_timeout_seconds,
        max_video_bytes=settings.max_video_bytes,
    )


def reset() -> None:
    workflow.cache_clear()
    finalizer.cache_clear()
    _gateway_for.cache_clear()
    parameters.clear_caches()
