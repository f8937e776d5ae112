"""Shared fixtures: moto with Step Functions execution on, the in-process Lambda runner, the
service provisioned from the catalog, and an API Gateway emulator to call it through."""

from __future__ import annotations

import os

# Before anything imports boto3 or powertools: no real AWS, quiet metrics, no X-Ray.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "VideoGenTest",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from collections.abc import Callable, Iterator

import pytest
from moto import mock_aws

from service import settings
from service.catalog import WorkflowTiming
from service.handlers import wiring, workflow_wiring
from tests.support import GatewayFront, Stack
from twin import lambda_runner
from twin.deployment import LocalDeployment


def _reset_process_caches() -> None:
    """Settings and the objects built from them. boto3 clients stay cached: moto intercepts
    clients made at any time, and making them is the slowest part of a test's set-up."""
    settings.reset()
    wiring.reset()
    workflow_wiring.reset()


@pytest.fixture
def moto_aws(request: pytest.FixtureRequest) -> Iterator[None]:
    """moto for one test. Only ``workflow`` tests execute state machines: elsewhere executions
    are recorded (RUNNING) but do not run, so nothing outlives the test that started it."""
    execute = request.node.get_closest_marker("workflow") is not None
    with mock_aws(config={"stepfunctions": {"execute_state_machine": execute}}):  # type: ignore[arg-type]
        lambda_runner.install()
        _reset_process_caches()
        yield
    _reset_process_caches()


@pytest.fixture
def deploy(moto_aws: None) -> Iterator[Callable[..., Stack]]:
    """Provision the whole service in moto (``twin.deployment``, in-process runtime); call with the
    timing, the Replicate URL and the settings overrides a test needs."""
    deployments: list[LocalDeployment] = []
    fronts: list[GatewayFront] = []

    def _deploy(
        timing: WorkflowTiming | None = None,
        replicate_base_url: str | None = None,
        *,
        owner_throttle: tuple[float, int] | None = None,
        webhooks: bool = False,
        **overrides: str,
    ) -> Stack:
        """``webhooks``: the API is also served over HTTP on loopback and Replicate is given its
        webhook URL (as a deployment with a public address)."""
        throttle = {}
        if owner_throttle is not None:
            throttle = {"owner_rate_limit": owner_throttle[0], "owner_burst_limit": owner_throttle[1]}
        front = GatewayFront() if webhooks else None
        if front is not None:
            fronts.append(front)
        deployment = LocalDeployment(
            timing=timing or WorkflowTiming(1, 30),
            replicate_base_url=replicate_base_url,
            settings=overrides,
            webhook_base_url=front.url if front is not None else None,
            **throttle,  # type: ignore[arg-type]
        ).provision()
        deployments.append(deployment)
        _reset_process_caches()
        stack = Stack(deployment)
        if front is not None:
            front.serve(stack.gateway)
        return stack

    yield _deploy
    for deployment in deployments:
        deployment.close()
    for front in fronts:
        front.close()


@pytest.fixture
def stack(deploy: Callable[..., Stack]) -> Iterator[Stack]:
    """The service with default test timing and no reachable Replicate (API tests)."""
    stack = deploy(replicate_base_url="http://127.0.0.1:9")
    yield stack
    stack.stop_all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The dashboard page's measured figures (tests/web/report.py)."""
    from tests.web.report import print_summary

    print_summary(terminalreporter)
