"""Test helpers: call the API as a client would (through the gateway emulator and the authorizer),
create tokens, wait for executions, read histories."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from service.adapters import aws
from service.catalog import ResourceNames
from twin.deployment import LocalDeployment
from twin.examples import spec_transition_request
from twin.gateway import ApiGateway, GatewayResponse

#: The names of the resources every test deployment gets (stage "local").
NAMES = ResourceNames("local")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @classmethod
    def of(cls, response: GatewayResponse) -> Reply:
        text = response.body.decode()
        try:
            body: Any = json.loads(text) if text else None
        except ValueError:
            body = text
        return cls(response.status, {k.lower(): v for k, v in response.headers}, body)


@dataclass
class Stack:
    """A provisioned deployment (``twin.deployment``) called as a client would, through the API
    Gateway emulator (no authorizer cache: tests revoke tokens and expect 401 at once)."""

    deployment: LocalDeployment
    gateway: ApiGateway = field(init=False)

    def __post_init__(self) -> None:
        self.gateway = self.deployment.gateway(authorizer_cache_s=0)

    def token(self, owner: str = "alice") -> str:
        return self.deployment.mint_token(owner)

    def call(self, method: str, url: str, **request: Any) -> Reply:
        """``token=``, ``json_body=``, ``raw_body=``, ``headers=``: see ``ApiGateway.request``."""
        return Reply.of(self.gateway.request(method, url, **request))

    # -- Step Functions -------------------------------------------------------------------------
    @property
    def sfn(self) -> Any:
        return aws.client("stepfunctions")

    def wait_execution(self, arn: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            described = self.sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING":
                return dict(described)
            time.sleep(0.1)
        raise AssertionError(f"execution still running after {timeout}s: {arn}")

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        return self.deployment.executions(status)

    def stop_all(self) -> None:
        """Stop what a test left running, so no execution outlives its test's moto."""
        self.deployment.stop_executions()

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return events


def transition_body(**overrides: Any) -> dict[str, Any]:
    """The transitions spec's example request (front/tail URLs replaced by the caller)."""
    return spec_transition_request(**overrides)


class GatewayFront:
    """The gateway emulator over HTTP on loopback, for Replicate's webhooks: bound at once (its URL
    is the deployment's webhook address, known before provisioning), serving once given the gateway."""

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
