"""The state that flows through the Step Functions workflow, one model per task's input.

Each workflow handler validates its state input into one of these and returns a plain dict.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from service.models.base import Model
from service.models.domain import ComposeSpec, GenerationJob, PredictionRef, TaskKind


class ExecutionInput(Model):
    """What submit passes to StartExecution (and the input of StartPredictions)."""

    task_id: str
    job: GenerationJob


class PredictionsState(Model):
    """Output of StartPredictions and PollPredictions; input of PollPredictions and Finalize."""

    task_id: str
    kind: TaskKind
    duration: int
    predictions: list[PredictionRef]
    polls: int = 0
    outcome: Literal["running", "succeeded", "failed"] = "running"
    error: str | None = None
    outputs: dict[str, str] = Field(default_factory=dict, description="role -> output URL")
    compose: ComposeSpec = Field(default_factory=ComposeSpec)
    own_urls: list[str] = Field(
        default_factory=list, description="URLs the owner sent: a model's error may show them back"
    )


class CaughtError(Model):
    """What a ``Catch`` puts at ``$.failure``."""

    Error: str
    Cause: str = ""


class FailTaskInput(Model):
    """Input of MarkFailed / MarkTimedOut: whatever state we were in, plus why it ended."""

    task_id: str
    #: Always known, so every failure is counted by kind: the state carries it after StartPredictions
    #: succeeded, the execution input's job before (a failed StartPredictions passes that input on).
    kind: TaskKind
    polls: int = 0
    reason: Literal["failed", "timed_out"] = "failed"
    predictions: list[PredictionRef] = Field(default_factory=list)
    error: str | None = None
    failure: CaughtError | None = None
    deadline_seconds: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _kind_of_the_job(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None and isinstance(data.get("job"), dict):
            return {**data, "kind": data["job"].get("kind")}
        return data
