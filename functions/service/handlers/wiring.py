"""Builds the API functions' domain objects from settings, once per cold start."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from service.adapters.executions import Executions
from service.adapters.media import MediaStore
from service.adapters.tasks_table import TasksTable
from service.domain.tasks import TaskService
from service.settings import get_settings


@cache
def task_service() -> TaskService:
    settings = get_settings()
    return TaskService(
        TasksTable(settings.tasks_table),
        Executions(settings.state_machine_arn),
        stale_after=timedelta(seconds=settings.stale_after_seconds),
        ttl=timedelta(days=settings.task_ttl_days),
    )


@cache
def media_store() -> MediaStore:
    return MediaStore(get_settings().media_bucket)


def reset() -> None:
    """Forget cached objects (tests change settings between cases)."""
    task_service.cache_clear()
    media_store.cache_clear()
