"""The twin's Lambda runtime: worker processes per function, like Lambda's execution environments."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.catalog import FUNCTIONS, FunctionSpec
from tests.support import Stack
from twin.deployment import LocalDeployment
from twin.lambda_runner import FunctionPool, LambdaContext

HANDLERS = "tests.twin.handlers"
ROOT = Path(__file__).resolve().parents[2]


def spec(handler: str, timeout_s: int = 10) -> FunctionSpec:
    return FunctionSpec(
        name=handler, handler=f"{HANDLERS}.{handler}", description="test", timeout_s=timeout_s
    )


def context(function: FunctionSpec) -> LambdaContext:
    return LambdaContext(
        function.name, 128, f"arn:aws:lambda:us-east-1:1:function:{function.name}", function.timeout_s
    )


@pytest.fixture
def pools() -> Iterator[list[FunctionPool]]:
    made: list[FunctionPool] = []
    yield made
    for pool in made:
        pool.close()


def pool_of(pools: list[FunctionPool], function: FunctionSpec, workers: int = 2, **env: str) -> FunctionPool:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    pool = FunctionPool(function, environment, max_workers=workers)
    pools.append(pool)
    return pool


def invoke(pool: FunctionPool, event: Any) -> tuple[Any, bool]:
    payload, errored = pool.invoke(event, context(pool.spec))
    return json.loads(payload), errored


def test_concurrent_invocations_of_one_function_run_in_separate_processes(
    pools: list[FunctionPool], tmp_path: Path
) -> None:
    pool = pool_of(pools, spec("rendezvous"), workers=2)
    results: list[Any] = []
    callers = [
        threading.Thread(target=lambda: results.append(invoke(pool, {"dir": str(tmp_path)})))
        for _ in range(2)
    ]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = {path.name for path in tmp_path.glob("started-*")}
    (tmp_path / "go").touch()
    for caller in callers:
        caller.join(60)
    # Both were inside the handler at once: two environments, neither waited for the other.
    assert len(started) == 2
    pids = {payload["pid"] for payload, errored in results if not errored}
    assert {f"started-{pid}" for pid in pids} == started and os.getpid() not in pids


def test_an_environment_serves_one_invocation_at_a_time_and_is_reused(pools: list[FunctionPool]) -> None:
    pool = pool_of(pools, spec("sleep"), workers=1)
    first = invoke(pool, {"seconds": 0})
    second = invoke(pool, {"seconds": 0})
    assert not first[1] and first[0]["pid"] == second[0]["pid"]  # warm: the same process


def test_a_handler_error_is_a_function_error_with_its_type_and_message(pools: list[FunctionPool]) -> None:
    pool = pool_of(pools, spec("fail"), workers=1)
    payload, errored = invoke(pool, {})
    assert errored and payload["errorType"] == "LookupError" and payload["errorMessage"] == "no such thing"


def test_a_crashed_environment_is_replaced(pools: list[FunctionPool], tmp_path: Path) -> None:
    pool = pool_of(pools, spec("crash"), workers=1)
    payload, errored = invoke(pool, {})
    assert errored and payload["errorType"] == "Runtime.ExitError"
    assert invoke(pool, {})[0]["errorType"] == "Runtime.ExitError"  # a fresh environment, same fate


def test_a_timeout_kills_the_environment(pools: list[FunctionPool]) -> None:
    pool = pool_of(pools, spec("sleep", timeout_s=1), workers=1)
    payload, errored = invoke(pool, {"seconds": 30})
    assert errored and payload["errorType"] == "Sandbox.Timedout"
    assert not invoke(pool, {"seconds": 0})[1]  # the next invocation gets a new environment


def test_an_import_error_is_reported_as_lambda_does(pools: list[FunctionPool]) -> None:
    pool = pool_of(pools, FunctionSpec(name="x", handler="tests.twin.nowhere.handler", description="x"))
    payload, errored = invoke(pool, {})
    assert errored and payload["errorType"] == "Runtime.ImportModuleError"
    assert "tests.twin.nowhere" in payload["errorMessage"]


def test_each_function_sees_only_its_own_settings() -> None:
    deployment = LocalDeployment(
        aws_endpoint="http://127.0.0.1:9", runtime="workers", public_url="http://twin.example:8000"
    )
    deployment.state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m"
    deployment.queue_urls = {"deliveries": ("http://127.0.0.1:9/1/q", "http://127.0.0.1:9/1/q-dlq")}
    by_name = {spec.name: deployment.process_environment(spec) for spec in FUNCTIONS}
    authorizer = {k for k in by_name["authorizer"] if k.startswith("VIDEOGEN_")}
    assert authorizer == {"VIDEOGEN_TOKENS_TABLE"}
    assert "VIDEOGEN_REPLICATE_SECRET_NAME" not in by_name["finalize"]
    assert by_name["submit"]["VIDEOGEN_STATE_MACHINE_ARN"] == deployment.state_machine_arn
    assert by_name["status"]["AWS_LAMBDA_FUNCTION_NAME"] == "videogen-local-status"
    # Presigned URLs for clients are signed for the one public address; Finalize talks to moto.
    assert by_name["status"]["AWS_ENDPOINT_URL_S3"] == "http://twin.example:8000"
    assert by_name["uploads"]["AWS_ENDPOINT_URL_S3"] == "http://twin.example:8000"
    assert "AWS_ENDPOINT_URL_S3" not in by_name["finalize"]
    for spec in FUNCTIONS:  # and each is complete for its settings class
        spec.settings.from_environment(by_name[spec.name])


def test_the_media_bucket_gets_the_stacks_cors_rule(stack: Stack) -> None:
    from service.catalog import MEDIA_CORS
    from tests.support import NAMES

    (rule,) = stack.deployment.client("s3").get_bucket_cors(Bucket=NAMES.media_bucket)["CORSRules"]
    assert tuple(rule["AllowedMethods"]) == MEDIA_CORS.methods
    assert tuple(rule["AllowedHeaders"]) == MEDIA_CORS.headers
    assert rule["AllowedOrigins"] == [stack.deployment.cors_origin]
