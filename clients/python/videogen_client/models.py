"""The API's payloads as the specs define them (``transitions-api-flow.md``, ``dream-api.md``).

Defined here, independently of the service: the SDK speaks HTTP only. Responses ignore fields
they do not know, so a newer server does not break an older SDK; requests send only the fields
that are set, so the server's defaults apply to the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskState = Literal["PENDING", "PROCESSING", "SUCCESS", "FAILURE"]
DreamState = Literal["pending", "processing", "completed", "failed"]


class Subtitle(BaseModel):
    startTime: float
    endTime: float
    text: str


class TransitionRequest(BaseModel):
    """Body of ``POST /api/transitions/create-and-generate/``; unset fields take the server's defaults.

    Image fields are http(s) URLs; a local file becomes one through ``Client.upload``. Fields this
    SDK does not know yet may be passed too (they are sent as given).
    """

    model_config = ConfigDict(extra="allow")

    front_image: str
    tail_image: str
    prompt: str | None = None
    duration: int | None = None
    transition_type: str | None = None
    enable_subtitles: bool | None = None
    subtitle_style: str | None = None
    subtitle_position: str | None = None
    subtitles: list[Subtitle] | None = None
    enable_music: bool | None = None
    music_type: str | None = None
    enable_voiceover: bool | None = None
    voiceover_text: str | None = None
    voice: str | None = None
    #: An https URL the service POSTs the task's end to (signed: see ``verify_webhook``).
    webhook_url: str | None = None

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Accepted(BaseModel):
    """202 of both submit routes."""

    task_id: str
    status: str = "pending"
    message: str | None = None
    #: True when the service answered a repeated Idempotency-Key with the first answer.
    replayed: bool = Field(default=False, exclude=True)


class ProgressInfo(BaseModel):
    current: int
    total: int
    status: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.current / self.total)) if self.total > 0 else 0.0


class TransitionResult(BaseModel):
    transition_id: int | None = None
    generated_transition_id: int | None = None
    video_url: str
    thumbnail_url: str | None = None
    duration: int | None = None
    status: str | None = None
    created_at: str | None = None
    #: WebVTT of the subtitles, when there are any.
    subtitles_url: str | None = None


class WebhookAttempt(BaseModel):
    at: datetime
    status_code: int | None = None
    error: str | None = None


class WebhookInfo(BaseModel):
    """How a task's caller webhook goes (tasks submitted with a ``webhook_url``)."""

    url: str
    event_id: str
    state: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int = 0
    last_attempts: list[WebhookAttempt] = Field(default_factory=list)
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


class TaskStatus(BaseModel):
    """``GET /api/transitions/task-status/{task_id}/`` (any task, either kind)."""

    task_id: str
    state: TaskState
    ready: bool
    info: ProgressInfo | None = None
    result: TransitionResult | None = None
    error: str | None = None
    webhook: WebhookInfo | None = None
    #: The server's ``Retry-After`` hint (seconds), when it sent one.
    retry_after: float | None = Field(default=None, exclude=True)


class TaskListItem(TaskStatus):
    """An item of ``GET /api/tasks/``: a task's status, its kind and when it was created."""

    kind: Literal["transition", "dream"]
    created_at: datetime


class TaskList(BaseModel):
    """One page of ``GET /api/tasks/``; follow ``next_cursor`` until it is None (a filtered page may
    be short and still have a next one)."""

    items: list[TaskListItem]
    next_cursor: str | None = None


class WebhookSecret(BaseModel):
    """The owner's webhook signing secret (``whsec_…``), and until when the previous one also signs."""

    secret: str
    previous_secret_valid_until: datetime | None = None


class TaskEvent(BaseModel):
    """What the service POSTs to a task's ``webhook_url`` when the task ends (``verify_webhook``)."""

    id: str
    type: Literal["task.succeeded", "task.failed"]
    timestamp: datetime
    data: TaskListItem


class VideoStatus(BaseModel):
    """``GET /video-status/{task_id}`` of the dream API."""

    task_id: str
    status: DreamState
    dream: str
    style: str
    video_url: str | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    webhook: WebhookInfo | None = None
    retry_after: float | None = Field(default=None, exclude=True)

    @property
    def ready(self) -> bool:
        return self.status in ("completed", "failed")


class Upload(BaseModel):
    """``POST /api/uploads/``: PUT the file to ``upload_url`` with ``headers``, then use ``file_url``."""

    upload_url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    file_url: str
    expires_in: int


class ErrorItem(BaseModel):
    """One problem of a 422 answer."""

    loc: list[str | int] = Field(default_factory=list)
    msg: str = ""
    type: str = ""

    def describe(self) -> str:
        """``body.duration: duration must be 5 or 10 seconds``"""
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.msg}" if where else self.msg
