"""The status routes' answers (the spec's two schemas), apart from the request models: the status
function reads tasks and never validates a request, so it does not import (and build) those."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from service.models.base import Model


class ProgressInfo(Model):
    current: int
    total: int
    status: str


class TransitionResult(Model):
    transition_id: int
    generated_transition_id: int
    video_url: str
    thumbnail_url: str
    duration: int
    status: Literal["completed"] = "completed"
    created_at: str
    subtitles_url: str | None = Field(default=None, description="WebVTT of the subtitles, when there are any")


class WebhookAttemptInfo(Model):
    at: datetime
    status_code: int | None = Field(default=None, description="The receiver's HTTP status, if it answered")
    error: str | None = Field(default=None, description="Why there was no 2xx answer")


class WebhookInfo(Model):
    """The caller webhook of a task submitted with ``webhook_url``: how its delivery goes."""

    url: str
    event_id: str = Field(description="The event's webhook-id, the same on every attempt")
    state: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    last_attempts: list[WebhookAttemptInfo] = Field(description="The latest attempts, oldest first")
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class TaskStatusResponse(Model):
    """``GET /api/transitions/task-status/{task_id}/``: exactly one of info/result/error is shown;
    ``webhook`` only for tasks submitted with a ``webhook_url``."""

    task_id: str
    state: Literal["PENDING", "PROCESSING", "SUCCESS", "FAILURE"]
    ready: bool
    info: ProgressInfo | None = None
    result: TransitionResult | dict[str, Any] | None = None
    error: str | None = None
    webhook: WebhookInfo | None = None


class TaskListItem(TaskStatusResponse):
    """An item of ``GET /api/tasks/``: the task-status answer plus its kind and creation time."""

    kind: Literal["transition", "dream"]
    created_at: str = Field(description="ISO 8601, UTC")


class TaskList(Model):
    items: list[TaskListItem]
    next_cursor: str | None = Field(
        description="Pass as cursor for the next page; null when there is none. A page may hold fewer "
        "than limit items and still have a next page (filters): follow next_cursor, not the page size"
    )


class CancelConflict(Model):
    """409 of cancel: the task had already finished (SUCCESS, or FAILURE for another reason)."""

    detail: str
    task: TaskStatusResponse


class WebhookSecret(Model):
    secret: str = Field(description="whsec_ + base64 key: verify webhook-signature with it")
    previous_secret_valid_until: str | None = Field(
        description="After a rotation, the previous secret also signs until then (ISO 8601, UTC)"
    )


class VideoStatusResponse(Model):
    """``GET /video-status/{task_id}`` of the dream API."""

    task_id: str
    status: Literal["pending", "processing", "completed", "failed"]
    dream: str
    style: str
    video_url: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    webhook: WebhookInfo | None = None
