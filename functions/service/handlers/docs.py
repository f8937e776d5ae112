"""Docs function: ``GET /openapi.json`` (the OpenAPI document, generated from the handlers at the
first request and kept for the life of the execution environment) and ``GET /docs`` (a page that
reads it and sends requests: no token needed to read either).

The page is a small hand-written HTML file with one inline script (``service/assets/docs``), not a
bundled Swagger UI: it has to work offline (the twin has no network, so nothing may come from a
CDN), a bundled UI would put ~1.5 MB of third-party JavaScript behind this route and into the code
asset to keep patched, and the page needs only to list the operations and send them. Its
Content-Security-Policy allows that one script by its hash, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from service.handlers.http import make_resolver
from service.observability import logger
from service.settings import DocsSettings, load

app = make_resolver("docs", validation=False)
PAGE = Path(__file__).resolve().parent.parent / "assets" / "docs" / "index.html"


@cache
def _document() -> str:
    from service.openapi import document

    return json.dumps(document(), sort_keys=True)


@cache
def _page() -> tuple[str, str]:
    """The page and its Content-Security-Policy (the inline script allowed by its SHA-256)."""
    html = PAGE.read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts
    )
    policy = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html, policy


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document (no token needed)",
    responses={
        200: {"description": "The document", "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
def openapi_json() -> Response[dict[str, Any]]:
    return Response(
        status_code=HTTPStatus.OK,
        content_type="application/json",
        body=_document(),  # type: ignore[arg-type]
        headers={"Cache-Control": "no-cache"},
    )


@app.get(
    "/docs",
    summary="An interactive page for this API (no token needed to open it)",
    responses={200: {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
)
def docs_page() -> Response[Any]:
    html, policy = _page()
    return Response(
        status_code=HTTPStatus.OK,
        content_type="text/html; charset=utf-8",
        body=html,
        headers={
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    load(DocsSettings)
    return app.resolve(event, context)
