"""An API Gateway (REST) emulator: HTTP request → authorizer → REST proxy event → our handler.

Routes come from the function catalog, so the twin serves exactly what CDK deploys, and so do the
gateway's own answers (``service.catalog.GATEWAY_RESPONSES``, ``CORS``). Behaviour follows API
Gateway's REST APIs:

* the CORS preflight (``OPTIONS`` on any route's path) is answered by the gateway itself, as the
  stack's mock OPTIONS methods answer it, without the authorizer;
* an unknown path, or a method the path does not have, is a MISSING_AUTHENTICATION_TOKEN
  response (404 in our stack);
* a route whose function is not ``authorized`` (the Replicate webhook route) goes straight to its
  function, without the authorizer or an API key, as the stack's method with no authorization;
* routes of a ``public`` function (the OpenAPI document, its page) skip the authorizer and the
  usage plan, as the stack's methods without authorization do;
* the TOKEN authorizer runs first: no ``Authorization`` header, or one that does not match the
  identity validation expression (``service.domain.auth.HEADER_PATTERN``), is a 401 without
  invoking it; ``Unauthorized`` from it a 401, any other error a 500, a Deny policy a 403; its
  policy is cached per token for ``authorizer_cache_s`` (the stack's ``authorizer_cache_seconds``);
* every method requires an API key, taken from the authorizer's ``usageIdentifierKey`` (the API's
  key source is AUTHORIZER): none, or one that is not an enabled key of the usage plan, is a 403;
  each key has a token bucket with the plan's rate and burst, and an empty bucket is a THROTTLED
  response (429);
* a function error or a malformed proxy answer is a 502 (DEFAULT_5XX);
* path parameters are URL-decoded, repeated headers and query keys keep every value in the
  ``multiValue*`` fields and the last one in the single-value fields, non-text bodies are
  base64-encoded.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from service.catalog import (
    AUTHORIZER,
    AUTHORIZER_CACHE_S,
    CORS,
    FUNCTIONS,
    GATEWAY_RESPONSES,
    FunctionSpec,
    function,
)
from service.domain.auth import header_looks_valid

#: Calls a function with an event: ``(result, errored)`` (the deployment's runtime).
Invoke = Callable[[FunctionSpec, dict[str, Any]], tuple[Any, bool]]

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    spec: FunctionSpec
    pattern: re.Pattern[str]

    @classmethod
    def of(cls, method: str, template: str, spec: FunctionSpec) -> Route:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
        return cls(method, template, spec, re.compile(f"^{regex}$"))


class UsagePlan(Protocol):
    """The stage's usage plan: its throttle, and whether a key is one of its enabled keys."""

    def throttle(self) -> tuple[float, int]:
        """(steady requests per second, burst) per key."""
        ...

    def has_key(self, value: str) -> bool: ...


class KeyThrottle:
    """A token bucket per API key, as API Gateway throttles each key of a usage plan: ``burst``
    requests at once, refilled at ``rate`` per second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)
        self._lock = threading.Lock()

    def allow(self, key: str, rate: float, burst: int) -> bool:
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - then) * rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


@dataclass
class GatewayResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def catalog_routes() -> list[Route]:
    return [Route.of(method, path, spec) for spec in FUNCTIONS for method, path in spec.routes]


class ApiGateway:
    def __init__(
        self,
        invoke: Invoke,
        *,
        stage: str = "local",
        region: str = "us-east-1",
        account_id: str = "123456789012",
        api_id: str = "videogenlocal",
        cors_origin: str = "*",
        authorizer_cache_s: float = AUTHORIZER_CACHE_S,
        usage_plan: UsagePlan | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.invoke = invoke
        #: None: no usage plan (a gateway in front of a single test function); the deployment's
        #: gateways always have one.
        self.usage_plan = usage_plan
        self.key_throttle = KeyThrottle(clock)
        self.routes = catalog_routes()
        self.authorizer = function(AUTHORIZER)
        self.stage, self.region, self.account_id, self.api_id = stage, region, account_id, api_id
        self.cors_origin = cors_origin
        self.authorizer_cache_s = authorizer_cache_s
        self._clock = clock
        self._policies: dict[str, tuple[float, dict[str, Any]]] = {}
        self._policies_lock = threading.Lock()

    # -- gateway responses ---------------------------------------------------------------------------
    def gateway_response(
        self, response_type: str, request_id: str, status: int | None = None, message: str = ""
    ) -> GatewayResponse:
        """One of the stack's gateway responses (``service.catalog.GATEWAY_RESPONSES``)."""
        fixed, template = GATEWAY_RESPONSES[response_type]
        body = template.replace("$context.requestId", request_id).replace(
            "$context.error.messageString", json.dumps(message)
        )
        headers = [("Content-Type", "application/json")]
        if self.cors_origin:  # the stack sets it when the API has a single allowed origin
            headers.append(("Access-Control-Allow-Origin", self.cors_origin))
        return GatewayResponse(fixed or status or 500, headers, body.encode())

    def preflight(self) -> GatewayResponse:
        """The answer of the stack's mock OPTIONS methods (``service.catalog.CORS``)."""
        headers = [
            ("Access-Control-Allow-Headers", ",".join(CORS.allow_headers)),
            ("Access-Control-Allow-Origin", self.cors_origin),
            ("Access-Control-Allow-Methods", ",".join(CORS.allow_methods)),
            ("Access-Control-Max-Age", str(CORS.max_age_s)),
            ("Access-Control-Expose-Headers", ",".join(CORS.expose_headers)),
        ]
        return GatewayResponse(204, headers)

    # -- routing -------------------------------------------------------------------------------------
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
        request_id = str(uuid.uuid4())
        method = method.upper()
        if method == "OPTIONS" and any(route.pattern.match(path) for route in self.routes):
            return self.preflight()
        matched = self.match(method, path)
        if matched is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN", request_id)
        route, path_parameters = matched
        if not route.spec.authorized or route.spec.public:  # no authorizer, no API key: the handler
            # checks a signature (Replicate's webhooks), or the route is public (the OpenAPI document, its page)
            event = self.proxy_event(
                route, path, path_parameters, query or [], headers, body, {}, request_id, source_ip
            )
            result, errored = self.invoke(route.spec, event)
            if errored or not isinstance(result, dict) or "statusCode" not in result:
                return self.gateway_response("DEFAULT_5XX", request_id, status=502)
            return _http_response(result)

        authorization = _last(headers, "authorization")
        if not authorization or not header_looks_valid(authorization):
            return self.gateway_response("UNAUTHORIZED", request_id)
        method_arn = f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/{self.stage}/{route.method}{path}"
        policy, denied = self._authorize(authorization, method_arn, request_id)
        if denied is not None:
            return denied
        refused = self._meter(policy, request_id)
        if refused is not None:
            return refused

        event = self.proxy_event(
            route, path, path_parameters, query or [], headers, body, policy, request_id, source_ip
        )
        result, errored = self.invoke(route.spec, event)
        if errored or not isinstance(result, dict) or "statusCode" not in result:
            return self.gateway_response("DEFAULT_5XX", request_id, status=502)
        return _http_response(result)

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> GatewayResponse:
        """A client's request without HTTP (tests, the bench's in-process phase): ``url`` is a path
        with its query string; ``token`` becomes ``Authorization: Token <token>``."""
        parts = urlsplit(url)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("Authorization", f"Token {token}")
        body = raw_body
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        return self.handle(
            method,
            parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=list(all_headers.items()),
            body=body,
        )

    def _meter(self, policy: dict[str, Any], request_id: str) -> GatewayResponse | None:
        """The usage plan: the authorizer's key must be one of the plan's, with tokens in its bucket."""
        if self.usage_plan is None:
            return None
        key = policy.get("usageIdentifierKey")
        if not isinstance(key, str) or not key or not self.usage_plan.has_key(key):
            return self.gateway_response("DEFAULT_4XX", request_id, status=403, message="Forbidden")
        rate, burst = self.usage_plan.throttle()
        if not self.key_throttle.allow(key, rate, burst):
            return self.gateway_response("THROTTLED", request_id)
        return None

    def _authorize(
        self, authorization: str, method_arn: str, request_id: str
    ) -> tuple[dict[str, Any], GatewayResponse | None]:
        """The authorizer's policy for this token (cached like API Gateway's authorizer cache)."""
        now = self._clock()
        with self._policies_lock:
            cached = self._policies.get(authorization)
        if cached is not None and cached[0] > now:
            policy = cached[1]
        else:
            policy, errored = self.invoke(
                self.authorizer,
                {"type": "TOKEN", "authorizationToken": authorization, "methodArn": method_arn},
            )
            if errored:
                unauthorized = isinstance(policy, dict) and policy.get("errorMessage") == "Unauthorized"
                if unauthorized:
                    return {}, self.gateway_response("UNAUTHORIZED", request_id)
                return {}, self.gateway_response("DEFAULT_5XX", request_id, status=500)
            if self.authorizer_cache_s > 0:
                with self._policies_lock:
                    self._policies[authorization] = (now + self.authorizer_cache_s, policy)
        if not _allows(policy, method_arn):
            return {}, self.gateway_response("ACCESS_DENIED", request_id)
        return policy, None

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
                **(
                    {
                        "authorizer": {
                            **{k: str(v) for k, v in (policy.get("context") or {}).items()},
                            "principalId": policy.get("principalId"),
                            "integrationLatency": 0,
                        }
                    }
                    if route.spec.authorized and not route.spec.public
                    else {}
                ),
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


def _http_response(result: dict[str, Any]) -> GatewayResponse:
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((key, str(v)) for v in values if (key, str(v)) not in headers)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    return GatewayResponse(int(result["statusCode"]), headers, body)


class GatewayFront:
    """The gateway emulator over HTTP on loopback, for Replicate's webhooks where the service runs in
    process (the tests, the bench's counted run): bound at once (its URL is the deployment's webhook
    address, known before provisioning), serving once given the gateway. The twin has its own front."""

    def __init__(self) -> None:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                gateway = front.gateway
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if gateway is None:
                    self._send(503, [], b"")
                    return
                parts = urlsplit(self.path)
                answer = gateway.handle(
                    "POST",
                    parts.path,
                    query=parse_qsl(parts.query, keep_blank_values=True),
                    headers=list(self.headers.items()),
                    body=body,
                )
                self._send(answer.status, answer.headers, answer.body)

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.gateway: ApiGateway | None = None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway-front", daemon=True)
        self._thread.start()

    def serve(self, gateway: ApiGateway) -> None:
        self.gateway = gateway

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
