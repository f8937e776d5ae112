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

from collections.abc import Callable, Iterator  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

from service.adapters import aws  # noqa: E402
from service.catalog import WorkflowTiming  # noqa: E402
from service.handlers import wiring, workflow_wiring  # noqa: E402
from service.settings import get_settings  # noqa: E402
from tests.support import Stack  # noqa: E402
from videogen import lambda_runner  # noqa: E402
from videogen.provision import Deployment, provision  # noqa: E402


def _reset_process_caches() -> None:
    get_settings.cache_clear()
    aws.client.cache_clear()
    wiring.reset()
    workflow_wiring.reset()


@pytest.fixture
def moto_aws() -> Iterator[None]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):  # type: ignore[arg-type]
        lambda_runner.install()
        _reset_process_caches()
        yield
    _reset_process_caches()


@pytest.fixture
def deploy(
    moto_aws: None, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Stack]:
    """Provision the whole service in moto; call with the timing and Replicate URL a test needs."""

    def _deploy(
        timing: WorkflowTiming | None = None, replicate_base_url: str | None = None, **settings: str
    ) -> Stack:
        deployment: Deployment = provision(boto3.Session(), timing=timing or WorkflowTiming(1, 30))
        for key, value in deployment.environment(replicate_base_url).items():
            monkeypatch.setenv(key, value)
        for key, value in settings.items():
            monkeypatch.setenv(f"VIDEOGEN_{key.upper()}", value)
        _reset_process_caches()
        return Stack(deployment)

    return _deploy


@pytest.fixture
def stack(deploy: Callable[..., Stack]) -> Stack:
    """The service with default test timing and no reachable Replicate (API tests)."""
    return deploy(replicate_base_url="http://127.0.0.1:9")
