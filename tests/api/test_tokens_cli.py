"""`videogen tokens create/update/revoke`: the token is printed once, stored hashed, carries the
owner's usage plan key, may expire; owners' limits are set from the command line."""

from __future__ import annotations

import time

import pytest

from service.adapters import aws
from service.adapters.owners_table import OwnersTable
from service.domain.auth import hash_token
from tests.support import NAMES, Stack, transition_body
from videogen.cli import main

CREATE = "/api/transitions/create-and-generate/"


@pytest.fixture(autouse=True)
def _operator_environment(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator exports before running ``videogen tokens`` (docs/operations.md)."""
    monkeypatch.setenv("VIDEOGEN_TOKENS_TABLE", NAMES.table("tokens"))
    monkeypatch.setenv("VIDEOGEN_OWNERS_TABLE", NAMES.table("owners"))
    monkeypatch.setenv("VIDEOGEN_USAGE_PLAN_ID", stack.deployment.usage_plan_id)


def create(owner: str, capsys: pytest.CaptureFixture[str], *options: str) -> str:
    assert main(["tokens", "create", "--owner", owner, *options]) == 0
    out, err = capsys.readouterr()
    assert "shown only once" in err
    return out.strip()


def submit(stack: Stack, token: str) -> int:
    return stack.call("POST", CREATE, token=token, json_body=transition_body()).status


def test_created_token_is_stored_only_as_its_hash_and_authorizes(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create("carol", capsys)
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tokens"))["Items"]
    [item] = [i for i in items if i["owner"]["S"] == "carol"]
    assert item["token_hash"]["S"] == hash_token(token)
    assert token not in str(items)
    assert "expires_at" not in item  # no expiry unless asked
    # It carries the owner's key of the usage plan, which the authorizer returns as the usage identifier
    key_id = OwnersTable(NAMES.table("owners")).usage("carol").api_key_id
    assert (
        key_id
        and aws.client("apigateway").get_api_key(apiKey=key_id, includeValue=True)["value"]
        == (item["api_key"]["S"])
    )
    assert submit(stack, token) == 202


def test_every_token_of_an_owner_shares_the_owners_key(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    create("carol", capsys)
    create("carol", capsys)
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tokens"))["Items"]
    assert len({i["api_key"]["S"] for i in items if i["owner"]["S"] == "carol"}) == 1
    keys = aws.client("apigateway").get_usage_plan_keys(usagePlanId=stack.deployment.usage_plan_id)["items"]
    assert [k["name"] for k in keys].count("videogen carol") == 1


def test_revoke_by_token_and_by_owner(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, other = create("dave", capsys), create("dave", capsys), create("erin", capsys)
    assert main(["tokens", "revoke", first]) == 0
    assert submit(stack, first) == 401
    assert main(["tokens", "revoke", first]) == 1  # already gone: says so
    assert "no such token" in capsys.readouterr().err
    assert main(["tokens", "revoke", "--owner", "dave"]) == 0
    assert submit(stack, second) == 401
    assert submit(stack, other) == 202


def test_owner_must_not_be_blank(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--owner", "  "]) == 2
    assert "--owner" in capsys.readouterr().err


def test_a_token_may_expire(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = create("frank", capsys, "--expires-in", "30d")
    [item] = [
        i
        for i in aws.client("dynamodb").scan(TableName=NAMES.table("tokens"))["Items"]
        if i["owner"]["S"] == "frank"
    ]
    assert abs(int(item["expires_at"]["N"]) - (time.time() + 30 * 86400)) < 60  # DynamoDB's TTL attribute
    assert submit(stack, token) == 202
    later = time.time() + 30 * 86400 + 1
    monkeypatch.setattr("service.handlers.authorizer.time.time", lambda: later)
    assert submit(stack, token) == 401  # refused by the authorizer, before TTL removes the item


@pytest.mark.parametrize("bad", ["0d", "soon", "-3h", "1w"])
def test_expiry_must_be_a_positive_duration(
    stack: Stack, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["tokens", "create", "--owner", "gina", f"--expires-in={bad}"])
    assert exited.value.code == 2 and "s, m, h or d" in capsys.readouterr().err


def test_limits_per_owner_from_the_command_line(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    token = create("hank", capsys, "--max-in-flight", "1", "--per-minute", "30", "--per-day", "100")
    usage = OwnersTable(NAMES.table("owners")).usage("hank")
    assert (usage.max_in_flight, usage.per_minute, usage.per_day) == (1, 30, 100)
    assert submit(stack, token) == 202
    refused = stack.call("POST", CREATE, token=token, json_body=transition_body())
    assert refused.status == 429 and "At most 1 task in flight" in refused.body["detail"]
    assert main(["tokens", "update", "--owner", "hank", "--max-in-flight", "default", "--per-day", "5"]) == 0
    assert "max_in_flight=default, per_day=5" in capsys.readouterr().err
    usage = OwnersTable(NAMES.table("owners")).usage("hank")
    assert (usage.max_in_flight, usage.per_minute, usage.per_day) == (None, 30, 5)
    assert submit(stack, token) == 202
    stack.stop_all()


def test_without_a_usage_plan_the_operator_is_warned_and_update_fixes_it(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VIDEOGEN_USAGE_PLAN_ID")
    assert main(["tokens", "create", "--owner", "ivy"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert "VIDEOGEN_USAGE_PLAN_ID is not set" in err
    reply = stack.call("POST", CREATE, token=token, json_body=transition_body())
    assert reply.status == 403  # the stage meters every owner by its key: no key, no access
    monkeypatch.setenv("VIDEOGEN_USAGE_PLAN_ID", stack.deployment.usage_plan_id)
    assert main(["tokens", "update", "--owner", "ivy"]) == 0
    assert "1 token(s)" in capsys.readouterr().err
    assert submit(stack, token) == 202


@pytest.mark.parametrize("bad", ["0", "-1", "many"])
def test_limits_must_be_positive_integers(stack: Stack, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    with pytest.raises(SystemExit):
        main(["tokens", "update", "--owner", "x", f"--per-minute={bad}"])
    assert "a positive integer, or 'default'" in capsys.readouterr().err
