"""The edge, as API Gateway runs it in front of the functions: the identity validation expression
(junk never reaches the authorizer), and each owner's usage plan key (its own rate and burst)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from service.catalog import AUTHORIZER, GATEWAY_ERRORS
from tests.support import Stack
from twin.gateway import KeyThrottle


def status_path() -> str:
    return f"/api/transitions/task-status/{uuid.uuid4()}/"


@pytest.fixture
def authorizer_calls(stack: Stack) -> list[str]:
    """Every authorizer invocation the gateway makes (its ``authorizationToken``)."""
    calls: list[str] = []
    invoke = stack.gateway.invoke

    def counting(spec: Any, event: dict[str, Any]) -> Any:
        if spec.name == AUTHORIZER:
            calls.append(event["authorizationToken"])
        return invoke(spec, event)

    stack.gateway.invoke = counting
    return calls


@pytest.mark.parametrize(
    "header",
    ["Bearer vg_x", "Token", "Token ", "Tokenvg_x", "Token vg_a vg_b", "Token vg_\x00x", "Basic dXNlcjpwdw==",
     "Token vg_é"],
)  # fmt: skip
def test_a_header_that_cannot_be_a_token_is_401_without_invoking_the_authorizer(
    stack: Stack, authorizer_calls: list[str], header: str
) -> None:
    reply = stack.call("GET", status_path(), headers={"Authorization": header})
    assert reply.status == 401 and reply.body == {"detail": GATEWAY_ERRORS[401]}
    assert authorizer_calls == []


@pytest.mark.parametrize("header", ["Token vg_unknown", "token vg_unknown", "TOKEN   vg_unknown "])
def test_a_well_formed_unknown_token_reaches_the_authorizer_and_is_401(
    stack: Stack, authorizer_calls: list[str], header: str
) -> None:
    assert stack.call("GET", status_path(), headers={"Authorization": header}).status == 401
    assert authorizer_calls == [header]


def test_every_accepted_spelling_of_the_scheme_works(stack: Stack) -> None:
    token = stack.token()
    for header in (f"Token {token}", f"token {token}", f"TOKEN  {token}", f" Token {token} "):
        assert stack.call("GET", status_path(), headers={"Authorization": header}).status == 404


def test_each_owner_has_its_own_rate_and_burst(deploy: Callable[..., Stack]) -> None:
    stack = deploy(replicate_base_url="http://127.0.0.1:9", owner_throttle=(2.0, 3))
    now = [1000.0]
    stack.gateway.key_throttle = KeyThrottle(clock=lambda: now[0])
    alice, bob = stack.token("alice"), stack.token("bob")
    # Alice's burst, then the gateway's THROTTLED answer (the stack's gateway response)
    assert [stack.call("GET", status_path(), token=alice).status for _ in range(3)] == [404, 404, 404]
    throttled = stack.call("GET", status_path(), token=alice)
    assert throttled.status == 429 and throttled.body == {"detail": GATEWAY_ERRORS[429]}
    # Bob is not slowed down by Alice
    assert [stack.call("GET", status_path(), token=bob).status for _ in range(3)] == [404, 404, 404]
    # Alice's bucket refills at her rate: two requests a second
    now[0] += 1.0
    assert [stack.call("GET", status_path(), token=alice).status for _ in range(3)] == [404, 404, 429]


def test_a_token_without_a_key_of_the_usage_plan_is_403(stack: Stack) -> None:
    from service.adapters.tokens_table import TokensTable
    from service.domain.auth import hash_token
    from tests.support import NAMES

    TokensTable(NAMES.table("tokens")).put(hash_token("vg_no-key"), "nokey")
    TokensTable(NAMES.table("tokens")).put(hash_token("vg_foreign-key"), "foreign", api_key="x" * 40)
    for token in ("vg_no-key", "vg_foreign-key"):
        reply = stack.call("GET", status_path(), token=token)
        assert reply.status == 403 and reply.body == {"detail": "Forbidden"}
