"""Submit function: ``POST /api/transitions/create-and-generate/`` and ``POST /generate-video``.

Both take an ``Idempotency-Key`` header: the same key and the same request (per owner) within
``idempotency_seconds`` answer the first 202 again without a second task; the same key with another
request is a 422; the same key while the first is still being accepted a 409 (powertools'
Idempotency utility, ``service.handlers.wiring.idempotent_accept``). Both take a ``webhook_url``
(a JSON field; a query parameter of ``/generate-video``), checked here before anything is written.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Query
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.domain import recipes
from service.domain.options import MAX_DREAM_CHARS, DreamStyle
from service.domain.webhooks import WebhookUrlRefused, check_url
from service.handlers.http import (
    BODY_REFUSALS,
    GATEWAY_REFUSALS,
    IDEMPOTENCY_REFUSALS,
    LIMIT_REFUSAL,
    REPLAYED_HEADER,
    START_REFUSAL,
    current_owner,
    invalid_field,
    json_response,
    make_resolver,
    screen,
)
from service.handlers.wiring import Submission, idempotent, register_context, submit_service
from service.models.api import (
    DreamAccepted,
    DreamQuery,
    DreamText,
    TransitionAccepted,
    TransitionRequest,
    WebhookUrl,
    case_insensitive,
)
from service.models.domain import GenerationJob, TaskKind
from service.observability import logger, metrics
from service.settings import SubmitSettings, load

app = make_resolver("submit")
#: The routes whose body is a JSON object (screened before the resolver).
JSON_ROUTES = ("/api/transitions/create-and-generate/",)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the submit safe to retry: the same key and request within 24 h answer the "
        "first 202 again (Idempotent-Replayed: true) and start nothing; printable ASCII, 1-255 characters",
    ),
]


def _count_submitted(kind: TaskKind) -> None:
    metrics.add_dimension(name="kind", value=kind.value)
    metrics.add_metric(name="TasksSubmitted", unit=MetricUnit.Count, value=1)


def _webhook(url: str | None, loc: str) -> str | None:
    """The webhook_url, if one was sent and it may be used (422 otherwise, nothing written)."""
    if url is None:
        return None
    try:
        check_url(url, allow_loopback=load(SubmitSettings).webhook_allow_loopback)
    except WebhookUrlRefused as refused:
        raise invalid_field([loc, "webhook_url"], str(refused), "webhook_url_refused") from None
    return url


def _submit(submission: Submission, job: GenerationJob, key: str | None) -> Response:
    """The 202: the task accepted now, or, for a repeated Idempotency-Key, the one accepted before."""
    if key is None:
        body, replayed = _accept(submission, job), False
    else:
        body, replayed = idempotent(_accept_keyed, submission.keyed(key), job=job)
    headers = {REPLAYED_HEADER: "true"} if replayed else {}
    return json_response(HTTPStatus.ACCEPTED, body, headers=headers)


def _accept_keyed(submission: dict[str, Any], job: GenerationJob) -> dict[str, Any]:
    """What powertools runs once per (owner, Idempotency-Key): ``submission`` is ``Submission.keyed``."""
    return _accept(Submission.of(submission), job)


def _accept(submission: Submission, job: GenerationJob) -> dict[str, Any]:
    kind = TaskKind(submission.kind)
    task = submit_service().submit(
        submission.owner, kind, submission.request, job, webhook_url=submission.webhook_url
    )
    logger.info("Task submitted", extra={"task_id": task.task_id, "owner": submission.owner, "kind": kind})
    _count_submitted(kind)
    accepted = TransitionAccepted if kind is TaskKind.TRANSITION else DreamAccepted
    return accepted(task_id=task.execution_arn).model_dump(mode="json")


@app.post(
    "/api/transitions/create-and-generate/",
    summary="Create a transition video from two images",
    responses={
        202: {"description": "Accepted: poll task-status with task_id"},
        **BODY_REFUSALS,
        **GATEWAY_REFUSALS,
        **IDEMPOTENCY_REFUSALS,
        **LIMIT_REFUSAL,
        **START_REFUSAL,
    },
)
def create_and_generate(
    request: Annotated[TransitionRequest, Body()], idempotency_key: IdempotencyKey = None
) -> Response[TransitionAccepted]:
    owner = current_owner(app)
    webhook_url = _webhook(request.webhook_url, "body")
    settings = load(SubmitSettings)
    models = recipes.Models(
        video=settings.transition_model, music=settings.music_model, tts=settings.tts_model
    )
    job = recipes.transition_job(request, models)
    payload = request.model_dump(mode="json", exclude={"webhook_url"})
    submission = Submission(owner, TaskKind.TRANSITION.value, payload, webhook_url)
    return _submit(submission, job, idempotency_key)


@app.post(
    "/generate-video",
    summary="Create a video of a dream",
    responses={
        202: {"description": "Accepted: poll video-status with task_id"},
        **GATEWAY_REFUSALS,
        **IDEMPOTENCY_REFUSALS,
        **LIMIT_REFUSAL,
        **START_REFUSAL,
    },
)
def generate_video(
    dream: Annotated[DreamText, Query(min_length=1, max_length=MAX_DREAM_CHARS)],
    style: Annotated[DreamStyle, case_insensitive(DreamStyle), Query()],
    webhook_url: Annotated[
        WebhookUrl | None,
        Query(description="An https URL to POST the task's end to (see the transitions route)"),
    ] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[DreamAccepted]:
    owner = current_owner(app)
    webhook = _webhook(webhook_url, "query")
    query = DreamQuery(dream=dream.strip(), style=style)
    job = recipes.dream_job(query.dream, query.style, load(SubmitSettings).dream_model)
    submission = Submission(owner, TaskKind.DREAM.value, query.model_dump(mode="json"), webhook)
    return _submit(submission, job, idempotency_key)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(SubmitSettings)  # cold start: a missing variable fails here, by name
    register_context(context)
    return screen(event, JSON_ROUTES) or app.resolve(event, context)
