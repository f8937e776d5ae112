"""Domain objects: a generation task and the job that produces it.

Independent of both the HTTP shapes (``models.api``) and the DynamoDB item (``models.storage``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_serializer

from service.models.base import Model


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskKind(StrEnum):
    TRANSITION = "transition"
    DREAM = "dream"


class TaskState(StrEnum):
    """The task's life, in the transitions spec's words; the dream API maps these to lowercase."""

    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCESS, TaskState.FAILURE)


class PredictionCall(Model):
    """One Replicate model call a job needs; ``role`` says what its output is for."""

    role: str = Field(description="video (and, later, music, voice)")
    model: str = Field(description="owner/name or owner/name:version")
    input: dict[str, Any]


class Cue(Model):
    """One subtitle: shown from ``start`` to ``end`` seconds."""

    start: float
    end: float
    text: str


class ComposeSpec(Model):
    """How Finalize assembles the final MP4 from the predictions' outputs."""

    subtitles: list[Cue] = Field(default_factory=list)
    subtitle_style: str = "default"
    subtitle_position: str = "bottom"


class GenerationJob(Model):
    """What the workflow must do for a task: built from the request by a recipe."""

    kind: TaskKind
    duration: int
    predictions: list[PredictionCall]
    compose: ComposeSpec = Field(default_factory=ComposeSpec)


class PredictionRef(Model):
    """A started prediction, as the workflow tracks it (in the record and in the execution's state:
    ids, statuses and times only)."""

    role: str
    model: str
    id: str
    status: str = "starting"
    #: Created with our webhook URL: Replicate tells the webhook route about it, so the poll may
    #: read what the webhooks recorded instead of asking Replicate (``PollPredictions``).
    hooked: bool = False
    #: When the workflow last learnt its state from Replicate itself (its create, a GET).
    checked_at: datetime | None = None
    #: When the model started running, as last learnt (a GET or a webhook): the progress estimate
    #: of models that print none runs from it.
    started_at: datetime | None = None


class PredictionHook(Model):
    """What Replicate's webhooks last told about one prediction (the record's ``hooks``, by id).

    ``key`` orders a prediction's states: its status's rank, then how much log and output it has
    (both only grow), so a duplicated or late webhook never replaces a newer one. Only the terminal
    state keeps the output and error (what the workflow needs from it); logs are reduced to the
    progress they show."""

    status: str
    key: int
    webhook_id: str
    received_at: datetime
    started_at: datetime | None = None
    fraction: float | None = None
    output: Any = None
    error: str | None = None


class StepError(Model):
    """Why a workflow step failed, in words safe for the task's owner. The step records it in the
    task record (never in the execution's history, which must not carry user data); MarkFailed
    shows it when the error the workflow caught is of the same ``type``."""

    type: str = Field(description="The error's name as the workflow sees it (ReplicateRejected...)")
    message: str


class Progress(Model):
    current: int = Field(ge=0)
    total: int = Field(default=100, gt=0)
    status: str


class TaskResult(Model):
    """Where the finished media lives in our bucket (URLs are minted on each read)."""

    video_key: str
    thumbnail_key: str
    duration: int
    video_seconds: float | None = None
    subtitles_key: str | None = None


def sortable_time(value: datetime) -> str:
    """UTC, always with microseconds (``2026-11-30T09:00:00.000000Z``): these strings sort as the
    times do, which the owner index's sort key (``created_at``) relies on."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WebhookAttempt(Model):
    """One POST to the owner's webhook_url: when, and what came back (a status code, or why none)."""

    at: datetime
    status_code: int | None = None
    error: str | None = None


class WebhookDelivery(Model):
    """The caller webhook of a task: where to, and how its delivery goes (shown to the owner)."""

    url: str
    #: ``webhook-id`` of the event: one per task, the same on every attempt (receivers dedupe on it).
    event_id: str
    state: Literal["pending", "retrying", "delivered", "failed"] = "pending"
    attempts: int = 0
    #: The latest attempts (at most ``MAX_RECORDED_ATTEMPTS``), oldest first.
    last_attempts: list[WebhookAttempt] = Field(default_factory=list)
    first_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None


#: Attempts a task's record keeps (the count goes on).
MAX_RECORDED_ATTEMPTS = 10


class Task(Model):
    """One task record: everything the status routes need, owned by one API owner."""

    task_id: str = Field(description="The execution name (a uuid4)")
    execution_arn: str
    owner: str
    kind: TaskKind
    request: dict[str, Any]
    #: What the workflow must do, fixed at submit: the execution carries only the task id.
    job: GenerationJob | None = None
    state: TaskState = TaskState.PENDING
    progress: Progress | None = None
    predictions: list[PredictionRef] = Field(default_factory=list)
    #: Role -> the model's output URL, recorded by PollPredictions when all succeeded (for Finalize).
    outputs: dict[str, str] = Field(default_factory=dict)
    #: Prediction id -> what its webhooks said (the Replicate webhook route writes it).
    hooks: dict[str, PredictionHook] = Field(default_factory=dict)
    #: The task token of the workflow's current wait (WaitBeforePoll): a ``completed`` webhook
    #: sends it back (SendTaskSuccess) to end the wait early.
    wake_token: str | None = None
    result: TaskResult | None = None
    error: str | None = None
    step_error: StepError | None = None
    transition_id: int
    generated_transition_id: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    checked_at: datetime | None = None
    expires_at: int = Field(description="Epoch seconds: DynamoDB TTL")
    #: When its owner cancelled it (its error is then "Task was canceled").
    canceled_at: datetime | None = None
    webhook: WebhookDelivery | None = None

    @field_serializer("created_at")
    def _sortable(self, value: datetime) -> str:
        return sortable_time(value)


class Tombstone(Model):
    """What is left of a task its owner deleted while its predictions may still run at Replicate:
    only what the clean-up needs to cancel them (their ids), then delete it. Nothing the owner sent
    or got back (the delete is the owner's right to erase); no ``owner`` nor ``created_at``, so the
    owner index never lists it; ``expires_at`` (the table's TTL) removes it if no clean-up comes.
    Every owner-facing read treats it as not found (``TasksTable.get``)."""

    task_id: str
    #: The ids of the predictions the record listed as not known to have ended.
    cancel_predictions: list[str]
    deleted_at: datetime
    expires_at: int = Field(description="Epoch seconds: DynamoDB TTL")
