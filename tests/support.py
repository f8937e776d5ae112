"""Test helpers: call the API as a client would (through the gateway emulator and the authorizer),
create tokens, wait for executions, read histories."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from service.adapters import aws
from service.catalog import ResourceNames
from twin.deployment import LocalDeployment
from twin.examples import spec_transition_request
from twin.gateway import ApiGateway, GatewayFront, GatewayResponse

__all__ = ["GatewayFront"]

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
