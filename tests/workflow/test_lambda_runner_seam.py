"""The one moto internal we patch: if a moto upgrade moves it, this fails loudly (instead of the
workflow tests silently reaching for Docker)."""

from __future__ import annotations

import inspect
import json
from typing import Any

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


def test_the_twin_s_moto_speed_up_still_finds_its_target() -> None:
    """twin.server caches moto's per-request method listing: the function must still exist, be
    the one dispatch calls, and answer the same once cached."""
    import moto.core.responses as responses
    from moto.dynamodb.responses import DynamoHandler

    from twin.server import _speed_up_moto

    before = responses.method_names_from_class(DynamoHandler)
    _speed_up_moto()
    assert hasattr(responses.method_names_from_class, "cache_info")
    assert responses.method_names_from_class(DynamoHandler) == before and "get_item" in before


# -- the other moto internals we patch (twin.strict_moto) -------------------------------------------
def test_moto_dynamodb_still_has_the_operations_strict_moto_wraps() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    from twin import strict_moto

    strict_moto.install()
    for name in strict_moto.ITEM_OPERATIONS:
        wrapped = getattr(DynamoDBBackend, name)
        original = getattr(wrapped, "__wrapped__", None)
        assert original is not None and original.__module__ == "moto.dynamodb.models", name
        assert list(inspect.signature(original).parameters)[:2] == ["self", "table_name"], name
    assert DynamoDBBackend.transact_write_items is strict_moto._transact_write_items
    # what the replacement calls on the backend and its tables
    for name in ("get_table", "get_keys_value"):
        assert callable(getattr(DynamoDBBackend, name))
    from moto.dynamodb.models.table import Table

    assert list(inspect.signature(Table.delete_item).parameters) == ["self", "hash_key", "range_key"]
    assert list(inspect.signature(Table.put_item).parameters)[:2] == ["self", "item_attrs"]


@pytest.mark.usefixtures("moto_aws")
def test_a_cancelled_transaction_undoes_only_its_own_items() -> None:
    from twin import strict_moto

    strict_moto.install()
    client = aws.client("dynamodb")
    client.create_table(
        TableName="strict",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName="strict", Item={"k": {"S": "other"}, "n": {"N": "1"}})
    client.put_item(TableName="strict", Item={"k": {"S": "taken"}})
    with pytest.raises(client.exceptions.TransactionCanceledException) as cancelled:
        client.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": "strict", "Key": {"k": {"S": "new"}}, "UpdateExpression": "SET n = :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                {"Put": {"TableName": "strict", "Item": {"k": {"S": "taken"}},
                         "ConditionExpression": "attribute_not_exists(k)"}},
            ]
        )  # fmt: skip
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]  # as DynamoDB reports them
    keys = sorted(i["k"]["S"] for i in client.scan(TableName="strict")["Items"])
    assert keys == ["other", "taken"]  # the update undone, nothing else touched
