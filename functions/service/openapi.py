"""The API's OpenAPI description, generated from the handlers' own routes and models.

The submit, status, uploads, controls, docs and Replicate webhook functions each own a resolver; this merges their
documents into one, adds what no resolver knows (the public routes need no token; the caller
webhooks' event, under ``webhooks``), and is what ``GET /openapi.json`` serves.
``python -m service.openapi > docs/openapi.json`` refreshes the committed copy (a test fails while it
is stale).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

TITLE = "videogen"
VERSION = "1.1.0"
DESCRIPTION = (
    "Asynchronous video generation. Submit a transition (two images) or a dream (text), get a task id "
    "(the workflow's execution ARN) at once, and poll the status route until `ready` (transitions) or "
    "`completed`/`failed` (dreams), or pass a `webhook_url` and be called when the task ends. "
    "Non-terminal status answers carry `Retry-After`. Subtitles sent with `enable_subtitles: false` are "
    "ignored. Submits take an `Idempotency-Key`. Tasks can be listed, canceled and deleted."
)
SECURITY = {"Token": APIKey(name="Authorization", in_=APIKeyIn.header, description="`Token <your token>`")}


def _apps() -> list[Any]:
    from service.handlers import controls, docs, replicate_webhooks, status, submit, uploads

    return [submit.app, status.app, uploads.app, controls.app, docs.app, replicate_webhooks.app]


def document() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for app in _apps():
        doc = json.loads(
            app.get_openapi_json_schema(
                title=TITLE,
                version=VERSION,
                description=DESCRIPTION,
                security_schemes=SECURITY,
                security=[{"Token": []}],
            )
        )
        if not merged:
            merged = doc
            continue
        for path, item in doc["paths"].items():
            merged["paths"].setdefault(path, {}).update(item)
        merged.setdefault("components", {}).setdefault("schemas", {}).update(
            doc.get("components", {}).get("schemas", {})
        )
    return _with_webhooks(_with_catalog_paths(merged))


def _with_catalog_paths(doc: dict[str, Any]) -> dict[str, Any]:
    """powertools drops trailing slashes from paths; the spec's routes keep them. Public routes
    (``FunctionSpec.public``) need no token; routes without the token authorizer (Replicate's
    webhooks: their signature is their authorization) say so."""
    from service.catalog import FUNCTIONS

    templates = {path.rstrip("/"): path for spec in FUNCTIONS for _, path in spec.routes}
    public = {(method.lower(), path) for spec in FUNCTIONS if spec.public for method, path in spec.routes}
    doc["paths"] = {templates.get(path, path): item for path, item in doc["paths"].items()}
    for spec in FUNCTIONS:
        if spec.authorized:
            continue
        for method, path in spec.routes:
            operation = doc["paths"][path][method.lower()]
            operation["security"] = []
            operation["requestBody"] = {
                "required": True,
                "description": "The prediction object, as Replicate's GET /v1/predictions/{id} returns it, "
                "signed (Standard Webhooks) with the account's signing secret",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["id", "status"],
                            "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
                        }
                    }
                },
            }
            operation["parameters"] = operation.get("parameters", []) + [
                {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
            ]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if (method, path) in public:
                operation["security"] = []
    return doc


def _with_webhooks(doc: dict[str, Any]) -> dict[str, Any]:
    """What we POST to a task's ``webhook_url`` (OpenAPI 3.1 ``webhooks``), signed per Standard Webhooks."""
    from service.models import status

    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for model in (status.TaskListItem, status.TaskList, status.TaskStatusResponse, status.CancelConflict):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(model.__name__, schema)
    schemas["TaskEvent"] = {
        "type": "object",
        "description": "One event per task, POSTed when it ends; retried with backoff for 24 h until a 2xx",
        "properties": {
            "id": {"type": "string", "description": "The webhook-id header: the same on every attempt"},
            "type": {"type": "string", "enum": ["task.succeeded", "task.failed"]},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"$ref": "#/components/schemas/TaskListItem"},
        },
        "required": ["id", "type", "timestamp", "data"],
    }
    headers = {
        name: {"required": True, "schema": {"type": "string"}, "description": description}
        for name, description in (
            ("webhook-id", "msg_…: one per task; dedupe on it"),
            ("webhook-timestamp", "Seconds since the epoch; refuse old ones"),
            (
                "webhook-signature",
                "v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>, keyed by the base64 part of the "
                "owner's whsec_ secret (GET /api/webhooks/secret/); space-separated after a rotation",
            ),
        )
    }
    operation = {
        "summary": "The task ended (task.succeeded or task.failed)",
        "parameters": [{"in": "header", "name": name, **spec} for name, spec in headers.items()],
        "requestBody": {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskEvent"}}}
        },
        "responses": {"2XX": {"description": "Received: no retry"}},
    }
    doc["webhooks"] = {"taskEnded": {"post": operation}}
    return doc


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
