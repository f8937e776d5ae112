"""The state that flows through the Step Functions workflow, one model per task's input.

The execution carries references, never the job: the task record (DynamoDB) holds the request,
the job, the outputs and the errors, and each step reads what it needs from there. What is
left here (ids, counters, statuses, model names) is what the state machine's logs, its execution
history and EventBridge's execution events may show: no prompt, dream, subtitle or voiceover
text, no image URL, no error text.

Each workflow handler validates its state input into one of these and returns a plain dict.
"""

from __future__ import annotations

from typing import Literal

from service.models.base import Model
from service.models.domain import PredictionRef, TaskKind


class ExecutionInput(Model):
    """What submit passes to StartExecution (and the input of StartPredictions)."""

    task_id: str
    kind: TaskKind


class PredictionsState(Model):
    """Output of StartPredictions and PollPredictions; input of PollPredictions and Finalize."""

    task_id: str
    kind: TaskKind
    predictions: list[PredictionRef]
    polls: int = 0
    outcome: Literal["running", "succeeded", "failed"] = "running"


class WaitInput(Model):
    """WaitBeforePoll's Lambda payload: the state, and the wait's task token (``$$.Task.Token``)."""

    task_id: str
    state: PredictionsState
    token: str


class CaughtError(Model):
    """What a ``Catch`` puts at ``$.failure``."""

    Error: str
    Cause: str = ""


class FailTaskInput(Model):
    """Input of MarkFailed / MarkTimedOut: whatever state we were in, plus why it ended. The
    predictions to cancel and the error to show come from the task record."""

    task_id: str
    #: Always known, so every failure is counted by kind: the execution's input carries it, and so
    #: does every state after it.
    kind: TaskKind
    polls: int = 0
    reason: Literal["failed", "timed_out"] = "failed"
    failure: CaughtError | None = None
    deadline_seconds: int | None = None
