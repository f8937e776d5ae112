"""The Replicate webhook route: ``POST /api/replicate-webhooks/{task_id}``.

No token (API Gateway's authorizer is not in front of it): Replicate's signature is its
authorization, verified with the account's signing secret before anything is read or written
(``service.domain.replicate_webhooks``). Never imports the Replicate client (an API function).
"""

from __future__ import annotations

import base64
import binascii
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.catalog import WEBHOOKS_RECORDED_METRIC, WEBHOOKS_REFUSED_METRIC
from service.domain.replicate_webhooks import WebhookRefused
from service.handlers.http import MAX_JSON_DEPTH, json_depth, json_response, make_resolver
from service.handlers.wiring import replicate_webhooks
from service.observability import count_one, logger
from service.settings import ReplicateWebhookSettings, load

app = make_resolver("replicate_webhooks", validation=False)  # the body is read raw: it is signed
#: A prediction with its logs is a few KB; Replicate sends the whole logs every time.
MAX_BODY_BYTES = 1024 * 1024

_ANSWERS: dict[int, Any] = {
    200: {"description": "Recorded, or ignored (a duplicate, an older event, an ended task)"},
    400: {
        "description": "Malformed: a webhook header or the body missing or invalid, or a timestamp "
        "more than 5 minutes from now (stale)"
    },
    401: {"description": "The signature does not match Replicate's signing secret"},
    409: {"description": "The prediction is not recorded yet: Replicate retries"},
    413: {"description": f"The body is larger than {MAX_BODY_BYTES // 1024} KB"},
}


def _raw_body() -> str:
    event = app.current_event
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(str(body), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise WebhookRefused(400, "malformed", "The body is not UTF-8 JSON") from None
    return str(body)


@app.post(
    "/api/replicate-webhooks/<task_id>",
    summary="Replicate's webhook for a task's predictions (signed by Replicate; no token)",
    responses=_ANSWERS,
)
def receive(task_id: str) -> Response[dict[str, Any]]:
    try:
        body = _raw_body()
        if len(body.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
            return json_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"detail": "The body is too large"})
        if json_depth(body) > MAX_JSON_DEPTH:
            raise WebhookRefused(400, "malformed", "The body nests too deeply")
        received = replicate_webhooks().receive(task_id, body, dict(app.current_event.headers or {}))
    except WebhookRefused as refused:
        logger.warning("Replicate webhook refused", extra={"reason": refused.reason, "task_id": task_id})
        count_one(WEBHOOKS_REFUSED_METRIC, reason=refused.reason)
        return json_response(refused.status, {"detail": str(refused)})
    if received.recorded:
        count_one(WEBHOOKS_RECORDED_METRIC, woke=str(received.woke).lower())
    return json_response(received.status, {"detail": received.detail})


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(ReplicateWebhookSettings)  # cold start: a missing variable fails here, by name
    return app.resolve(event, context)
