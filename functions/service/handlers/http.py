"""The HTTP edge shared by the API functions: one resolver factory, errors mapped in one place.

Error bodies follow FastAPI's shapes, which the spec's clients already parse:
422 ``{"detail": [{"loc", "msg", "type"}]}``, otherwise ``{"detail": "..."}`` (plus ``request_id``
on 5xx). Nothing ever returns a stack trace.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from service.catalog import GATEWAY_ERRORS
from service.domain.errors import SubmitError, TaskNotFoundError
from service.observability import count_internal_error, logger

UNAUTHORIZED = GATEWAY_ERRORS[401]
TASK_NOT_FOUND = "Task not found"


class UnauthorizedError(Exception):
    """The request reached a handler without an authorizer owner (misconfigured route)."""


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers or {}
    )


def _message(error: dict[str, Any]) -> str:
    """A human-readable ``msg`` for one validation error (powertools drops pydantic's)."""
    kind, loc, ctx = error.get("type", ""), tuple(error.get("loc", ())), error.get("ctx") or {}
    if kind == "json_invalid":
        return f"Request body is not valid JSON: {ctx.get('error', 'decode error')}"
    if kind == "missing" and loc == ("body",):
        return "Request body is required: send a JSON object"
    if kind == "model_attributes_type" and loc == ("body",):
        return "Request body must be a JSON object"
    return str(error.get("msg") or kind.replace("_", " "))


def validation_detail(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": _message(e), "type": e.get("type", "")} for e in errors]


def make_resolver(function: str, *, validation: bool = True) -> APIGatewayRestResolver:
    """A REST resolver with our error shapes, for the catalog's ``function``. ``validation``:
    powertools validates the routes' parameters and bodies against their annotations (the 422s) and
    documents them; routes that take nothing to validate (a path string) go without, which spares
    their cold start the OpenAPI machinery and their documentation a 422 they never answer."""
    # Browser clients: any origin may call with its token (no cookies); they may read Retry-After.
    cors = CORSConfig(allow_origin="*", expose_headers=["Retry-After"], max_age=600)
    app = APIGatewayRestResolver(enable_validation=validation, cors=cors)

    def request_id() -> str | None:
        context = app.lambda_context
        return getattr(context, "aws_request_id", None) if context is not None else None

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return json_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": validation_detail(list(error.errors()))}
        )

    @app.exception_handler(TaskNotFoundError)
    def _task_not_found(_: TaskNotFoundError) -> Response:
        return json_response(HTTPStatus.NOT_FOUND, {"detail": TASK_NOT_FOUND})

    @app.exception_handler(UnauthorizedError)
    def _unauthorized(_: UnauthorizedError) -> Response:
        return json_response(HTTPStatus.UNAUTHORIZED, {"detail": UNAUTHORIZED})

    @app.exception_handler(SubmitError)
    def _submit_failed(error: SubmitError) -> Response:
        return json_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            {"detail": str(error), "request_id": request_id()},
            headers={"Retry-After": "1"},
        )

    @app.not_found
    def _no_route(_: NotFoundError) -> Response:
        return json_response(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response:
        logger.exception("Unhandled error")
        count_internal_error(function)  # a 500 Lambda does not count as an error: alarmed on this
        return json_response(
            HTTPStatus.INTERNAL_SERVER_ERROR, {"detail": "Internal server error", "request_id": request_id()}
        )

    return app


def current_owner(app: APIGatewayRestResolver) -> str:
    """The owner the token authorizer attached to this request."""
    authorizer = app.current_event.request_context.authorizer
    owner = authorizer.get("owner") or authorizer.get("principalId") if authorizer else None
    if not owner:
        raise UnauthorizedError
    return str(owner)
