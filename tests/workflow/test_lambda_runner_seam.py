"""The one moto internal we patch: if a moto upgrade moves it, this fails loudly (instead of the
workflow tests silently reaching for Docker)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import boto3
import pytest
from moto.awslambda.models import LambdaFunction

from service.adapters import aws
from twin import lambda_runner


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"echo": event, "function": context.function_name}


class DomainProblem(Exception):
    pass


def explode(event: dict[str, Any], context: Any) -> None:
    raise DomainProblem("told to explode")


def test_moto_still_has_the_seam_with_the_signature_we_replace() -> None:
    moto_own = lambda_runner._original or LambdaFunction._invoke_lambda  # installed by an earlier test?
    assert moto_own.__module__ == "moto.awslambda.models"
    parameters = list(inspect.signature(moto_own).parameters)
    assert parameters[:2] == ["self", "event"]


@pytest.mark.usefixtures("moto_aws")
@pytest.mark.parametrize(
    ("handler", "payload", "function_error"),
    [
        ("tests.workflow.test_lambda_runner_seam.echo", {"echo": {"x": 1}, "function": "seam"}, None),
        ("tests.workflow.test_lambda_runner_seam.explode", {"errorType": "DomainProblem"}, "Handled"),
    ],
)
def test_lambda_invoke_runs_the_handler_in_process(
    handler: str, payload: dict[str, Any], function_error: str | None
) -> None:
    role = aws.client("iam").create_role(RoleName="seam", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = aws.client("lambda")
    client.create_function(
        FunctionName="seam", Runtime="python3.12", Role=role, Handler=handler, Code={"ZipFile": b"PK"}
    )
    response = client.invoke(FunctionName="seam", Payload=json.dumps({"x": 1}))
    body = json.loads(response["Payload"].read())
    assert response.get("FunctionError") == function_error
    assert payload.items() <= body.items()


def test_install_is_idempotent_and_reversible() -> None:
    lambda_runner.install()
    lambda_runner.install()
    assert LambdaFunction._invoke_lambda is lambda_runner._invoke_in_process
    lambda_runner.uninstall()
    assert LambdaFunction._invoke_lambda is not lambda_runner._invoke_in_process
    lambda_runner.install()


def test_the_twin_s_moto_speed_ups_answer_exactly_as_moto_does() -> None:
    """twin.server caches moto's per-request method listing and writes GetItem's result out as it
    is: the seams must still exist and the answers must not change."""
    import moto.core.responses as responses
    from moto import mock_aws
    from moto.dynamodb.responses import DynamoHandler

    from twin.server import _speed_up_moto

    item = {
        "k": {"S": "task"},
        "n": {"N": "12.5"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "job": {
            "M": {
                "predictions": {"L": [{"M": {"role": {"S": "video"}, "input": {"M": {"x": {"S": "é ✓"}}}}}]}
            }
        },
        "tags": {"SS": ["a", "b"]},
    }
    blob = {"k": {"S": "blob"}, "data": {"B": b"\x00\xffbytes"}}
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item=item)
        client.put_item(TableName="t", Item=blob)
        keys = ({"k": {"S": "task"}}, {"k": {"S": "blob"}}, {"k": {"S": "missing"}})
        before = [client.get_item(TableName="t", Key=key).get("Item") for key in keys]
        methods = responses.method_names_from_class(DynamoHandler)
        original = DynamoHandler.get_item
        try:
            _speed_up_moto()
            after = [client.get_item(TableName="t", Key=key).get("Item") for key in keys]
            assert getattr(DynamoHandler.get_item, "_videogen_fast", False)
        finally:
            DynamoHandler.get_item = original  # type: ignore[method-assign]
    assert after == before and before[0] == item and before[1] == blob and before[2] is None
    assert hasattr(responses.method_names_from_class, "cache_info")
    assert responses.method_names_from_class(DynamoHandler) == methods and "get_item" in methods


def test_moto_still_ends_an_execution_where_the_twin_s_event_source_listens() -> None:
    """twin.execution_events wraps moto's ``BaseExecutionWorkerCommunication.terminated`` (called once
    when an execution's program ends) and reads the execution's state machine and ARN from it."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication, Execution

    from twin import execution_events

    execution_events.install()
    execution_events.install()  # once only: a second install does not wrap the wrapper
    wrapper = BaseExecutionWorkerCommunication.terminated
    assert getattr(wrapper, "_videogen_announces", False)
    moto_own = wrapper.__wrapped__  # type: ignore[attr-defined]
    assert moto_own.__module__ == "moto.stepfunctions.parser.backend.execution"
    assert not getattr(moto_own, "_videogen_announces", False)
    assert list(inspect.signature(moto_own).parameters) == ["self"]
    assert {"state_machine", "exec_arn"} <= set(inspect.get_annotations(Execution))
