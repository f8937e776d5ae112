"""`videogen tokens create/revoke`: the token is printed once, stored hashed, and works (then stops)."""

from __future__ import annotations

import pytest

from service.adapters import aws
from service.domain.auth import hash_token
from tests.support import NAMES, Stack, transition_body
from videogen.cli import main

CREATE = "/api/transitions/create-and-generate/"


@pytest.fixture(autouse=True)
def _operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What an operator exports before running ``videogen tokens`` (docs/operations.md)."""
    monkeypatch.setenv("VIDEOGEN_TOKENS_TABLE", NAMES.table("tokens"))


def create(owner: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["tokens", "create", "--owner", owner]) == 0
    out, err = capsys.readouterr()
    assert "shown only once" in err
    return out.strip()


def test_created_token_is_stored_only_as_its_hash_and_authorizes(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    token = create("carol", capsys)
    items = aws.client("dynamodb").scan(TableName=NAMES.table("tokens"))["Items"]
    assert [i["token_hash"]["S"] for i in items] == [hash_token(token)]
    assert token not in str(items)
    assert items[0]["owner"]["S"] == "carol"
    assert stack.call("POST", CREATE, token=token, json_body=transition_body()).status == 202


def test_revoke_by_token_and_by_owner(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    first, second, other = create("dave", capsys), create("dave", capsys), create("erin", capsys)
    assert main(["tokens", "revoke", first]) == 0
    assert stack.call("POST", CREATE, token=first, json_body=transition_body()).status == 401
    assert main(["tokens", "revoke", first]) == 1  # already gone: says so
    assert "no such token" in capsys.readouterr().err
    assert main(["tokens", "revoke", "--owner", "dave"]) == 0
    assert stack.call("POST", CREATE, token=second, json_body=transition_body()).status == 401
    assert stack.call("POST", CREATE, token=other, json_body=transition_body()).status == 202


def test_owner_must_not_be_blank(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "create", "--owner", "  "]) == 2
    assert "--owner" in capsys.readouterr().err
