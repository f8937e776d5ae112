"""The API's OpenAPI description, generated from the handlers' own routes and models.

The submit, status and uploads functions each own a resolver; this merges their documents into one.
``python -m service.openapi > docs/openapi.json`` refreshes the committed copy (a test fails
while it is stale).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn

TITLE = "videogen"
VERSION = "1.0.0"
DESCRIPTION = (
    "Asynchronous video generation. Submit a transition (two images) or a dream (text), get a task id "
    "(the workflow's execution ARN) at once, and poll the status route until `ready` (transitions) or "
    "`completed`/`failed` (dreams). Non-terminal status answers carry `Retry-After`. Subtitles sent with "
    "`enable_subtitles: false` are ignored."
)
SECURITY = {"Token": APIKey(name="Authorization", in_=APIKeyIn.header, description="`Token <your token>`")}


def document() -> dict[str, Any]:
    from service.handlers import replicate_webhooks, status, submit, uploads

    merged: dict[str, Any] = {}
    for app in (submit.app, status.app, uploads.app, replicate_webhooks.app):
        doc = json.loads(
            app.get_openapi_json_schema(
                title=TITLE,
                version=VERSION,
                description=DESCRIPTION,
                security_schemes=SECURITY,  # type: ignore[arg-type]
                security=[{"Token": []}],
            )
        )
        if not merged:
            merged = doc
            continue
        merged["paths"].update(doc["paths"])
        merged.setdefault("components", {}).setdefault("schemas", {}).update(
            doc.get("components", {}).get("schemas", {})
        )
    return _with_catalog_paths(merged)


def _with_catalog_paths(doc: dict[str, Any]) -> dict[str, Any]:
    """powertools drops trailing slashes from paths; the spec's routes keep them. Routes without the
    token authorizer (Replicate's webhooks: their signature is their authorization) say so."""
    from service.catalog import FUNCTIONS

    templates = {path.rstrip("/"): path for spec in FUNCTIONS for _, path in spec.routes}
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
    return doc


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
