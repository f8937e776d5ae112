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


class TaskStatusResponse(Model):
    """``GET /api/transitions/task-status/{task_id}/``: exactly one of info/result/error is shown."""

    task_id: str
    state: Literal["PENDING", "PROCESSING", "SUCCESS", "FAILURE"]
    ready: bool
    info: ProgressInfo | None = None
    result: TransitionResult | dict[str, Any] | None = None
    error: str | None = None


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
