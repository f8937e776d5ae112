"""The API Gateway emulator's REST proxy event has what powertools' APIGatewayProxyEvent reads."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from service.catalog import CORS, FunctionSpec
from twin.gateway import ApiGateway


@pytest.fixture
def captured() -> tuple[ApiGateway, list[dict[str, Any]]]:
    """A gateway whose 'Lambdas' record the events they get (the authorizer allows owner 'olga')."""
    events: list[dict[str, Any]] = []

    def invoke(spec: FunctionSpec, event: dict[str, Any]) -> tuple[Any, bool]:
        if spec.name == "authorizer":
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
    # A method the path does not have is API Gateway's Missing Authentication Token: 404 in our stack.
    reply = gateway.handle("DELETE", "/video-status/x", headers=[("Authorization", "Token t")])
    assert (reply.status, json.loads(reply.body)) == (404, {"detail": "Not Found"})
    assert events == []


def test_cors_preflight_is_answered_as_the_stack_answers_it_without_the_authorizer() -> None:
    calls: list[str] = []

    def invoke(spec: FunctionSpec, event: dict[str, Any]) -> tuple[Any, bool]:
        calls.append(spec.name)
        return {}, True

    reply = ApiGateway(invoke).handle("OPTIONS", "/api/transitions/create-and-generate/")
    headers = dict(reply.headers)
    assert reply.status == 204 and calls == []
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Headers"] == "Authorization,Content-Type,Idempotency-Key"
    assert set(headers["Access-Control-Allow-Methods"].split(",")) == {"GET", "POST", "DELETE", "OPTIONS"}
    assert headers["Access-Control-Max-Age"] == str(CORS.max_age_s)
    assert ApiGateway(invoke).handle("OPTIONS", "/nowhere").status == 404


def test_the_authorizer_policy_is_cached_per_token_for_the_ttl() -> None:
    now = [1000.0]
    calls: list[str] = []

    def invoke(spec: FunctionSpec, event: dict[str, Any]) -> tuple[Any, bool]:
        calls.append(spec.name)
        if spec.name == "authorizer":
            return {
                "principalId": "olga",
                "context": {"owner": "olga"},
                "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": ["arn:aws:execute-api:*"]}]},
            }, False
        return {"statusCode": 200, "body": "{}"}, False

    gateway = ApiGateway(invoke, authorizer_cache_s=300, clock=lambda: now[0])
    for _ in range(3):
        assert gateway.handle("GET", "/video-status/x", headers=[("Authorization", "Token t")]).status == 200
    assert calls.count("authorizer") == 1
    now[0] += 301
    gateway.handle("GET", "/video-status/x", headers=[("Authorization", "Token t")])
    assert calls.count("authorizer") == 2


def test_a_function_error_is_a_502_with_the_request_id(
    captured: tuple[ApiGateway, list[dict[str, Any]]],
) -> None:
    def invoke(spec: FunctionSpec, event: dict[str, Any]) -> tuple[Any, bool]:
        if spec.name == "authorizer":
            return {
                "principalId": "olga",
                "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": ["arn:aws:execute-api:*"]}]},
            }, False
        return {"errorType": "KeyError", "errorMessage": "boom"}, True

    reply = ApiGateway(invoke).handle("GET", "/video-status/x", headers=[("Authorization", "Token t")])
    body = json.loads(reply.body)
    assert reply.status == 502 and body["detail"] == "Internal server error" and body["request_id"]
    assert "boom" not in reply.body.decode()


def test_in_process_api_handlers_share_one_environment_lock_workflow_handlers_have_their_own() -> None:
    """powertools keeps the current event on a class shared by all resolvers of a process."""
    from service.catalog import FUNCTIONS
    from twin.lambda_runner import InProcessRuntime

    runtime = InProcessRuntime(lambda spec: {})
    api = [spec for spec in FUNCTIONS if spec.routes]
    workflow = [spec for spec in FUNCTIONS if spec.kind == "workflow"]
    assert len({id(runtime._lock_for(s)) for s in api}) == 1
    assert len({id(runtime._lock_for(s)) for s in workflow}) == len(workflow)
    assert runtime._lock_for(api[0]) not in {runtime._lock_for(s) for s in workflow}
