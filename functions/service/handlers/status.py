"""Status function: ``GET /api/transitions/task-status/{task_id}/`` and ``GET /video-status/{task_id}``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.domain.status import dream_status_body, transition_status_body
from service.handlers.http import (
    GATEWAY_REFUSALS,
    TASK_NOT_FOUND_RESPONSE,
    current_owner,
    json_response,
    make_resolver,
)
from service.handlers.wiring import result_media, status_service
from service.models.domain import Task, TaskKind
from service.models.status import VideoStatusResponse
from service.observability import logger
from service.settings import StatusSettings, load

if TYPE_CHECKING:  # (a type only: the status function's cold start imports none of the OpenAPI code)
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

app = make_resolver("status", validation=False)  # a task id is any string: 404 if unknown


def _presign(key: str) -> str:
    return result_media().presigned_get(key, load(StatusSettings).presign_seconds)


def _polling_hint(task: Task) -> dict[str, str]:
    return {} if task.state.terminal else {"Retry-After": str(load(StatusSettings).retry_after_seconds)}


#: Given responses replace powertools' default 200: it is listed (its schema from the return type,
#: or named: the transitions answer is built as a dict).
_READ_RESPONSES = {404: TASK_NOT_FOUND_RESPONSE, **GATEWAY_REFUSALS}
_OK = "The task's state (with Retry-After while it runs)"
_TRANSITION_OK: OpenAPIResponse = {
    "description": _OK,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskStatusResponse"}}},
}


@app.get(
    "/api/transitions/task-status/<task_id>/",
    summary="State of any task (transitions schema)",
    responses={200: _TRANSITION_OK, **_READ_RESPONSES},
)
def task_status(task_id: str) -> Response[dict[str, Any]]:
    task = status_service().get(current_owner(app), task_id)
    return json_response(200, transition_status_body(task, _presign), headers=_polling_hint(task))


@app.get(
    "/video-status/<task_id>",
    summary="State of a dream task (dream schema)",
    responses={200: {"description": _OK}, **_READ_RESPONSES},
)
def video_status(task_id: str) -> Response[VideoStatusResponse]:
    task = status_service().get(current_owner(app), task_id, kind=TaskKind.DREAM)
    body = dream_status_body(task, _presign)
    return json_response(200, body, headers=_polling_hint(task))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(StatusSettings)  # cold start: a missing variable fails here, by name
    return app.resolve(event, context)
