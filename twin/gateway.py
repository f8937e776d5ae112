"""An API Gateway (REST) emulator: HTTP request → authorizer → REST proxy event → our handler.

Routes come from the function catalog, so the twin serves exactly what CDK deploys. Behaviour
follows API Gateway's: the TOKEN authorizer runs first (a missing ``Authorization`` header is a
401 without invoking it, ``Unauthorized`` from it is a 401, a Deny policy a 403), path
parameters are URL-decoded, repeated headers and query keys keep every value in the
``multiValue*`` fields and the last one in the single-value fields, and non-text bodies are
base64-encoded. Error bodies use the service's JSON shape (``{"detail": ...}``), as the
gateway responses deployed by CDK do.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from service.catalog import AUTHORIZER, FUNCTIONS, GATEWAY_ERRORS, function
from twin import lambda_runner

#: Calls a handler (``package.module.function``) with an event: ``(result, errored)``.
Invoke = Callable[[str, dict[str, Any]], tuple[Any, bool]]

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


def invoke_in_process(handler: str, event: dict[str, Any]) -> tuple[Any, bool]:
    """Run a handler in this process, as the Lambda runtime would."""
    name = handler.split(".")[-2]
    context = lambda_runner.LambdaContext(
        function_name=f"videogen-{name}",
        memory_limit_in_mb=256,
        invoked_function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:videogen-{name}",
    )
    payload, errored = lambda_runner.invoke(handler, event, context)
    return json.loads(payload), errored


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: str
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, method: str, template: str, handler: str) -> Route:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        return cls(method, template, handler, re.compile(f"^{regex}$"))


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def error(cls, status: int, detail: str) -> GatewayResponse:
        return cls(status, [("Content-Type", "application/json")], json.dumps({"detail": detail}).encode())


def catalog_routes() -> list[Route]:
    return [Route.of(method, path, spec.handler) for spec in FUNCTIONS for method, path in spec.routes]


class ApiGateway:
    def __init__(
        self,
        invoke: Invoke = invoke_in_process,
        *,
        stage: str = "local",
        region: str = "us-east-1",
        account_id: str = "123456789012",
        api_id: str = "videogenlocal",
    ) -> None:
        self.invoke = invoke
        self.routes = catalog_routes()
        self.authorizer = function(AUTHORIZER).handler
        self.stage, self.region, self.account_id, self.api_id = stage, region, account_id, api_id

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, {k: unquote(v) for k, v in found.groupdict().items()}
        return None

    def handle(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        source_ip: str = "127.0.0.1",
    ) -> GatewayResponse:
        headers = headers or []
        matched = self.match(method.upper(), path)
        if matched is None:
            known = any(r.pattern.match(path) for r in self.routes)
            return GatewayResponse.error(
                405 if known else 404, "Method Not Allowed" if known else "Not Found"
            )
        route, path_parameters = matched
        request_id = str(uuid.uuid4())

        authorization = _last(headers, "authorization")
        if not authorization:
            return GatewayResponse.error(401, GATEWAY_ERRORS[401])
        method_arn = f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/{route.method}{path}"
        policy, errored = self.invoke(
            self.authorizer, {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn}
        )
        if errored:
            unauthorized = isinstance(policy, dict) and policy.get("errorMessage") == "Unauthorized"
            return (
                GatewayResponse.error(401, GATEWAY_ERRORS[401]) if unauthorized else _server_error(request_id)
            )
        if not _allows(policy, method_arn):
            return GatewayResponse.error(403, GATEWAY_ERRORS[403])

        event = self.proxy_event(
            route, path, path_parameters, query or [], headers, body, policy, request_id, source_ip
        )
        result, errored = self.invoke(route.handler, event)
        if errored or not isinstance(result, dict) or "statusCode" not in result:
            return _server_error(request_id)
        return _http_response(result)

    def proxy_event(
        self,
        route: Route,
        path: str,
        path_parameters: dict[str, str],
        query: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes | None,
        policy: dict[str, Any],
        request_id: str,
        source_ip: str,
    ) -> dict[str, Any]:
        """A REST API proxy-integration event, as API Gateway sends it to a Lambda."""
        multi_headers = _multi(headers)
        multi_query = _multi(query)
        content_type = _last(headers, "content-type") or ""
        text_body = body is not None and (not content_type or content_type.startswith(TEXT_TYPES))
        encoded_body: str | None = None
        if body is not None and body != b"":
            encoded_body = body.decode("utf-8", "replace") if text_body else base64.b64encode(body).decode()
        now = time.time()
        return {
            "resource": route.template,
            "path": path,
            "httpMethod": route.method,
            "headers": {k: v[-1] for k, v in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.template,
                "httpMethod": route.method,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{self.stage}{path}",
                "accountId": self.account_id,
                "protocol": "HTTP/1.1",
                "stage": self.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {"sourceIp": source_ip, "userAgent": _last(headers, "user-agent")},
                "domainName": "localhost",
                "apiId": self.api_id,
                "authorizer": {
                    **{k: str(v) for k, v in (policy.get("context") or {}).items()},
                    "principalId": policy.get("principalId"),
                    "integrationLatency": 0,
                },
            },
            "body": encoded_body,
            "isBase64Encoded": bool(encoded_body) and not text_body,
        }


def _last(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in pairs if k.lower() == name]
    return values[-1] if values else None


def _multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


def _allows(policy: Any, method_arn: str) -> bool:
    """Whether an IAM policy document allows execute-api:Invoke on ``method_arn`` (no Deny)."""
    if not isinstance(policy, dict):
        return False
    statements = policy.get("policyDocument", {}).get("Statement", [])
    allowed = False
    for statement in statements:
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(_arn_matches(pattern, method_arn) for pattern in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


def _arn_matches(pattern: str, arn: str) -> bool:
    regex = "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
    return re.match(regex, arn) is not None


def _server_error(request_id: str) -> GatewayResponse:
    body = json.dumps({"detail": GATEWAY_ERRORS[500], "request_id": request_id}).encode()
    return GatewayResponse(500, [("Content-Type", "application/json")], body)


def _http_response(result: dict[str, Any]) -> GatewayResponse:
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((key, str(v)) for v in values if (key, str(v)) not in headers)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return GatewayResponse(int(result["statusCode"]), headers, body)
