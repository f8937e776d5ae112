"""The HTTP edge shared by the API functions: one resolver factory, errors mapped in one place.

Error bodies follow FastAPI's shapes, which the spec's clients already parse:
422 ``{"detail": [{"loc", "msg", "type"}]}``, otherwise ``{"detail": "..."}`` (plus ``request_id``
on 5xx). Nothing ever returns a stack trace, and nothing a client sends is answered with a 5xx.

:func:`screen` refuses what must never reach powertools: its request validation runs before any
middleware of ours, reads any body whose content type it does not know as form data, takes the
first element of a JSON array body as if it were the object, and recurses into deeply nested
JSON until Python's stack gives out (a 500). A handler's entry is
``return screen(event, JSON_ROUTES) or app.resolve(event, context)``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from service.catalog import CORS, GATEWAY_ERRORS
from service.domain.errors import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    InvalidField,
    LimitExceeded,
    SubmitError,
    TaskNotFoundError,
)
from service.observability import count_internal_error, logger

UNAUTHORIZED = GATEWAY_ERRORS[401]
#: Set on a submit's 202 that repeats an earlier answer (same Idempotency-Key and request).
REPLAYED_HEADER = "Idempotent-Replayed"
TASK_NOT_FOUND = "Task not found"
#: The largest body a JSON route reads (the largest valid transition request is about 40 KB).
MAX_BODY_BYTES = 64 * 1024
#: How deeply a JSON body may nest (a transition request nests 3 levels).
MAX_JSON_DEPTH = 32
JSON_MEDIA_TYPE = "application/json"


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


def _detail(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        # inline (not the DetailResponse model): the status function imports this module and none of
        # the request models
        "content": {
            JSON_MEDIA_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {"detail": {"type": "string"}},
                    "required": ["detail"],
                }
            }
        },
    }
    if headers:
        response["headers"] = headers
    return response


#: The OpenAPI description of the answers a JSON-body route gives before its handler runs.
BODY_REFUSALS: dict[int, Any] = {
    413: _detail(f"The body is larger than {MAX_BODY_BYTES // 1024} KB"),
    415: _detail("The body is not labelled Content-Type: application/json"),
}
#: ... and of a submit over one of the owner's limits.
LIMIT_REFUSAL: dict[int, Any] = {
    429: _detail(
        "Over one of the owner's limits (tasks in flight, submits per minute, per day), named in "
        "`detail`; nothing was started. Also API Gateway's throttle of the owner's requests.",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    )
}


def _validation(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            JSON_MEDIA_TYPE: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "detail": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "loc": {
                                        "type": "array",
                                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                                    },
                                    "msg": {"type": "string"},
                                    "type": {"type": "string"},
                                },
                                "required": ["loc", "msg", "type"],
                            },
                        }
                    },
                    "required": ["detail"],
                }
            }
        },
    }


#: ... of a submit whose workflow could not be started (nothing was left behind: retry).
START_REFUSAL: dict[int, Any] = {
    503: _detail(
        "The workflow could not be started; nothing was recorded: retry",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    )
}
#: ... of a submit that repeats an Idempotency-Key.
IDEMPOTENCY_REFUSALS: dict[int, Any] = {
    409: _detail(
        "A submit with this Idempotency-Key is still being accepted: retry in a moment",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    ),
    422: _validation(
        "Validation error (loc, msg, type); also: this Idempotency-Key was used with another request "
        "(type idempotency_key_reused), or the webhook_url cannot be used (type webhook_url_refused)"
    ),
}
#: What the gateway itself may answer on every route behind the authorizer.
GATEWAY_REFUSALS: dict[int, Any] = {
    401: _detail("Missing, malformed, unknown or expired token"),
    403: _detail("The token's owner has no usage plan key (an operator's setup step)"),
    429: _detail(
        "Throttled: over the owner's request rate (or, on a submit, one of its limits)",
        headers={"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    ),
}


TASK_NOT_FOUND_RESPONSE: dict[str, Any] = _detail(
    'Unknown task, or another owner\'s: {"detail": "Task not found"}'
)


def invalid_field(loc: list[str | int], message: str, kind: str) -> InvalidField:
    return InvalidField(loc, message, kind)


def _early(status: int, body: Any) -> dict[str, Any]:
    """A proxy answer made before the resolver runs (the resolver's CORS headers included)."""
    return {
        "statusCode": int(status),
        "headers": {
            "Content-Type": JSON_MEDIA_TYPE,
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": ",".join(CORS.expose_headers),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def _invalid_body(kind: str, message: str) -> dict[str, Any]:
    return _early(
        HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": [{"loc": ["body"], "msg": message, "type": kind}]}
    )


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply ``text`` nests arrays and objects (strings skipped), counted up to ``limit + 1``:
    cheap to ask of any body, unlike a parse that recurses once per level."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def screen(event: dict[str, Any], json_routes: Iterable[str]) -> dict[str, Any] | None:
    """The answer to a request whose body must not reach the resolver, or None to go on.

    Only routes that read a JSON body are screened: the body must be labelled
    ``application/json`` (else 415), fit in :data:`MAX_BODY_BYTES` (else 413), nest at most
    :data:`MAX_JSON_DEPTH` levels and be a JSON object (else 422). A missing or empty body is left
    to the resolver, which answers its own 422."""
    resources = {route.rstrip("/") for route in json_routes}
    if str(event.get("resource") or "").rstrip("/") not in resources:
        return None
    body = event.get("body")
    if body is None or body == "":
        return None
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    media_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = f"'{media_type}'" if media_type else "none"
        return _early(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            {"detail": f"Content-Type must be {JSON_MEDIA_TYPE} (got {shown})"},
        )
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(body), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _invalid_body("json_invalid", "Request body is not valid JSON: not UTF-8 text")
    text = str(body)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        return _early(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            {"detail": f"Request body too large: at most {MAX_BODY_BYTES // 1024} KB"},
        )
    if json_depth(text) > MAX_JSON_DEPTH:
        return _invalid_body(
            "json_too_deep",
            f"Request body nests too deeply: at most {MAX_JSON_DEPTH} levels of arrays and objects",
        )
    try:
        parsed = json.loads(text)
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        return _invalid_body("json_invalid", f"Request body is not valid JSON: {error}")
    if not isinstance(parsed, dict):
        return _invalid_body("model_attributes_type", "Request body must be a JSON object")
    _label_as_json(event)
    return None


def _label_as_json(event: dict[str, Any]) -> None:
    """Media types are case-insensitive (RFC 9110), powertools' check is not: ``Application/JSON``
    would be refused as unsupported (a 500). The body was checked above; say so plainly."""
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field) or {}
        for key in list(headers):
            if str(key).lower() == "content-type":
                headers[key] = [JSON_MEDIA_TYPE] if field == "multiValueHeaders" else JSON_MEDIA_TYPE


def make_resolver(function: str, *, validation: bool = True) -> APIGatewayRestResolver:
    """A REST resolver with our error shapes, for the catalog's ``function``. ``validation``:
    powertools validates the routes' parameters and bodies against their annotations (the 422s) and
    documents them; routes that take nothing to validate (a path string) go without, which spares
    their cold start the OpenAPI machinery and their documentation a 422 they never answer."""
    # Browser clients: any origin may call with its token (no cookies); they may read Retry-After.
    cors = CORSConfig(allow_origin="*", expose_headers=list(CORS.expose_headers), max_age=600)
    app = APIGatewayRestResolver(enable_validation=validation, cors=cors)

    def request_id() -> str | None:
        context = app.lambda_context
        return getattr(context, "aws_request_id", None) if context is not None else None

    @app.exception_handler(RequestValidationError)
    def _invalid(error: RequestValidationError) -> Response:
        return json_response(
            HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": validation_detail(list(error.errors()))}
        )

    @app.exception_handler(InvalidField)
    def _invalid_field(error: InvalidField) -> Response:
        return json_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {"detail": [{"loc": error.loc, "msg": str(error), "type": error.kind}]},
        )

    @app.exception_handler(IdempotencyKeyReused)
    def _key_reused(error: IdempotencyKeyReused) -> Response:
        return json_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            {
                "detail": [
                    {
                        "loc": ["header", "idempotency-key"],
                        "msg": str(error),
                        "type": "idempotency_key_reused",
                    }
                ]
            },
        )

    @app.exception_handler(IdempotencyInProgress)
    def _in_progress(error: IdempotencyInProgress) -> Response:
        return json_response(HTTPStatus.CONFLICT, {"detail": str(error)}, headers={"Retry-After": "1"})

    @app.exception_handler(TaskNotFoundError)
    def _task_not_found(_: TaskNotFoundError) -> Response:
        return json_response(HTTPStatus.NOT_FOUND, {"detail": TASK_NOT_FOUND})

    @app.exception_handler(UnauthorizedError)
    def _unauthorized(_: UnauthorizedError) -> Response:
        return json_response(HTTPStatus.UNAUTHORIZED, {"detail": UNAUTHORIZED})

    @app.exception_handler(LimitExceeded)
    def _over_limit(error: LimitExceeded) -> Response:
        return json_response(
            HTTPStatus.TOO_MANY_REQUESTS,
            {"detail": str(error)},
            headers={"Retry-After": str(error.retry_after_s)},
        )

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
