"""Submit function: ``POST /api/transitions/create-and-generate/`` and ``POST /generate-video``."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.domain import recipes
from service.domain.options import MAX_DREAM_CHARS, DreamStyle
from service.handlers.http import (
    BODY_REFUSALS,
    LIMIT_REFUSAL,
    current_owner,
    json_response,
    make_resolver,
    screen,
)
from service.handlers.wiring import submit_service
from service.models.api import (
    DreamAccepted,
    DreamQuery,
    DreamText,
    TransitionAccepted,
    TransitionRequest,
    case_insensitive,
)
from service.models.domain import TaskKind
from service.observability import logger, metrics
from service.settings import SubmitSettings, load

app = make_resolver("submit")
#: The routes whose body is a JSON object (screened before the resolver).
JSON_ROUTES = ("/api/transitions/create-and-generate/",)


def _count_submitted(kind: TaskKind) -> None:
    metrics.add_dimension(name="kind", value=kind.value)
    metrics.add_metric(name="TasksSubmitted", unit=MetricUnit.Count, value=1)


def _accepted(body: Any) -> Response:
    return json_response(HTTPStatus.ACCEPTED, body.model_dump(mode="json"))


@app.post(
    "/api/transitions/create-and-generate/",
    summary="Create a transition video from two images",
    responses={
        202: {"description": "Accepted: poll task-status with task_id"},
        **BODY_REFUSALS,
        **LIMIT_REFUSAL,
    },
)
def create_and_generate(request: Annotated[TransitionRequest, Body()]) -> Response[TransitionAccepted]:
    owner = current_owner(app)
    settings = load(SubmitSettings)
    models = recipes.Models(
        video=settings.transition_model, music=settings.music_model, tts=settings.tts_model
    )
    job = recipes.transition_job(request, models)
    task = submit_service().submit(owner, TaskKind.TRANSITION, request.model_dump(mode="json"), job)
    logger.info("Transition submitted", extra={"task_id": task.task_id, "owner": owner})
    _count_submitted(TaskKind.TRANSITION)
    return _accepted(TransitionAccepted(task_id=task.execution_arn))


@app.post(
    "/generate-video",
    summary="Create a video of a dream",
    responses={202: {"description": "Accepted: poll video-status with task_id"}, **LIMIT_REFUSAL},
)
def generate_video(
    dream: Annotated[DreamText, Query(min_length=1, max_length=MAX_DREAM_CHARS)],
    style: Annotated[DreamStyle, case_insensitive(DreamStyle), Query()],
) -> Response[DreamAccepted]:
    owner = current_owner(app)
    query = DreamQuery(dream=dream.strip(), style=style)
    job = recipes.dream_job(query.dream, query.style, load(SubmitSettings).dream_model)
    task = submit_service().submit(owner, TaskKind.DREAM, query.model_dump(mode="json"), job)
    logger.info("Dream submitted", extra={"task_id": task.task_id, "owner": owner})
    _count_submitted(TaskKind.DREAM)
    return _accepted(DreamAccepted(task_id=task.execution_arn))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(SubmitSettings)  # cold start: a missing variable fails here, by name
    return screen(event, JSON_ROUTES) or app.resolve(event, context)
