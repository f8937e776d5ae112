"""Task controls function: cancel, delete and list the owner's tasks; its webhook signing secret.

``GET /api/tasks/``, ``POST /api/tasks/{task_id}/cancel/``, ``DELETE /api/tasks/{task_id}/``,
``GET``/``POST /api/webhooks/secret/`` (see ``service.domain.controls``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.domain.controls import InvalidCursor, TaskFinished
from service.domain.errors import InvalidField
from service.domain.status import transition_status_body
from service.handlers.http import (
    GATEWAY_REFUSALS,
    TASK_NOT_FOUND_RESPONSE,
    current_owner,
    json_response,
    make_resolver,
)
from service.handlers.wiring import controls
from service.models.api import case_insensitive
from service.models.domain import TaskKind, TaskState
from service.models.status import WebhookSecret
from service.observability import logger
from service.settings import ControlsSettings, load

app = make_resolver("controls")


def _json(model: str) -> dict[str, Any]:
    """A JSON answer whose schema is one of ``service.models.status``' (``service.openapi`` adds it
    to the components): the bodies keep the spec's nulls (``info: null``), so they are written as
    plain dicts rather than through the model."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}


#: The most items one page holds, and the default.
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


@app.exception_handler(TaskFinished)
def _finished(error: TaskFinished) -> Response:
    body = {"detail": str(error), "task": transition_status_body(error.task, controls().presign)}
    return json_response(HTTPStatus.CONFLICT, body)


@app.get(
    "/api/tasks/",
    summary="The owner's tasks, newest first (cursor pages)",
    responses={
        200: {"description": "A page: follow next_cursor until it is null", "content": _json("TaskList")},
        422: {"description": "A bad limit, state or kind, or a cursor that is not valid here"},
        **GATEWAY_REFUSALS,
    },
)
def list_tasks(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-100)")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=1024, description="next_cursor of the previous page")
    ] = None,
    state: Annotated[
        TaskState | None, case_insensitive(TaskState), Query(description="Only this state")
    ] = None,
    kind: Annotated[TaskKind | None, case_insensitive(TaskKind), Query(description="Only this kind")] = None,
) -> Response[dict[str, Any]]:
    owner = current_owner(app)
    try:
        page = controls().list(owner, limit=limit, cursor=cursor, state=state, kind=kind)
    except InvalidCursor as error:
        raise InvalidField(["query", "cursor"], str(error), "cursor_invalid") from None
    return json_response(HTTPStatus.OK, {"items": page.items, "next_cursor": page.next_cursor})


@app.post(
    "/api/tasks/<task_id>/cancel/",
    summary="Cancel a task: it ends FAILURE 'Task was canceled' (idempotent)",
    responses={
        202: {
            "description": "Canceled (now or before): the task's status",
            "content": _json("TaskStatusResponse"),
        },
        404: TASK_NOT_FOUND_RESPONSE,  # type: ignore[dict-item]
        409: {
            "description": "The task had already finished: its current status in `task`",
            "content": _json("CancelConflict"),
        },
        **GATEWAY_REFUSALS,
    },
)
def cancel_task(task_id: str) -> Response[dict[str, Any]]:
    task = controls().cancel(current_owner(app), task_id)
    return json_response(HTTPStatus.ACCEPTED, transition_status_body(task, controls().presign))


@app.delete(
    "/api/tasks/<task_id>/",
    summary="Delete a task: cancel it if it runs, erase its record and its media",
    responses={
        204: {"description": "Erased: later reads answer 404"},
        404: TASK_NOT_FOUND_RESPONSE,  # type: ignore[dict-item]
        **GATEWAY_REFUSALS,
    },
)
def delete_task(task_id: str) -> Response[None]:
    controls().delete(current_owner(app), task_id)
    return Response(status_code=HTTPStatus.NO_CONTENT, body=None)


@app.get(
    "/api/webhooks/secret/",
    summary="The owner's webhook signing secret (created at the first read)",
    responses={200: {"description": "The secret: verify webhook-signature with it"}, **GATEWAY_REFUSALS},
)
def webhook_secret() -> Response[WebhookSecret]:
    return json_response(HTTPStatus.OK, controls().webhook_secret(current_owner(app)))


@app.post(
    "/api/webhooks/secret/",
    summary="Rotate the owner's webhook signing secret (the previous one signs too for 24 h)",
    responses={200: {"description": "The new secret"}, **GATEWAY_REFUSALS},
)
def rotate_webhook_secret() -> Response[WebhookSecret]:
    owner = current_owner(app)
    logger.info("Webhook secret rotated", extra={"owner": owner})
    return json_response(HTTPStatus.OK, controls().webhook_secret(owner, rotate=True))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(ControlsSettings)  # cold start: a missing variable fails here, by name
    return app.resolve(event, context)
