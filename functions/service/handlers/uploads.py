"""Uploads function: ``POST /api/uploads/``, a presigned S3 PUT for one input image."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.domain.uploads import prepare_upload
from service.handlers.http import (
    BODY_REFUSALS,
    GATEWAY_REFUSALS,
    current_owner,
    json_response,
    make_resolver,
    screen,
)
from service.handlers.wiring import upload_media
from service.models.uploads import UploadRequest, UploadResponse
from service.observability import logger
from service.settings import UploadsSettings, load

app = make_resolver("uploads")
JSON_ROUTES = ("/api/uploads/",)


@app.post(
    "/api/uploads/",
    summary="Upload an input image: a presigned PUT, and the URL to send as front_image/tail_image",
    responses={
        200: {"description": "PUT the file to upload_url with headers, then use file_url"},
        **BODY_REFUSALS,
        **GATEWAY_REFUSALS,
    },
)
def create_upload(request: Annotated[UploadRequest, Body()]) -> Response[UploadResponse]:
    owner = current_owner(app)
    ticket = prepare_upload(upload_media(), owner, request.content_type, request.content_length)
    logger.info(
        "Upload prepared",
        extra={"owner": owner, "content_type": request.content_type, "bytes": request.content_length},
    )
    return json_response(HTTPStatus.OK, UploadResponse.of(ticket).model_dump(mode="json"))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(UploadsSettings)  # cold start: a missing variable fails here, by name
    return screen(event, JSON_ROUTES) or app.resolve(event, context)
