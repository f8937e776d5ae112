"""The API Gateway emulator's REST proxy event has what powertools' APIGatewayProxyEvent reads."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from twin.gateway import ApiGateway


@pytest.fixture
def captured() -> tuple[ApiGateway, list[dict[str, Any]]]:
    """A gateway whose 'Lambdas' record the events they get (the authorizer allows owner 'olga')."""
    events: list[dict[str, Any]] = []

    def invoke(handler: str, event: dict[str, Any]) -> tuple[Any, bool]:
        if handler.endswith("authorizer.handler"):
            arn = event["methodArn"].split("/")[0]
            return {
                "principalId": "olga",
                "context": {"owner": "olga"},
                "policyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{arn}/*/*"]}
                    ],
                },
            }, False
        events.append(event)
        return {"statusCode": 200, "headers": {"X-Echo": "1"}, "body": "{}", "isBase64Encoded": False}, False

    return ApiGateway(invoke), events


def test_event_fields_match_what_powertools_reads(captured: tuple[ApiGateway, list[dict[str, Any]]]) -> None:
    gateway, events = captured
    reply = gateway.handle(
        "POST",
        "/generate-video",
        query=[("dream", "a b"), ("style", "Cursed"), ("tag", "x"), ("tag", "y")],
        headers=[
            ("Authorization", "Token t"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
            ("Content-Type", "application/json"),
        ],
        body=b'{"k": 1}',
    )
    assert reply.status == 200 and ("X-Echo", "1") in reply.headers
    event = APIGatewayProxyEvent(events[0])
    assert (
        event.http_method == "POST"
        and event.path == "/generate-video"
        and event.resource == "/generate-video"
    )
    assert event.query_string_parameters == {"dream": "a b", "style": "Cursed", "tag": "y"}
    assert event.multi_value_query_string_parameters["tag"] == ["x", "y"]
    assert event.headers["X-Multi"] == "2" and event.multi_value_headers["X-Multi"] == ["1", "2"]
    assert event.headers.get("content-type") == "application/json"  # case-insensitive, as in Lambda
    assert event.json_body == {"k": 1} and event.is_base64_encoded is False
    context = event.request_context
    assert context.authorizer.get("owner") == "olga" and context.authorizer.principal_id == "olga"
    assert context.stage == "local" and context.request_id and context.identity.source_ip == "127.0.0.1"
    assert context.resource_path == "/generate-video" and context.http_method == "POST"


def test_path_parameters_are_decoded_and_binary_bodies_base64(
    captured: tuple[ApiGateway, list[dict[str, Any]]],
) -> None:
    gateway, events = captured
    arn = "arn:aws:states:us-east-1:1:execution:m:abc"
    gateway.handle("GET", "/video-status/" + arn.replace(":", "%3A"), headers=[("Authorization", "Token t")])
    event = APIGatewayProxyEvent(events[-1])
    assert event.path_parameters == {"task_id": arn} and event.resource == "/video-status/{task_id}"
    gateway.handle(
        "POST",
        "/api/transitions/create-and-generate/",
        headers=[("Authorization", "Token t"), ("Content-Type", "image/png")],
        body=b"\x89PNG\x00",
    )
    event = APIGatewayProxyEvent(events[-1])
    assert event.is_base64_encoded and base64.b64decode(event.body or "") == b"\x89PNG\x00"


def test_gateway_answers_before_any_handler(captured: tuple[ApiGateway, list[dict[str, Any]]]) -> None:
    gateway, events = captured
    assert gateway.handle("GET", "/video-status/x").status == 401  # no Authorization: authorizer not run
    assert gateway.handle("GET", "/nowhere", headers=[("Authorization", "Token t")]).status == 404
    reply = gateway.handle("DELETE", "/video-status/x", headers=[("Authorization", "Token t")])
    assert reply.status == 405 and json.loads(reply.body)["detail"]
    assert events == []


def test_api_handlers_share_one_environment_lock_workflow_handlers_have_their_own() -> None:
    """powertools keeps the current event on a class shared by all resolvers of a process."""
    from service.catalog import FUNCTIONS
    from twin.lambda_runner import _environment

    api = [spec.handler for spec in FUNCTIONS if spec.routes]
    workflow = [spec.handler for spec in FUNCTIONS if spec.kind == "workflow"]
    assert len({id(_environment(h)) for h in api}) == 1
    assert len({id(_environment(h)) for h in workflow}) == len(workflow)
    assert _environment(api[0]) not in {_environment(h) for h in workflow}
