"""Task → the two status schemas of the specs (transitions and dream)."""

from __future__ import annotations

from collections.abc import Callable

from service.models.domain import Task, TaskState
from service.models.status import ProgressInfo, TaskStatusResponse, TransitionResult, VideoStatusResponse

#: Presigns an S3 key into a GET URL (minted on every read; Replicate's own URLs expire).
Presign = Callable[[str], str]

DREAM_STATUS: dict[TaskState, str] = {
    TaskState.PENDING: "pending",
    TaskState.PROCESSING: "processing",
    TaskState.SUCCESS: "completed",
    TaskState.FAILURE: "failed",
}

DEFAULT_ERROR = "Video generation failed"


def transition_status(task: Task, presign: Presign) -> TaskStatusResponse:
    """PENDING ``info: null``; PROCESSING ``info``; SUCCESS ``result``; FAILURE ``error``."""
    response = TaskStatusResponse(
        task_id=task.execution_arn, state=task.state.value, ready=task.state.terminal
    )
    if task.state is TaskState.PROCESSING and task.progress is not None:
        response.info = ProgressInfo(**task.progress.model_dump())
    elif task.state is TaskState.SUCCESS and task.result is not None:
        response.result = TransitionResult(
            transition_id=task.transition_id,
            generated_transition_id=task.generated_transition_id,
            video_url=presign(task.result.video_key),
            thumbnail_url=presign(task.result.thumbnail_key),
            duration=task.result.duration,
            created_at=task.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            subtitles_url=presign(task.result.subtitles_key) if task.result.subtitles_key else None,
        )
    elif task.state is TaskState.FAILURE:
        response.error = task.error or DEFAULT_ERROR
    return response


def transition_status_body(task: Task, presign: Presign) -> dict[str, object]:
    """The JSON body: only the keys the spec shows for each state (``info`` always, as null when pending)."""
    response = transition_status(task, presign)
    body = response.model_dump(mode="json", include={"task_id", "state", "ready"})
    if task.state in (TaskState.PENDING, TaskState.PROCESSING):
        body["info"] = response.info.model_dump() if response.info else None
    elif task.state is TaskState.SUCCESS:
        result = response.model_dump(mode="json")["result"]
        if result.get("subtitles_url") is None:
            result.pop(
                "subtitles_url", None
            )  # the spec's result shape, plus subtitles_url when there are any
        body["result"] = result
    else:
        body["error"] = response.error
    if task.webhook is not None:  # only tasks submitted with a webhook_url: the spec's shape otherwise
        body["webhook"] = task.webhook.model_dump(mode="json")
    return body


def dream_status_body(task: Task, presign: Presign) -> dict[str, object]:
    """The dream schema's JSON body (``webhook`` only for tasks submitted with a webhook_url)."""
    body = dream_status(task, presign).model_dump(mode="json", exclude={"webhook"})
    if task.webhook is not None:
        body["webhook"] = task.webhook.model_dump(mode="json")
    return body


def dream_status(task: Task, presign: Presign) -> VideoStatusResponse:
    video_url = presign(task.result.video_key) if task.state is TaskState.SUCCESS and task.result else None
    return VideoStatusResponse(
        task_id=task.execution_arn,
        status=DREAM_STATUS[task.state],
        dream=str(task.request.get("dream", "")),
        style=str(task.request.get("style", "")),
        video_url=video_url,
        error=(task.error or DEFAULT_ERROR) if task.state is TaskState.FAILURE else None,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )
