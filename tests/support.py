"""Test helpers: call the API as a client would (through the gateway emulator and the authorizer),
create tokens, wait for executions, read histories."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from service.adapters import aws
from service.adapters.tokens_table import TokensTable
from service.domain.auth import hash_token, new_token
from service.settings import get_settings
from twin.examples import spec_transition_request
from twin.gateway import ApiGateway, GatewayResponse
from twin.provision import Deployment


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
    deployment: Deployment
    gateway: ApiGateway = field(default_factory=ApiGateway)

    def token(self, owner: str = "alice") -> str:
        token = new_token()
        TokensTable(get_settings().tokens_table).put(hash_token(token), owner)
        return token

    def call(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        raw_body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        parts = urlsplit(url)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers.setdefault("Authorization", f"Token {token}")
        body = raw_body
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        response = self.gateway.handle(
            method,
            parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=list(all_headers.items()),
            body=body,
        )
        return Reply.of(response)

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
        kwargs = {"stateMachineArn": self.deployment.state_machine_arn}
        if status:
            kwargs["statusFilter"] = status
        return list(self.sfn.list_executions(**kwargs)["executions"])

    def stop_all(self) -> None:
        """Stop what a test left running, so no execution outlives its test's moto."""
        for execution in self.executions("RUNNING"):
            for _ in range(50):  # moto cannot stop an execution whose worker has not started yet
                try:
                    self.sfn.stop_execution(executionArn=execution["executionArn"])
                    break
                except AttributeError:
                    time.sleep(0.02)

    def history(self, arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            events.extend(page["events"])
        return events


def transition_body(**overrides: Any) -> dict[str, Any]:
    """The transitions spec's example request (front/tail URLs replaced by the caller)."""
    return spec_transition_request(**overrides)
